"""Every error a user can act on. Each message names what is wrong and the fix (a config key, a path, a command).

Workflow scripts turn these into one log line and exit code 1 (``air_core.jobs.run_script``), the
Snakefile into one message before any job: a user's mistake never shows as a stack trace.
"""


class ConfigError(ValueError):
    """The config asks for something that cannot run. The message names the key and the fix."""


class DatasetError(ValueError):
    """A dataset on disk does not have the layout its config says."""


class ModelNotFoundError(RuntimeError):
    """A model named in the config is not available locally. The message says what to run."""


USER_ERRORS = (ConfigError, DatasetError, ModelNotFoundError)
