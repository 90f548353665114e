"""Open the data directory's SQLite database (WAL mode) and apply schema migrations.

Each component (sessions, memory items, graph, ...) owns a plain list of migration
functions; ``schema_versions`` records how many of each have run. A database whose
recorded version is newer than this code knows is refused rather than misread.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlite_utils

from assistant.errors import DataDirError, StoreVersionError

DB_FILENAME = "memchat.db"
BUSY_TIMEOUT_MS = 10_000

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


def open_database(data_dir: Path) -> sqlite_utils.Database:
    """The data dir's database, in WAL mode with a busy timeout so two processes can share it."""
    ensure_data_dir(data_dir)
    path = data_dir / DB_FILENAME
    try:
        # autocommit: a write outside ``transaction(db)`` commits at once and never leaves a
        # transaction open (holding the write lock) until some later block happens to commit it
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
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


def apply_migrations(db: sqlite_utils.Database, component: str, migrations: Sequence[Migration]) -> None:
    """Run the component's migrations not yet applied, each in its own transaction.

    Writes that belong together go in ``with transaction(db):``; ``with db.conn:`` alone is
    not one, as sqlite-utils 4 commits each write made through ``db.execute`` at once."""
    with transaction(db):
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
    row = db.execute("SELECT version FROM schema_versions WHERE component = ?", [component]).fetchone()
    current = row[0] if row else 0
    if current > len(migrations):
        raise StoreVersionError(
            f"the {component} data in {db.conn.execute('PRAGMA database_list').fetchone()[2]} was written "
            f"by a newer memchat (schema {current}, this one knows {len(migrations)}); upgrade memchat"
        )
    for version, migration in enumerate(migrations[current:], start=current + 1):
        with transaction(db):
            migration(db)
            db.execute(
                "INSERT INTO schema_versions (component, version) VALUES (?, ?) "
                "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                [component, version],
            )
