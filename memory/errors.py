"""Errors the memory layer raises: each reaches the user as one actionable line.

``assistant.errors`` re-exports these classes and adds the ones of the layers above, so a
caller catching ``assistant.errors.MemchatError`` catches memory's errors too.
"""


class MemchatError(Exception):
    """Base class: its message is shown to the user as is, so it must say what to do."""

    exit_code = 1


class DataDirError(MemchatError):
    """The data directory cannot be created, written or opened."""


class ModelLoadError(MemchatError):
    """A model cannot be found or is not usable (a causal LM, an embedding model)."""


class StoreVersionError(MemchatError):
    """The database was written by a newer memchat than this one."""
