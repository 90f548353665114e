"""Errors that reach the user as one actionable line, never as a traceback."""


class MemchatError(Exception):
    """Base class: its message is shown to the user as is, so it must say what to do."""

    exit_code = 1


class ConfigError(MemchatError):
    """The config file, an environment variable or a flag holds an invalid value."""


class DataDirError(MemchatError):
    """The data directory cannot be created, written or opened."""


class ModelLoadError(MemchatError):
    """A model cannot be found or is not a usable causal language model."""


class PromptTooLongError(MemchatError):
    """The prompt does not fit the model's context window."""


class BackendError(MemchatError):
    """A backend failed while generating (e.g. the HTTP server went away)."""


class SessionNotFoundError(MemchatError):
    """No stored session matches the given id or name."""


class StoreVersionError(MemchatError):
    """The database was written by a newer memchat than this one."""
