"""Pending loads: big writes (a document, an import) in short batches, invisible until one
short commit shows them whole.

A load first registers itself in ``loads`` (its id, kind and process). Its rows carry that id
in ``load_id`` and stay out of search, prompts, listings and the vector index (``VISIBLE``)
while the ``loads`` row exists; deleting that row, in one short transaction, makes them all
visible at once. Replacing a document re-registers the old document's load id as
``retiring`` in that same transaction (hiding it), then purges its rows in batches.

A load whose process died (SIGKILL, a crash) leaves at most invisible rows: ``sweep`` removes
them the next time a store opens. A process never holds the write lock for longer than one
batch, so readers and other writers in other processes never wait on a load.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlite_utils

from memory.clock import utc_now
from memory.db import transaction

# rows of a load still registered in ``loads`` are invisible; ``m`` is the memory_items alias
VISIBLE = "(m.load_id IS NULL OR m.load_id NOT IN (SELECT id FROM loads))"
DOCUMENT_VISIBLE = "(d.load_id IS NULL OR d.load_id NOT IN (SELECT id FROM loads))"
PURGE_BATCH = 500


def migrate(db: sqlite_utils.Database) -> None:
    """Schema for pending loads (a memory-store migration).

    Also: the FTS update trigger fires only when ``key_text`` changes (flipping other columns
    no longer re-indexes rows), documents' paths are unique only among visible ones, and each
    document loaded before gets a load id of its own (minus its id) so it can be retired whole."""
    db.execute("CREATE TABLE loads (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, "
               "state TEXT NOT NULL, pid INTEGER NOT NULL, started_at TEXT NOT NULL)")
    db.execute("ALTER TABLE memory_items ADD COLUMN load_id INTEGER")
    db.execute("ALTER TABLE documents ADD COLUMN load_id INTEGER")
    for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                "AND tbl_name = 'memory_items' AND sql LIKE '%AFTER UPDATE ON%'").fetchall():
        db.execute(f"DROP TRIGGER [{name}]")
        db.execute(sql.replace("AFTER UPDATE ON", "AFTER UPDATE OF [key_text] ON", 1))
    for index in db["documents"].indexes:
        if index.unique and index.columns == ["path"]:
            db.execute(f"DROP INDEX [{index.name}]")
    db.execute("CREATE INDEX IF NOT EXISTS idx_documents_path_load ON documents (path)")
    db.execute("UPDATE documents SET load_id = -id WHERE load_id IS NULL")
    db.execute("UPDATE memory_items SET load_id = -document_id WHERE document_id IS NOT NULL AND load_id IS NULL")
    db.execute("CREATE INDEX IF NOT EXISTS idx_memory_items_load_id ON memory_items (load_id)")


def begin(db: sqlite_utils.Database, kind: str) -> int:
    """Register a new pending load (a short transaction); returns its id."""
    with transaction(db):
        cursor = db.conn.execute("INSERT INTO loads (kind, state, pid, started_at) VALUES (?, 'pending', ?, ?)",
                                 [kind, os.getpid(), utc_now()])
        return int(cursor.lastrowid)


def publish(db: sqlite_utils.Database, load_id: int, retire: int | None = None) -> None:
    """Make the load's rows visible, and hide the ``retire`` load's, at once (in the caller's
    transaction, if any: it must be short)."""
    with transaction(db):
        if retire is not None:
            hide(db, retire)
        db.execute("DELETE FROM loads WHERE id = ?", [load_id])


def hide(db: sqlite_utils.Database, load_id: int) -> None:
    """Hide a published load's rows at once (to be purged next; the next open finishes it if
    this process dies first)."""
    with transaction(db):
        db.execute("INSERT OR REPLACE INTO loads (id, kind, state, pid, started_at) VALUES (?, 'retire', 'retiring', ?, ?)",
                   [load_id, os.getpid(), utc_now()])


def purge(db: sqlite_utils.Database, load_id: int) -> list[int]:
    """Delete a hidden load's rows in short batches, then its document and its ``loads`` row.
    Returns the memory item ids removed (for the vector index)."""
    removed: list[int] = []
    while True:
        with transaction(db):
            ids = [r[0] for r in db.execute("SELECT id FROM memory_items WHERE load_id = ? LIMIT ?",
                                             [load_id, PURGE_BATCH]).fetchall()]
            if ids:
                marks = ", ".join("?" * len(ids))
                db.execute(f"DELETE FROM memory_items WHERE duplicate_of IN ({marks})", ids)
                db.execute(f"DELETE FROM memory_items WHERE id IN ({marks})", ids)
        if not ids:
            break
        removed += ids
    with transaction(db):
        for (document_id,) in db.execute("SELECT id FROM documents WHERE load_id = ?", [load_id]).fetchall():
            removed += [r[0] for r in db.execute("SELECT id FROM memory_items WHERE document_id = ?", [document_id])]
            db.execute("DELETE FROM memory_items WHERE document_id = ?", [document_id])  # its summaries
            db.execute("DELETE FROM documents WHERE id = ?", [document_id])
        db.execute("DELETE FROM loads WHERE id = ?", [load_id])
    return removed


@contextmanager
def pending(db: sqlite_utils.Database, kind: str) -> Iterator[int]:
    """A pending load for the block: on any exception (Ctrl-C included) its rows are purged
    and the exception goes on; the block itself must ``publish`` it."""
    load_id = begin(db, kind)
    try:
        yield load_id
    except BaseException:
        purge(db, load_id)
        raise


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(db: sqlite_utils.Database) -> list[int]:
    """Purge the loads left by processes that died (a read only, when there are none).
    Returns the memory item ids removed."""
    stale = [load_id for load_id, pid in db.execute("SELECT id, pid FROM loads").fetchall() if not _alive(pid)]
    removed: list[int] = []
    for load_id in stale:
        removed += purge(db, load_id)
    return removed
