"""Load documents into memory: parse (streamed), chunk by tokens, embed, store, index.

Each document is ingested all or nothing, in short transactions (``memory.loads``): until its
last short commit it is invisible, and a crash, Ctrl-C or SIGKILL in the middle leaves the
store as it was before that document (the next open removes the invisible rows); loading
it again just works. ``load_paths(cancel=...)`` stops the same way, between embedding batches.
Re-loading an unchanged file (same content hash) is a no-op; a changed file replaces its
old chunks. The FAISS index catches up after each committed document.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from memory.errors import MemchatError
from memory.chunking import Chunk, chunk_sections
from memory.loaders import DocumentError, discover_files, file_digest, iter_sections
from memory import loads
from memory.store import MemoryStore, NewItem
from memory.db import transaction

EMBED_BATCH = 64
CHUNK_TOKENS = 200
OVERLAP_TOKENS = 30


@dataclass
class Progress:
    """Where a document load stands, for a progress bar."""

    path: Path
    bytes_done: int
    bytes_total: int
    chunks: int
    started: float

    @property
    def chunks_per_s(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.chunks / elapsed if elapsed > 0 else 0.0


@dataclass(frozen=True)
class LoadOutcome:
    path: Path
    status: str  # "loaded" | "replaced" | "unchanged" | "skipped"
    chunks: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Document:
    id: int
    path: str
    content_hash: str
    size: int
    chunks: int
    title: str | None
    loaded_at: str


class LoadCancelled(MemchatError):
    """Loading was cancelled: the document in progress was rolled back, whole; the ones
    finished before it (``outcomes``) stay. Loading the same paths again resumes."""

    exit_code = 130

    def __init__(self, path: Path | None = None, outcomes: list[LoadOutcome] | None = None):
        left_out = f": {path.name} was left out, whole" if path else ""
        super().__init__(f"loading cancelled{left_out}; the documents already loaded stay; "
                         "load the same paths again to resume")
        self.path = path  # the document rolled back, if one was in progress
        self.outcomes = outcomes or []


def list_documents(store: MemoryStore) -> list[Document]:
    """Loaded documents, most recently loaded first (never one half-way through its load)."""
    with store.lock:
        rows = store.db.execute(
            "SELECT d.id, d.path, d.content_hash, d.size, d.chunks, d.title, d.loaded_at FROM documents d "
            f"WHERE {loads.DOCUMENT_VISIBLE} ORDER BY d.loaded_at DESC"
        ).fetchall()
    return [Document(*row) for row in rows]


def find_document(store: MemoryStore, key: str) -> Document:
    """A loaded document by id, path, or (when only one has it) file name or title."""
    documents = list_documents(store)
    resolved = str(Path(key).expanduser().resolve())
    exact = [d for d in documents if str(d.id) == key or d.path in (key, resolved)]
    if exact:
        return exact[0]
    named = [d for d in documents if key in (Path(d.path).name, d.title)]
    if len(named) == 1:
        return named[0]
    if named:
        ids = ", ".join(str(d.id) for d in named[:10])
        raise MemchatError(f"{len(named)} loaded documents are called '{key}'; use the id of the one you "
                           f"mean ({ids})")
    raise MemchatError(f"no loaded document '{key}' (by id, path or file name); see `memchat docs list`")


def _chunk_item(chunk: Chunk, path: str, document_id: int, title: str, occurred_at: str, index: int) -> NewItem:
    heading = f" › {chunk.heading}" if chunk.heading else ""
    page = f" (p. {chunk.page})" if chunk.page else ""
    return NewItem(
        kind="document", text=chunk.text, key_text=f"{title}{heading}{page}\n{chunk.text}", source=path,
        occurred_at=occurred_at, document_id=document_id, tokens=chunk.tokens,
        position={"chunk": index, "page": chunk.page, "heading": chunk.heading,
                  "char_start": chunk.char_start, "char_end": chunk.char_end},
    )


def _batched(chunks: Iterable[Chunk], size: int) -> Iterator[list[Chunk]]:
    batch: list[Chunk] = []
    for chunk in chunks:
        batch.append(chunk)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def load_document(store: MemoryStore, path: Path,
                  on_progress: Callable[[Progress], None] | None = None,
                  cancel: Callable[[], bool] | None = None) -> LoadOutcome:
    """Ingest one file, all or nothing; raises DocumentError for files that cannot be read, and
    LoadCancelled (after removing what was written) when ``cancel()`` turns true between batches.

    Parsing and embedding hold no lock; the chunks are written in short transactions as a
    pending load (invisible), and one short transaction publishes the document (and hides the
    version it replaces, whose rows are then removed in batches)."""
    path = path.expanduser().resolve()
    digest = file_digest(path)
    size = path.stat().st_size
    existing = _visible_document(store, str(path))
    if existing and existing[1] == digest:
        return LoadOutcome(path, "unchanged")
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
    progress = Progress(path, 0, size, 0, time.perf_counter())
    with loads.pending(store.db, "document") as load_id:  # any exception removes what was written
        with transaction(store.db):
            cursor = store.db.conn.execute(
                "INSERT INTO documents (path, content_hash, size, chunks, title, loaded_at, modified_at, load_id) "
                "VALUES (?, ?, ?, 0, ?, ?, ?, ?)", [str(path), digest, size, path.name, now, modified, load_id])
            document_id = int(cursor.lastrowid)
        sections = iter_sections(path)
        chunks = chunk_sections(sections, store.embedder.count_tokens, CHUNK_TOKENS, OVERLAP_TOKENS)
        count = 0
        for batch in _batched(chunks, EMBED_BATCH):
            _check(cancel, path)
            items = [_chunk_item(c, str(path), document_id, path.name, modified, count + i)
                     for i, c in enumerate(batch)]
            vectors = store.embedder.encode([item.key_text for item in items])
            with transaction(store.db):  # one batch: milliseconds of write lock
                store.insert(items, vectors, now=now, load_id=load_id)
            count += len(batch)
            progress.chunks = count
            progress.bytes_done = min(size, batch[-1].char_end)  # characters ≈ bytes for most text
            if on_progress:
                on_progress(progress)
        _check(cancel, path)
        with store.lock, transaction(store.db):  # the one short commit that shows it
            existing = _visible_document(store, str(path))  # another process may have loaded it meanwhile
            store.db.execute("UPDATE documents SET chunks = ? WHERE id = ?", [count, document_id])
            loads.publish(store.db, load_id, retire=existing[2] if existing else None)
    removed = loads.purge(store.db, existing[2]) if existing else []  # batches: others write in between
    with store.lock:
        store.index.remove(removed)
        store.sync_index()
        store.save_index()
    progress.bytes_done = size
    if on_progress:
        on_progress(progress)
    return LoadOutcome(path, "replaced" if existing else "loaded", count)


def _visible_document(store: MemoryStore, path: str) -> tuple[int, str, int] | None:
    """(id, content hash, load id) of the visible document loaded from ``path``."""
    with store.lock:
        return store.db.execute(f"SELECT d.id, d.content_hash, d.load_id FROM documents d WHERE d.path = ? "
                                f"AND {loads.DOCUMENT_VISIBLE} ORDER BY d.id DESC LIMIT 1", [path]).fetchone()


def _check(cancel: Callable[[], bool] | None, path: Path | None) -> None:
    """Raise LoadCancelled (its outcomes are filled in by ``load_paths``) when asked to stop."""
    if cancel is not None and cancel():
        raise LoadCancelled(path)


def load_paths(store: MemoryStore, paths: Iterable[Path],
               on_progress: Callable[[Progress], None] | None = None,
               on_outcome: Callable[[LoadOutcome], None] | None = None,
               cancel: Callable[[], bool] | None = None) -> list[LoadOutcome]:
    """Load files and folders; a file that cannot be loaded is skipped with its reason.

    ``cancel`` is checked between files and between embedding batches: when it returns True
    the document in progress is rolled back, whole, and LoadCancelled is raised with the
    outcomes of the files finished before it (those stay loaded)."""
    files, skipped = discover_files(list(paths))
    outcomes = [LoadOutcome(p, "skipped", reason=reason) for p, reason in skipped]
    for outcome in outcomes:
        if on_outcome:
            on_outcome(outcome)
    for path in files:
        try:
            _check(cancel, None)
            outcome = load_document(store, path, on_progress, cancel)
        except DocumentError as exc:
            outcome = LoadOutcome(path, "skipped", reason=str(exc))
        except LoadCancelled as exc:
            exc.outcomes = outcomes
            raise
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)
    return outcomes


def forget_document(store: MemoryStore, document: Document) -> int:
    """Remove a document and its chunks from SQLite, FTS and FAISS: hidden at once (one short
    transaction), then deleted in batches (a crash half-way is finished by the next open)."""
    with store.lock:
        row = store.db.execute("SELECT load_id FROM documents WHERE id = ?", [document.id]).fetchone()
        indexed = [r[0] for r in store.db.execute(
            "SELECT id FROM memory_items WHERE document_id = ? AND duplicate_of IS NULL AND embedding IS NOT NULL",
            [document.id])]
    if row is None:
        return 0
    load_id = row[0] if row[0] is not None else -document.id
    with store.lock, transaction(store.db):
        store.db.execute("UPDATE documents SET load_id = ? WHERE id = ?", [load_id, document.id])
        loads.hide(store.db, load_id)
    removed = loads.purge(store.db, load_id)
    with store.lock:
        store.index.remove(indexed)
        store.sync_index()
        store.save_index()
    return len(removed)
