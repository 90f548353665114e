"""Errors that reach the user as one actionable line, never as a traceback.

The memory layer's errors (the base class among them) are defined in ``memory.errors`` and
re-exported here; the classes below belong to the assistant and its faces.
"""

from memory.errors import DataDirError, MemchatError, ModelLoadError, StoreVersionError

__all__ = ["BackendError", "ConfigError", "DataDirError", "MemchatError", "ModelLoadError", "PromptTooLongError",
           "SessionNotFoundError", "StoreVersionError"]


class ConfigError(MemchatError):
    """The config file, an environment variable or a flag holds an invalid value."""


class PromptTooLongError(MemchatError):
    """The prompt does not fit the model's context window."""


class BackendError(MemchatError):
    """A backend failed while generating (e.g. the HTTP server went away)."""


class SessionNotFoundError(MemchatError):
    """No stored session matches the given id or name."""
