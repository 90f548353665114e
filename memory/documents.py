"""Load documents into memory: parse (streamed), chunk by tokens, embed, store, index.

Each document is ingested in one SQLite transaction: a crash, Ctrl-C or SIGKILL in the
middle leaves the store as it was before that document, and loading it again just works.
Re-loading an unchanged file (same content hash) is a no-op; a changed file replaces its
old chunks. The FAISS index catches up after each committed document.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from assistant.errors import MemchatError
from memory.chunking import Chunk, chunk_sections
from memory.loaders import DocumentError, discover_files, file_digest, iter_sections
from memory.store import MemoryStore, NewItem

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


def list_documents(store: MemoryStore) -> list[Document]:
    rows = store.db.execute(
        "SELECT id, path, content_hash, size, chunks, title, loaded_at FROM documents ORDER BY loaded_at DESC"
    )
    return [Document(*row) for row in rows]


def find_document(store: MemoryStore, path_or_id: str) -> Document:
    candidates = [d for d in list_documents(store)
                  if str(d.id) == path_or_id or d.path == path_or_id
                  or d.path == str(Path(path_or_id).expanduser().resolve())]
    if not candidates:
        raise MemchatError(f"no loaded document '{path_or_id}'; see `memchat docs list`")
    return candidates[0]


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
                  on_progress: Callable[[Progress], None] | None = None) -> LoadOutcome:
    """Ingest one file transactionally; raises DocumentError for files that cannot be read."""
    path = path.expanduser().resolve()
    digest = file_digest(path)
    size = path.stat().st_size
    existing = store.db.execute("SELECT id, content_hash FROM documents WHERE path = ?", [str(path)]).fetchone()
    if existing and existing[1] == digest:
        return LoadOutcome(path, "unchanged")
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
    progress = Progress(path, 0, size, 0, time.perf_counter())
    removed_ids: list[int] = []
    with store.lock, store.db.conn:  # one transaction: all of this document or none of it
        if existing:
            removed_ids = [r[0] for r in store.db.execute(
                "SELECT id FROM memory_items WHERE document_id = ? AND duplicate_of IS NULL", [existing[0]])]
            store.db.execute("DELETE FROM memory_items WHERE document_id = ?", [existing[0]])
            store.db.execute("DELETE FROM documents WHERE id = ?", [existing[0]])
        cursor = store.db.conn.execute(
            "INSERT INTO documents (path, content_hash, size, chunks, title, loaded_at, modified_at) "
            "VALUES (?, ?, ?, 0, ?, ?, ?)", [str(path), digest, size, path.name, now, modified])
        document_id = int(cursor.lastrowid)
        sections = iter_sections(path)
        chunks = chunk_sections(sections, store.embedder.count_tokens, CHUNK_TOKENS, OVERLAP_TOKENS)
        count = 0
        for batch in _batched(chunks, EMBED_BATCH):
            items = [_chunk_item(c, str(path), document_id, path.name, modified, count + i)
                     for i, c in enumerate(batch)]
            store.insert(items, store.embedder.encode([item.key_text for item in items]), now=now)
            count += len(batch)
            progress.chunks = count
            progress.bytes_done = min(size, batch[-1].char_end)  # characters ≈ bytes for most text
            if on_progress:
                on_progress(progress)
        store.db.execute("UPDATE documents SET chunks = ? WHERE id = ?", [count, document_id])
    with store.lock:
        store.index.remove(removed_ids)
        store.sync_index()
        store.save_index()
    progress.bytes_done = size
    if on_progress:
        on_progress(progress)
    return LoadOutcome(path, "replaced" if existing else "loaded", count)


def load_paths(store: MemoryStore, paths: Iterable[Path],
               on_progress: Callable[[Progress], None] | None = None,
               on_outcome: Callable[[LoadOutcome], None] | None = None) -> list[LoadOutcome]:
    """Load files and folders; a file that cannot be loaded is skipped with its reason."""
    files, skipped = discover_files(list(paths))
    outcomes = [LoadOutcome(p, "skipped", reason=reason) for p, reason in skipped]
    for outcome in outcomes:
        if on_outcome:
            on_outcome(outcome)
    for path in files:
        try:
            outcome = load_document(store, path, on_progress)
        except DocumentError as exc:
            outcome = LoadOutcome(path, "skipped", reason=str(exc))
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)
    return outcomes


def forget_document(store: MemoryStore, document: Document) -> int:
    """Remove a document and its chunks from SQLite, FTS and FAISS."""
    ids = [r[0] for r in store.db.execute("SELECT id FROM memory_items WHERE document_id = ?", [document.id])]
    removed = store.delete(ids)
    with store.lock, store.db.conn:
        store.db.execute("DELETE FROM documents WHERE id = ?", [document.id])
    store.save_index()
    return removed
