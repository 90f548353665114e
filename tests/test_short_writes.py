"""Loads, imports and re-embedding write in short transactions and stay invisible until one
final commit; what a killed or failed one leaves is invisible and swept by the next open;
opening a store takes no write lock when there is nothing to migrate."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from memory import loads
from memory.db import open_database
from memory.documents import LoadCancelled, list_documents, load_document
from memory.store import MemoryStore, SearchFilters
from memory.transcripts import import_transcript


def write_book(path: Path, paragraphs: int, word: str = "lighthouse") -> Path:
    with path.open("w") as handle:
        for i in range(paragraphs):
            handle.write(f"Paragraph {i}: the {word} keeper number {i} wrote letters about the quiet sea. " * 3
                         + "\n\n")
    return path


def other_connection(store: MemoryStore) -> sqlite3.Connection:
    """A second connection to the store's file, as another process has, that waits at most 1 s."""
    path = store.db.conn.execute("PRAGMA database_list").fetchone()[2]
    return sqlite3.connect(path, timeout=1.0, isolation_level=None)


def visible_texts(conn: sqlite3.Connection, word: str) -> int:
    where, params = SearchFilters().sql()
    return conn.execute(f"SELECT COUNT(*) FROM memory_items m WHERE {where} AND m.text LIKE ?",
                        [*params, f"%{word}%"]).fetchone()[0]


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_load_is_invisible_until_its_last_commit_and_never_locks_others_out(memory_store: MemoryStore,
                                                                              tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.txt", 400)
    other = other_connection(memory_store)
    seen: list[tuple[int, int, float]] = []

    def during(progress) -> None:  # noqa: ANN001 - called between batches, mid-load
        started = time.perf_counter()
        other.execute("BEGIN IMMEDIATE")  # another writer gets the lock at once (1 s timeout)
        other.execute("INSERT INTO memory_meta (key, value) VALUES ('probe', ?) "
                      "ON CONFLICT(key) DO UPDATE SET value = excluded.value", [str(progress.chunks)])
        other.execute("COMMIT")
        documents = other.execute(f"SELECT COUNT(*) FROM documents d WHERE {loads.DOCUMENT_VISIBLE}").fetchone()[0]
        seen.append((documents, visible_texts(other, "lighthouse"), time.perf_counter() - started))

    outcome = load_document(memory_store, book, on_progress=during)
    assert outcome.status == "loaded" and outcome.chunks > 64
    assert len(seen) >= 3
    assert all(documents == 0 and texts == 0 for documents, texts, _ in seen[:-1])  # nothing shows mid-load
    assert max(wait for _, _, wait in seen) < 1.0
    assert visible_texts(other, "lighthouse") == outcome.chunks
    assert [d.chunks for d in list_documents(memory_store)] == [outcome.chunks]
    assert memory_store.index.index.ntotal == outcome.chunks
    assert other.execute("SELECT COUNT(*) FROM loads").fetchone()[0] == 0


def test_a_cancelled_load_leaves_no_row_and_a_replacement_swaps_whole(memory_store: MemoryStore,
                                                                      tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.txt", 200)
    first = load_document(memory_store, book)
    book.write_text(write_book(tmp_path / "new.txt", 300, word="orchard").read_text())
    batches = []

    def cancel() -> bool:
        batches.append(1)
        return len(batches) > 2

    with pytest.raises(LoadCancelled):
        load_document(memory_store, book, cancel=cancel)
    db = memory_store.db
    assert db.execute("SELECT COUNT(*) FROM memory_items WHERE text LIKE '%orchard%'").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM loads").fetchone()[0] == 0
    assert visible_texts(db.conn, "lighthouse") == first.chunks  # the old version is untouched
    replaced = load_document(memory_store, book)
    assert replaced.status == "replaced"
    assert visible_texts(db.conn, "lighthouse") == 0 and visible_texts(db.conn, "orchard") == replaced.chunks
    assert db.execute("SELECT COUNT(*) FROM memory_items").fetchone()[0] == replaced.chunks  # old rows purged
    assert memory_store.index.index.ntotal == replaced.chunks


def test_what_a_killed_load_left_is_invisible_and_swept_by_the_next_open(memory_store: MemoryStore,
                                                                         tmp_path: Path, embedder) -> None:
    from memory.store import NewItem

    load_id = loads.begin(memory_store.db, "document")  # a load whose process then died
    memory_store.db.execute("UPDATE loads SET pid = ? WHERE id = ?", [dead_pid(), load_id])
    memory_store.db.execute("INSERT INTO documents (path, content_hash, size, chunks, title, loaded_at, load_id) "
                            "VALUES ('/gone.txt', 'x', 1, 0, 'gone', '2026-01-01', ?)", [load_id])
    document_id = memory_store.db.execute("SELECT id FROM documents WHERE load_id = ?", [load_id]).fetchone()[0]
    items = [NewItem(kind="document", text=f"zanzibarquark passage {i}", key_text=f"zanzibarquark passage {i}",
                     source="/gone.txt", occurred_at="2026-01-01", document_id=document_id) for i in range(3)]
    memory_store.insert(items, embedder.encode([i.key_text for i in items]), load_id=load_id)
    live = loads.begin(memory_store.db, "import")  # a load still running in a live process: kept
    assert visible_texts(memory_store.db.conn, "zanzibarquark") == 0
    assert list_documents(memory_store) == [] and memory_store.count() == 0
    data_dir = tmp_path / "memdata"
    reopened = MemoryStore(open_database(data_dir), data_dir, embedder)
    assert reopened.db.execute("SELECT COUNT(*) FROM memory_items").fetchone()[0] == 0
    assert reopened.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 0
    assert [r[0] for r in reopened.db.execute("SELECT id FROM loads")] == [live]
    reopened.db.conn.close()


def test_an_import_that_fails_half_way_leaves_nothing(memory_store: MemoryStore, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from memory import transcripts

    monkeypatch.setattr(transcripts, "BATCH", 10)
    lines = [json.dumps({"text": f"Turn {i} about the zeppelin", "speaker": "Ann", "session": "trip",
                         "timestamp": "2025-05-01T10:00:00Z", "id": f"t{i}"}) for i in range(45)]
    good = tmp_path / "t.jsonl"
    good.write_text("\n".join(lines) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines[:35]) + "\n{not json\n")
    with pytest.raises(transcripts.TranscriptError):
        import_transcript(memory_store, bad)  # three batches were written before line 36
    db = memory_store.db
    assert db.execute("SELECT COUNT(*) FROM memory_items").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM loads").fetchone()[0] == 0
    assert import_transcript(memory_store, good).imported == 45
    assert visible_texts(db.conn, "zeppelin") == 45 and memory_store.index.index.ntotal == 45


def test_a_pdf_given_to_import_is_one_clear_error(memory_store: MemoryStore, tmp_path: Path) -> None:
    from memory.transcripts import TranscriptError

    pdf = tmp_path / "some.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nendobj\n" + bytes(range(128, 256)))
    with pytest.raises(TranscriptError, match="not UTF-8 text"):
        import_transcript(memory_store, pdf)


def test_a_failed_reembed_keeps_the_old_vectors_whole(memory_store: MemoryStore, embedder,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from memory.store import NewItem

    items = [NewItem(kind="chat", text=f"note {i} on {w}", key_text=f"note {i} on {w}", source="s",
                     occurred_at="2026-01-01") for i, w in enumerate(["bees", "comets", "ferns", "tides", "owls"])]
    memory_store.add(items)
    before = dict(memory_store.db.execute("SELECT id, embedding FROM memory_items").fetchall())
    calls: list[int] = []
    fail_on = {2}
    real = embedder.encode

    def new_model(texts):  # noqa: ANN001 - another model (other vectors) whose 2nd batch fails
        calls.append(1)
        if len(calls) in fail_on:
            raise RuntimeError("the GPU went away")
        return real(texts) * -1.0

    monkeypatch.setattr(embedder, "encode", new_model)
    with pytest.raises(RuntimeError):
        memory_store.reembed(batch_size=2)
    assert dict(memory_store.db.execute("SELECT id, embedding FROM memory_items").fetchall()) == before
    fail_on.clear()
    assert memory_store.reembed(batch_size=2) == 5
    after = dict(memory_store.db.execute("SELECT id, embedding FROM memory_items").fetchall())
    assert all(after[i] != before[i] for i in before)
    assert memory_store.db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'memory_reembed'").fetchone()[0] == 0


def test_opening_takes_no_write_lock_when_there_is_nothing_to_migrate(memory_store: MemoryStore, tmp_path: Path,
                                                                      embedder) -> None:
    from assistant.sessions import SessionStore
    from memory.graph.graph import KnowledgeGraph

    data_dir = tmp_path / "memdata"
    SessionStore(memory_store.db)
    KnowledgeGraph(memory_store.db)
    holder = other_connection(memory_store)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing (and keeps the lock)
    holder.execute("UPDATE memory_meta SET value = value")
    try:
        started = time.perf_counter()
        db = open_database(data_dir)
        SessionStore(db)
        KnowledgeGraph(db)
        store = MemoryStore(db, data_dir, embedder)
        assert store.count() == 0
        assert time.perf_counter() - started < 1.0
        db.conn.close()
    finally:
        holder.execute("ROLLBACK")
