"""Memory through the real `memchat` command: load, search, import, forget, chat turns, and a
SIGKILL in the middle of loading a document."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.test_cli import assert_one_line_error, run

MEMCHAT = [sys.executable, "-m", "assistant.cli"]


def write_book(path: Path, paragraphs: int) -> Path:
    topics = ["lighthouse", "orchard", "glacier", "violin", "harbour", "comet", "library", "desert"]
    with path.open("w") as handle:
        handle.write("# The Long Book\n\n")
        for i in range(paragraphs):
            topic = topics[i % len(topics)]
            handle.write(f"## Chapter {i}\n\nParagraph {i} tells of the {topic} keeper number {i}. "
                         f"The {topic} was quiet that year, and the keeper wrote letters about it. " * 3 + "\n\n")
    return path


def test_load_search_and_forget_a_document(isolated_env: Path) -> None:
    notes = isolated_env / "notes.md"
    notes.write_text("# Servers\n\nThe staging server runs PostgreSQL 15 on port 5433.\n\n"
                     "# Pets\n\nAlice adopted a grey cat called Miso in March.\n")
    loaded = run("load", str(notes))
    assert loaded.returncode == 0, loaded.stderr
    assert "1 loaded" in loaded.stdout
    assert "unchanged" in run("load", str(notes)).stderr  # re-loading an unchanged file is a no-op
    result = run("search", "--json", "which database does staging use")
    hits = json.loads(result.stdout)["hits"]
    assert "PostgreSQL" in hits[0]["text"] and hits[0]["source"] == str(notes.resolve())
    assert hits[0]["position"]["heading"] == "Servers"
    notes.write_text("# Servers\n\nStaging moved to MySQL 8.\n")
    assert "replaced" in run("load", str(notes)).stderr
    texts = [h["text"] for h in json.loads(run("search", "--json", "staging database").stdout)["hits"]]
    assert any("MySQL" in t for t in texts) and not any("PostgreSQL" in t for t in texts)
    docs = json.loads(run("docs", "list", "--json").stdout)
    assert [d["chunks"] for d in docs] == [1]
    assert run("forget", "--document", str(notes), "--yes").returncode == 0
    assert json.loads(run("search", "--json", "staging database").stdout)["hits"] == []


def test_a_source_is_an_absolute_path_when_the_file_exists(tmp_path: Path, monkeypatch) -> None:
    """`search --source` and `kg split --source` match what memory stores for a document."""
    from assistant.cli.memory_cmd import resolve_source

    (tmp_path / "notes.md").write_text("notes")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_source("notes.md") == resolve_source("~/notes.md") == str((tmp_path / "notes.md").resolve())
    assert resolve_source("session:4f2a") == "session:4f2a"
    assert resolve_source("gone.md") == "gone.md"


def test_bad_files_are_skipped_with_a_reason_and_the_rest_loaded(isolated_env: Path) -> None:
    folder = isolated_env / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("Bees make honey from nectar.")
    (folder / "empty.txt").write_text("")
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    result = run("load", str(folder), str(isolated_env / "missing.pdf"))
    assert result.returncode == 0, result.stderr
    assert "1 loaded" in result.stdout and "3 skipped" in result.stdout
    assert "empty.txt" in result.stderr and "image.txt" in result.stderr and "missing.pdf" in result.stderr
    assert "Traceback" not in result.stderr


def test_batch_search_reads_queries_from_stdin(isolated_env: Path) -> None:
    (isolated_env / "a.txt").write_text("Bees make honey from nectar.\n\nThe comet returns every 76 years.")
    assert run("load", str(isolated_env / "a.txt")).returncode == 0
    result = run("search", "--json", "-k", "1", stdin="what do bees produce\nhow often does the comet come back\n")
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["query"] for a in answers] == ["what do bees produce", "how often does the comet come back"]
    assert all(len(a["hits"]) == 1 for a in answers)


def test_import_then_search_shows_the_external_id(isolated_env: Path) -> None:
    transcript = isolated_env / "t.jsonl"
    transcript.write_text(json.dumps({"id": "msg-42", "speaker": "Alice", "timestamp": "2025-05-01T10:00:00Z",
                                      "session": "trip", "text": "I lost my passport in Porto."}) + "\n")
    assert "Imported 1 turns" in run("import", str(transcript)).stdout
    shown = run("search", "where did Alice lose her passport")
    assert "id=msg-42" in shown.stdout and "Porto" in shown.stdout
    assert_one_line_error(run("import", str(isolated_env / "nope.jsonl")), "cannot read")


def test_chat_turns_become_searchable_memory_across_sessions(isolated_env: Path) -> None:
    assert run("--max-new-tokens", "16", "ask", "My dog Biscuit loves chasing seagulls.").returncode == 0
    result = run("search", "--json", "--kind", "chat", "what does my dog like to chase")
    hits = json.loads(result.stdout)["hits"]
    assert hits and "Biscuit" in hits[0]["text"] and hits[0]["kind"] == "chat"
    assert hits[0]["dense"]["rank"] is not None  # embedded when memory was opened
    session = hits[0]["session_id"]
    forgot = run("forget", "--message", str(hits[0]["message_id"]), "--yes")
    assert forgot.returncode == 0, forgot.stderr
    assert "and 2 chat message(s)" in forgot.stdout
    assert json.loads(run("search", "--json", "--kind", "chat", "what does my dog like to chase").stdout)["hits"] == []
    shown = run("sessions", "show", session)
    assert "Biscuit" not in shown.stdout
    assert_one_line_error(run("forget", "--message", "999999", "--yes"), "999999")


def test_sigkill_mid_ingest_leaves_the_store_consistent(isolated_env: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEMCHAT_GRAPH_EXTRACTOR", "off")  # about the store; the graph of 8,000 paragraphs is slow
    small = isolated_env / "small.txt"
    small.write_text("The orchard keeper grows forty kinds of apples.")
    assert run("load", str(small)).returncode == 0
    book = write_book(isolated_env / "book.md", 8000)
    process = subprocess.Popen([*MEMCHAT, "load", str(book)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wal = isolated_env / "data" / "memchat.db-wal"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # batches of chunks are being committed
        if wal.exists() and wal.stat().st_size > 2_000_000:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the load finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    db = sqlite3.connect(isolated_env / "data" / "memchat.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.execute("INSERT INTO memory_items_fts(memory_items_fts) VALUES('integrity-check')")
    from memory.loads import DOCUMENT_VISIBLE, VISIBLE

    # what the killed load wrote is invisible: no partial document shows
    assert [r[0] for r in db.execute(f"SELECT d.path FROM documents d WHERE {DOCUMENT_VISIBLE}")] == [
        str(small.resolve())]
    assert db.execute(f"SELECT COUNT(*) FROM memory_items m WHERE {VISIBLE}").fetchone()[0] == 1
    db.close()
    assert [d["path"] for d in json.loads(run("docs", "list", "--json").stdout)] == [str(small.resolve())]
    db = sqlite3.connect(isolated_env / "data" / "memchat.db")  # and the next open removed it
    assert [r[0] for r in db.execute("SELECT path FROM documents")] == [str(small.resolve())]
    assert db.execute("SELECT COUNT(*) FROM memory_items").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM loads").fetchone()[0] == 0
    db.close()
    again = run("load", str(book), timeout=600)
    assert again.returncode == 0 and "1 loaded" in again.stdout
    status = json.loads(run("memory", "status").stdout)
    assert status["indexed_vectors"] == status["items"]["document"]


def test_a_hundred_page_pdf_loads_and_hits_name_their_page(isolated_env: Path) -> None:
    from tests.test_loaders_chunking import make_pdf

    pages = [[f"Page {n} of the field manual.", f"Valve {n} must be checked every {n + 2} days."]
             for n in range(1, 101)]
    pages[72] = ["Page 73 of the field manual.", "The emergency shutoff lever is painted bright orange."]
    pdf = make_pdf(isolated_env / "manual.pdf", pages)
    loaded = run("load", str(pdf))
    assert loaded.returncode == 0 and "1 loaded" in loaded.stdout, loaded.stderr
    hits = json.loads(run("search", "--json", "what colour is the emergency shutoff lever").stdout)["hits"]
    assert hits[0]["position"]["page"] == 73 and "orange" in hits[0]["text"]
    assert json.loads(run("docs", "list", "--json").stdout)[0]["chunks"] >= 100
