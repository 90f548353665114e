"""Memory items in SQLite (the source of truth), FTS5 for words, FAISS for meaning.

Every memory item (a chat round, a document chunk, an imported turn) is one row in
``memory_items`` with its text, the text that is indexed (``key_text``: speaker and date
prefixed, later facts too), provenance, timestamps and its embedding. ``memory_items_fts``
(FTS5, kept by triggers) answers keyword queries; the FAISS index answers meaning and is
rebuilt from the rows whenever it is missing, stale, corrupt or of another model.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from memory.clock import utc_now
from memory.errors import MemchatError
from memory import loads
from memory.db import apply_migrations, connection_lock, transaction
from memory.embeddings import Embedder
from memory.vector_index import VectorIndex

INDEX_FILENAME = "vectors.faiss"
KINDS = ("chat", "document", "import", "summary")


class EmbeddingMismatchError(MemchatError):
    """Stored vectors come from another embedding model than the one configured."""


def _create_tables(db: sqlite_utils.Database) -> None:
    db["documents"].create(
        {"id": int, "path": str, "content_hash": str, "size": int, "chunks": int, "title": str,
         "loaded_at": str, "modified_at": str},
        pk="id", not_null={"path", "content_hash", "loaded_at"},
    )
    db["documents"].create_index(["path"], unique=True)
    db["memory_items"].create(
        {
            "id": int, "kind": str, "text": str, "key_text": str, "source": str, "session_id": str,
            "document_id": int, "message_id": int, "position": str, "speaker": str, "external_id": str,
            "created_at": str, "occurred_at": str, "tokens": int, "duplicate_of": int, "embedding": bytes,
        },
        pk="id",
        not_null={"kind", "text", "key_text", "source", "created_at", "occurred_at"},
        foreign_keys=[("document_id", "documents", "id")],
    )
    for columns in (["kind"], ["source"], ["session_id"], ["document_id"], ["occurred_at"], ["external_id"]):
        db["memory_items"].create_index(columns)
    db["memory_items"].enable_fts(["key_text"], fts_version="FTS5", create_triggers=True, tokenize="porter")
    db["memory_meta"].create({"key": str, "value": str}, pk="key")


def _index_message_id(db: sqlite_utils.Database) -> None:
    db["memory_items"].create_index(["message_id"], if_not_exists=True)  # forgetting an exchange


MIGRATIONS = [_create_tables, _index_message_id, loads.migrate]


@dataclass(frozen=True)
class NewItem:
    """A memory item to store."""

    kind: str
    text: str
    key_text: str
    source: str
    occurred_at: str
    session_id: str | None = None
    document_id: int | None = None
    message_id: int | None = None
    position: dict[str, Any] = field(default_factory=dict)
    speaker: str | None = None
    external_id: str | None = None
    tokens: int | None = None


@dataclass(frozen=True)
class MemoryItem:
    id: int
    kind: str
    text: str
    key_text: str
    source: str
    session_id: str | None
    document_id: int | None
    position: dict[str, Any]
    speaker: str | None
    external_id: str | None
    created_at: str
    occurred_at: str
    tokens: int | None
    duplicate_of: int | None
    message_id: int | None = None


@dataclass(frozen=True)
class SearchFilters:
    """Restrict a search; every field is optional. Times are ISO-8601 strings, ``until`` exclusive."""

    kinds: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    session_ids: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None

    def sql(self) -> tuple[str, list[Any]]:
        clauses, params = ["m.duplicate_of IS NULL", loads.VISIBLE], []
        for column, values in (("m.kind", self.kinds), ("m.source", self.sources), ("m.session_id", self.session_ids)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        if self.since:
            clauses.append("m.occurred_at >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("m.occurred_at < ?")
            params.append(self.until)
        return " AND ".join(clauses), params

    @property
    def empty(self) -> bool:
        return not (self.kinds or self.sources or self.session_ids or self.since or self.until)


ITEM_COLUMNS = (
    "m.id, m.kind, m.text, m.key_text, m.source, m.session_id, m.document_id, m.position, m.speaker, "
    "m.external_id, m.created_at, m.occurred_at, m.tokens, m.duplicate_of, m.message_id"
)


def insert_item(db: sqlite_utils.Database, item: NewItem, created_at: str, vector: np.ndarray | None = None,
                duplicate_of: int | None = None, load_id: int | None = None) -> int:
    """Insert one row (in the caller's transaction, if any); without ``vector`` it waits for
    ``MemoryStore.backfill``; with ``load_id`` it stays invisible until that load is published.
    Returns its id."""
    embedding = vector.astype(np.float32).tobytes() if vector is not None else None
    cursor = db.conn.execute(
        "INSERT INTO memory_items (kind, text, key_text, source, session_id, document_id, message_id, "
        "position, speaker, external_id, created_at, occurred_at, tokens, duplicate_of, embedding, load_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [item.kind, item.text, item.key_text, item.source, item.session_id, item.document_id,
         item.message_id, json.dumps(item.position), item.speaker, item.external_id, created_at,
         item.occurred_at, item.tokens, duplicate_of, embedding, load_id],
    )
    return int(cursor.lastrowid)


def _item(row: Sequence[Any]) -> MemoryItem:
    values = list(row)
    values[7] = json.loads(values[7] or "{}")
    return MemoryItem(*values)


def items_by_id(db: sqlite_utils.Database, ids: Sequence[int]) -> dict[int, MemoryItem]:
    """The stored items among ``ids``, by id."""
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    rows = db.execute(f"SELECT {ITEM_COLUMNS} FROM memory_items m WHERE m.id IN ({marks})", list(ids))
    return {row[0]: _item(row) for row in rows}


def fts_query(text: str) -> str | None:
    """An FTS5 OR-query of the text's words (quoted, so no FTS syntax can break it)."""
    import re

    words = [w for w in re.findall(r"\w+", text.lower()) if len(w) > 1 and w not in STOPWORDS]
    if not words:
        return None
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words))


