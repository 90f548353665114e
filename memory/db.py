"""Open the data directory's SQLite database (WAL mode) and apply schema migrations.

Each component (sessions, memory items, graph, ...) owns a plain list of migration
functions; ``schema_versions`` records how many of each have run. A database whose
recorded version is newer than this code knows is refused rather than misread.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from memory.errors import DataDirError, StoreVersionError

DB_FILENAME = "memchat.db"
# writes are short (batches, one final commit), so a writer waits milliseconds; this is only
# the cap before "busy" becomes an error
BUSY_TIMEOUT_MS = 5_000

Migration = Callable[[sqlite_utils.Database], None]


def ensure_data_dir(path: Path) -> Path:
    """Create the data directory if needed and check that it is writable."""
    hint = "choose another with --data-dir DIR or MEMCHAT_DATA_DIR"
    if path.exists() and not path.is_dir():
        raise DataDirError(f"data dir {path} is not a directory; {hint}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(f"cannot create data dir {path}: {exc.strerror or exc}; {hint}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirError(f"data dir {path} is not writable; {hint}")
    return path


class ReadCursor:
    """A statement's results, all read while the connection's lock was held: a half-read
    cursor would keep an old read snapshot open on the shared connection, and another
    thread's ``BEGIN IMMEDIATE`` on it would then fail at once with "database is locked"."""

    arraysize = 1

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._rows = cursor.fetchall()
        self.description = cursor.description
        self.lastrowid = cursor.lastrowid
        self.rowcount = cursor.rowcount
        self._next = 0

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows[self._next : self._next + (size or self.arraysize)]
        self._next += len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        rows = self._rows[self._next :]
        self._next = len(self._rows)
        return rows

    def __iter__(self) -> Iterator[Any]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        self._rows = []


class LockedConnection(sqlite3.Connection):
    """A connection shared by threads: ``lock`` (re-entrant) is held by every statement, while
    its rows are read, and for the whole of a ``transaction()``, so one thread's writes never
    land in another's transaction and no thread's read holds another's write up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.RLock()

    def execute(self, *args: Any) -> ReadCursor:  # type: ignore[override]
        with self.lock:
            return ReadCursor(super().execute(*args))

    def executemany(self, *args: Any) -> ReadCursor:  # type: ignore[override]
        with self.lock:
            return ReadCursor(super().executemany(*args))

    def executescript(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        with self.lock:
            return super().executescript(*args)


def connection_lock(db: sqlite_utils.Database) -> threading.RLock:
    """The lock that serialises the use of ``db``'s connection across threads."""
    lock = getattr(db.conn, "lock", None)
    if lock is None:  # a plain connection (tests, tools): give it one
        lock = _plain_locks.setdefault(id(db.conn), threading.RLock())
    return lock


_plain_locks: dict[int, threading.RLock] = {}


def open_database(data_dir: Path) -> sqlite_utils.Database:
    """The data dir's database, in WAL mode with a busy timeout so two processes can share it."""
    ensure_data_dir(data_dir)
    path = data_dir / DB_FILENAME
    try:
        # autocommit: a write outside ``transaction(db)`` commits at once and never leaves a
        # transaction open (holding the write lock) until some later block happens to commit it
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None,
                               factory=LockedConnection)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA secure_delete = ON")  # deleted text is overwritten, not left in free pages
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        raise DataDirError(
            f"cannot open database {path}: {exc}; if it is damaged, move it away and memchat starts afresh"
        ) from exc
    return sqlite_utils.Database(conn)


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """One transaction for the block: committed at its end, rolled back on any exception; a
    savepoint inside an open one. It takes the write lock at once (BEGIN IMMEDIATE, waiting
    up to the busy timeout): a deferred one that reads first could not write later, in WAL
    mode, if another connection wrote in between ("database is locked" at once)."""
    conn = db.conn
    with connection_lock(db):  # held to the end: no other thread's statement lands inside
        if conn.in_transaction:
            with db.atomic():  # a savepoint
                yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def schema_version(db: sqlite_utils.Database, component: str) -> int:
    """How many of the component's migrations have run (0 for a new database); a read only."""
    try:
        row = db.execute("SELECT version FROM schema_versions WHERE component = ?", [component]).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return 0
    return int(row[0]) if row else 0


def apply_migrations(db: sqlite_utils.Database, component: str, migrations: Sequence[Migration]) -> None:
    """Run the component's migrations not yet applied, each in its own transaction.

    With nothing to do it only reads (no write lock: opening a store never waits on a
    writer); otherwise each step re-reads the version inside its transaction, since
    another process may have run it meanwhile.

    Writes that belong together go in ``with transaction(db):``; ``with db.conn:`` alone is
    not one, as sqlite-utils 4 commits each write made through ``db.execute`` at once."""
    current = schema_version(db, component)
    if current > len(migrations):
        raise StoreVersionError(
            f"the {component} data in {db.conn.execute('PRAGMA database_list').fetchone()[2]} was written "
            f"by a newer memchat (schema {current}, this one knows {len(migrations)}); upgrade memchat"
        )
    if current == len(migrations):
        return
    for version, migration in enumerate(migrations, start=1):
        if version <= current:
            continue
        with transaction(db):
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            if schema_version(db, component) >= version:
                continue  # another process ran it
            migration(db)
            db.execute(
                "INSERT INTO schema_versions (component, version) VALUES (?, ?) "
                "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                [component, version],
            )
