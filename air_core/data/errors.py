"""The error of a dataset on disk that does not match its config."""


class DatasetError(ValueError):
    """A dataset on disk does not have the layout its config says."""
