"""Errors a user can act on."""


class ModelNotFoundError(RuntimeError):
    """A model named in the config is not available locally. The message says what to run."""
