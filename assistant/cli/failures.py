"""Every error that reaches the command line as one line that says what to do, never a traceback."""

from __future__ import annotations

import errno
import os
import sqlite3
import sys

EXIT_INTERRUPTED = 130  # the shell convention for a command stopped by SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a reader that went away


def describe(exc: BaseException) -> tuple[str, int] | None:
    """(message, exit status) for an error memchat knows how to explain; None for the others."""
    from assistant.errors import MemchatError

    if isinstance(exc, MemchatError):
        return str(exc), exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted; nothing half-done was kept (a load or import resumes when run again)", EXIT_INTERRUPTED
    if isinstance(exc, sqlite3.Error):
        return _sqlite(exc), 1
    if isinstance(exc, UnicodeDecodeError):
        return (f"a file is not UTF-8 text ({exc.reason} at byte {exc.start}); give a text file, or a "
                "format memchat reads (.txt .md .pdf .html, source code)"), 1
    if isinstance(exc, OSError):
        return _os(exc), 1
    return None


def _sqlite(exc: sqlite3.Error) -> str:
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return ("the database is busy: another memchat is writing to it; try again in a moment "
                f"({text})")
    if "full" in lowered:
        return f"the disk holding the data dir is full ({text}); free some space and try again"
    if "malformed" in lowered or "not a database" in lowered or "corrupt" in lowered:
        return (f"the database is damaged ({text}); move memchat.db out of the data dir and memchat "
                "starts afresh (or restore a backup)")
    if "readonly" in lowered or "read-only" in lowered:
        return f"the database cannot be written ({text}); check the data dir's permissions"
    return f"database error: {text}; try again, and report it if it persists"


def _os(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"no space left on device{where}; free some space and try again"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"cannot use{where}: {reason}; check the path (its folder must exist)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot use{where}: {reason}; check its permissions"
    return f"cannot use{where}: {reason}"


def silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
