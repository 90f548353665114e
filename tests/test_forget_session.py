"""Deleting a chat forgets what memory and the graph learnt only from it, and leaves no byte
of its text in the data dir; ``forget --session`` takes deleted sessions and imported names."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.app import Assistant
from tests.test_cli import run

SECRET = "Vorplexia"
OTHER = "Quambridge"


def found_in(data_dir: Path, word: str) -> list[str]:
    """The files under ``data_dir`` whose bytes hold ``word`` (as written or in lower case)."""
    hits = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if word.encode() in data or word.lower().encode() in data:
            hits.append(path.name)
    return hits


def chat(assistant: Assistant, text: str) -> str:
    session = assistant.sessions.create(text[:30])
    reply = assistant.chat.send(session.id, text)
    "".join(reply)
    assert assistant.memory_writer.flush(120)
    assistant.extract_knowledge()
    return session.id


def test_deleting_a_chat_forgets_it_everywhere_unless_kept(assistant: Assistant, isolated_env: Path) -> None:
    data_dir = isolated_env / "data"
    assistant.memory  # noqa: B018 - open memory so each exchange is embedded at once
    secret_chat = chat(assistant, f"My cousin Ada Vellum moved to {SECRET} last spring.")
    kept_chat = chat(assistant, f"My friend Otto Brenn lives in {OTHER} now.")
    assert assistant.knowledge.find(SECRET), "the graph learnt the place"
    assistant.memory.save_index()
    assert "memchat.db" in found_in(data_dir, SECRET) or "memchat.db-wal" in found_in(data_dir, SECRET)

    kept = run("sessions", "delete", kept_chat, "--keep-memories", "--yes")
    assert kept.returncode == 0, kept.stderr
    assert OTHER in run("search", OTHER).stdout  # its memory stays

    deleted = run("sessions", "delete", secret_chat, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert "forgot" in deleted.stdout
    hits = json.loads(run("search", "--json", f"where did Ada move {SECRET}").stdout)["hits"]
    assert all(SECRET not in hit["text"] for hit in hits)
    assert all(SECRET not in entity.name for entity in assistant.knowledge.find(SECRET))
    assert found_in(data_dir, SECRET) == []
    assert found_in(data_dir, OTHER) != []  # kept: the check above could have found it


def test_forget_session_takes_deleted_ids_and_imported_session_names(isolated_env: Path) -> None:
    transcript = isolated_env / "t.jsonl"
    transcript.write_text("\n".join(json.dumps(
        {"id": f"x{i}", "speaker": "Ann", "timestamp": "2025-05-01T10:00:00Z", "session": "porto trip",
         "text": f"Day {i}: the {SECRET} ferry was late."}) for i in range(3)) + "\n")
    assert run("import", str(transcript)).returncode == 0
    forgot = run("forget", "--session", "porto trip", "--yes")
    assert forgot.returncode == 0, forgot.stderr
    assert "Forgot 3 memory item(s)" in forgot.stdout
    assert found_in(isolated_env / "data", SECRET) == []

    assert run("--max-new-tokens", "8", "ask", f"Remember the {OTHER} code 7731.").returncode == 0
    session_id = json.loads(run("sessions", "list", "--json").stdout)[0]["id"]
    assert run("sessions", "delete", session_id, "--keep-memories", "--yes").returncode == 0
    assert OTHER in run("search", OTHER).stdout
    again = run("forget", "--session", session_id, "--yes")  # the session is gone; its memories are not
    assert again.returncode == 0, again.stderr
    assert "Forgot 1 memory item(s)" in again.stdout
    assert found_in(isolated_env / "data", OTHER) == []