STOPWORDS = frozenset(
    "a an and are as at be but by did do does for from had has have he her him his how i if in is it its "
    "me my of on or our she so than that the their them then there these they this to was we were what "
    "when where which who whom why will with you your about tell know can could would should any all".split()
)


def locked(method):
    """Run the method holding the store's lock (the connection and the index are shared by threads)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.lock:
            return method(self, *args, **kwargs)

    return wrapper


class MemoryStore:
    """Stores, indexes, finds and forgets memory items for one data directory.

    Give it its own connection (not the sessions' one). Methods are serialised across threads
    by ``lock``, which is the connection's own lock (see ``memory.db.LockedConnection``).
    """

    def __init__(self, db: sqlite_utils.Database, data_dir: Path, embedder: Embedder, *,
                 for_reembed: bool = False):
        """``for_reembed``: open a store whose vectors are from another model, only to call ``reembed``."""
        self.lock: threading.RLock = connection_lock(db)
        self.db = db
        self.embedder = embedder
        apply_migrations(db, "memory", MIGRATIONS)
        loads.sweep(db)  # what loads killed half-way left (invisible rows); the index is synced below
        if not for_reembed:
            self._check_embedding_model()
        self.index = VectorIndex(data_dir / INDEX_FILENAME, embedder.name, embedder.dim, exact=self.embeddings)
        self._index_loaded = False
        self._data_version = self._current_data_version()
        if not for_reembed:
            self.sync_index()
            self.backfill()

    # -- embedding model bookkeeping -------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM memory_meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO memory_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    def _check_embedding_model(self) -> None:
        stored = self._meta("embedding_model")
        has_items = self.db.execute("SELECT 1 FROM memory_items LIMIT 1").fetchone() is not None
        if stored and stored != self.embedder.name and has_items:
            raise EmbeddingMismatchError(
                f"memory was embedded with {stored} but the configured embedding model is "
                f"{self.embedder.name}; run `memchat memory reembed` to re-embed everything with it, "
                "or set embedding_model back"
            )
        if stored != self.embedder.name:
            with transaction(self.db):
                self._set_meta("embedding_model", self.embedder.name)
                self._set_meta("embedding_dim", str(self.embedder.dim))

    def reembed(self, batch_size: int = 256, progress: Any = None) -> int:
        """Re-embed every item with the configured model (after changing models); returns the count.

        The new vectors go to a staging table in short batches (embedding holds no lock);
        one final transaction switches them in with the model's name, so a crash or Ctrl-C
        leaves the old vectors, whole. Items written meanwhile get theirs from ``backfill``."""
        with transaction(self.db):
            self.db.execute("DROP TABLE IF EXISTS memory_reembed")  # an interrupted run's leftovers
            self.db.execute("CREATE TABLE memory_reembed (id INTEGER PRIMARY KEY, embedding BLOB NOT NULL)")
        with self.lock:
            total = self.db.execute("SELECT COUNT(*) FROM memory_items").fetchone()[0]
        done = last = 0
        while True:
            with self.lock:
                rows = self.db.execute("SELECT id, key_text FROM memory_items WHERE id > ? ORDER BY id LIMIT ?",
                                       [last, batch_size]).fetchall()
            if not rows:
                break
            vectors = self.embedder.encode([r[1] for r in rows])
            with transaction(self.db):
                self.db.conn.executemany("INSERT OR REPLACE INTO memory_reembed (id, embedding) VALUES (?, ?)",
                                         [(r[0], v.tobytes()) for r, v in zip(rows, vectors, strict=True)])
            last = rows[-1][0]
            done += len(rows)
            if progress:
                progress(done, max(total, done))
        with self.lock, transaction(self.db):
            self.db.execute("UPDATE memory_items SET embedding = r.embedding FROM memory_reembed r "
                            "WHERE r.id = memory_items.id")
            self.db.execute("UPDATE memory_items SET embedding = NULL WHERE id NOT IN (SELECT id FROM memory_reembed)")
            self._set_meta("embedding_model", self.embedder.name)
            self._set_meta("embedding_dim", str(self.embedder.dim))
            self.db.execute("DROP TABLE memory_reembed")
        self.rebuild_index()
        return done

    # -- the FAISS accelerator ----------------------------------------------------------
    def _sqlite_state(self, up_to: int | None = None) -> tuple[int, int, int]:
        where = f"m.duplicate_of IS NULL AND m.embedding IS NOT NULL AND {loads.VISIBLE}"
        params: list[Any] = []
        if up_to is not None:
            where += " AND m.id <= ?"
            params.append(up_to)
        row = self.db.execute(
            f"SELECT COUNT(*), COALESCE(MAX(m.id), 0), COALESCE(SUM(m.id), 0) FROM memory_items m WHERE {where}", params
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def _vector_batches(self, after: int = 0, size: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        sql = ("SELECT m.id, m.embedding FROM memory_items m WHERE m.duplicate_of IS NULL AND m.embedding IS NOT NULL "
               f"AND {loads.VISIBLE} AND m.id > ? ORDER BY m.id LIMIT ?")
        while True:  # page by id: each page is read whole under the connection's lock
            rows = self.db.execute(sql, [after, size]).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            yield np.asarray([r[0] for r in rows], dtype=np.int64), vectors

    @locked
    def sync_index(self) -> str:
        """Bring the FAISS index in line with SQLite: 'ok', 'caught-up' or 'rebuilt'."""
        if not self._index_loaded:
            self.index.load()
            self._index_loaded = True
        count, max_id, id_sum = self._sqlite_state()
        state = self.index.state
        if (state.count, state.max_id, state.id_sum) == (count, max_id, id_sum) and not self.index.needs_retype():
            return "ok"
        if state.max_id <= max_id and self._sqlite_state(up_to=state.max_id) == (state.count, state.max_id, state.id_sum):
            for ids, vectors in self._vector_batches(after=state.max_id):
                self.index.add(ids, vectors)
            if not self.index.needs_retype():
                return "caught-up"
        self.rebuild_index()
        return "rebuilt"

    def _current_data_version(self) -> int:
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    @locked
    def refresh(self) -> None:
        """Catch up with commits made by other connections or processes (cheap when there are none)."""
        version = self._current_data_version()
        if version != self._data_version:
            self._data_version = version
            self.sync_index()

    @locked
    def rebuild_index(self) -> None:
        total = self._sqlite_state()[0]
        self.index.rebuild(total, lambda: self._vector_batches())
        self.index.save()

    @locked
    def save_index(self) -> None:
        self.index.save()

    # -- writing ---------------------------------------------------------------------------
    def insert(self, items: Sequence[NewItem], vectors: np.ndarray, duplicate_of: Sequence[int | None] | None = None,
               now: str | None = None, load_id: int | None = None) -> list[int]:
        """Insert rows (in the caller's transaction, if any); FAISS picks them up on ``sync_index``
        (with ``load_id``: once that load is published)."""
        created = now or utc_now()
        links = duplicate_of or [None] * len(items)
        return [insert_item(self.db, item, created, vector, link, load_id)
                for item, vector, link in zip(items, vectors, links, strict=True)]

    def add(self, items: Sequence[NewItem], dedupe_threshold: float | None = None) -> list[int]:
        """Embed, store and index ``items`` in one transaction. With ``dedupe_threshold``, an item
        whose cosine to an existing one of the same kind reaches it is stored linked to that one
        (``duplicate_of``) and kept out of search, instead of piling up."""
        if not items:
            return []
        vectors = self.embedder.encode([item.key_text for item in items])
        links: list[int | None] = [None] * len(items)
        if dedupe_threshold is not None:
            self.refresh()
            for position, (item, vector) in enumerate(zip(items, vectors, strict=True)):
                links[position] = self._near_duplicate(item.kind, vector, dedupe_threshold)
        with self.lock:
            with transaction(self.db):
                ids = self.insert(items, vectors, links)
            self.sync_index()
        return ids

    def backfill(self, dedupe_threshold: float = 0.97, batch_size: int = 64) -> int:
        """Embed items stored without a vector (chat rounds written while no embedder was
        loaded), linking near-duplicate chat rounds to their first occurrence. Returns the count."""
        done = 0
        while True:
            with self.lock:
                rows = self.db.execute(
                    "SELECT id, kind, key_text FROM memory_items WHERE embedding IS NULL ORDER BY id LIMIT ?",
                    [batch_size]).fetchall()
            if not rows:
                return done
            vectors = self.embedder.encode([r[2] for r in rows])
            with self.lock:
                self.sync_index()
                for (item_id, kind, _), vector in zip(rows, vectors, strict=True):
                    link = self._near_duplicate(kind, vector, dedupe_threshold) if kind == "chat" else None
                    with transaction(self.db):
                        self.db.execute("UPDATE memory_items SET embedding = ?, duplicate_of = ? WHERE id = ?",
                                        [vector.tobytes(), link, item_id])
                    if link is None:
                        self.index.add(np.asarray([item_id], dtype=np.int64), vector.reshape(1, -1))
            done += len(rows)

    def _near_duplicate(self, kind: str, vector: np.ndarray, threshold: float) -> int | None:
        for item_id, score in self.index.search(vector, 5):
            if score < threshold:
                break
            row = self.db.execute("SELECT kind FROM memory_items WHERE id = ?", [item_id]).fetchone()
            if row and row[0] == kind:
                return item_id
        return None

    @locked
    def delete(self, ids: Iterable[int]) -> int:
        """Forget items: rows, FTS entries (by trigger) and vectors together. Returns how many."""
        wanted = sorted(set(ids))
        if not wanted:
            return 0
        removed = 0
        indexed: list[int] = []
        with transaction(self.db):
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ", ".join("?" * len(part))
                indexed += [r[0] for r in self.db.execute(
                    f"SELECT m.id FROM memory_items m WHERE m.id IN ({marks}) AND m.duplicate_of IS NULL "
                    f"AND m.embedding IS NOT NULL AND {loads.VISIBLE}", part)]
                # duplicates linked to a forgotten item are forgotten with it
                self.db.execute(f"DELETE FROM memory_items WHERE duplicate_of IN ({marks})", part)
                removed += self.db.execute(f"DELETE FROM memory_items WHERE id IN ({marks})", part).rowcount
        self.index.remove(indexed)
        self.sync_index()
        return removed

    # -- reading ---------------------------------------------------------------------------
    @locked
    def get(self, ids: Sequence[int]) -> dict[int, MemoryItem]:
        return items_by_id(self.db, ids)

    @locked
    def item_ids_for_message(self, message_id: int) -> list[int]:
        """The memory items made from a session message (a chat round is keyed by its answer),
        linked duplicates included; oldest first."""
        rows = self.db.execute("SELECT id FROM memory_items WHERE message_id = ? ORDER BY id", [message_id])
        return [row[0] for row in rows.fetchall()]

    @locked
    def embeddings(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        rows = self.db.execute(f"SELECT id, embedding FROM memory_items WHERE id IN ({marks})", list(ids))
        return {row[0]: np.frombuffer(row[1], dtype=np.float32) for row in rows if row[1] is not None}

    @locked
    def count(self, filters: SearchFilters | None = None) -> int:
        where, params = (filters or SearchFilters()).sql()
        return self.db.execute(f"SELECT COUNT(*) FROM memory_items m WHERE {where}", params).fetchone()[0]

    @locked
    def ids_matching(self, filters: SearchFilters, ids: Sequence[int]) -> set[int]:
        """The subset of ``ids`` that pass ``filters`` (and still exist)."""
        if not ids:
            return set()
        where, params = filters.sql()
        marks = ", ".join("?" * len(ids))
        rows = self.db.execute(f"SELECT m.id FROM memory_items m WHERE m.id IN ({marks}) AND {where}",
                               [*ids, *params])
        return {row[0] for row in rows}

    @locked
    def lexical(self, text: str, limit: int, filters: SearchFilters) -> list[tuple[int, float]]:
        """BM25 keyword search: (id, score) with higher = better."""
        query = fts_query(text)
        if query is None:
            return []
        where, params = filters.sql()
        rows = self.db.execute(
            "SELECT m.id, bm25(memory_items_fts) AS rank FROM memory_items_fts "
            "JOIN memory_items m ON m.id = memory_items_fts.rowid "
            f"WHERE memory_items_fts MATCH ? AND {where} ORDER BY rank LIMIT ?",
            [query, *params, limit],
        ).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]

    @locked
    def dense(self, vector: np.ndarray, limit: int, filters: SearchFilters) -> list[tuple[int, float]]:
        """Nearest items by cosine; filters applied after an over-fetch."""
        self.refresh()  # another process may have written since
        if filters.empty:
            return self.index.search(vector, limit)
        fetch = limit * 10
        while True:
            hits = self.index.search(vector, fetch)
            allowed = self.ids_matching(filters, [i for i, _ in hits])
            kept = [(i, s) for i, s in hits if i in allowed]
            if len(kept) >= limit or fetch >= self.index.index.ntotal:
                return kept[:limit]
            fetch *= 4
