"""The session store on real SQLite: CRUD, lookup, export, concurrency and bad data dirs."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from assistant.errors import DataDirError, MemchatError, SessionNotFoundError, StoreVersionError
from assistant.export import export_session
from assistant.sessions import SessionStore, session_title
from memory.db import open_database


@pytest.fixture()
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(open_database(tmp_path / "data"))


def test_create_list_rename_delete(store: SessionStore) -> None:
    first = store.create("first")
    second = store.create("second")
    store.add_message(first.id, "user", "hello")  # first becomes the most recent
    assert [s.id for s in store.list()] == [first.id, second.id]
    assert store.list()[0].message_count == 1
    assert store.latest().id == first.id
    assert store.rename(second.id, "renamed").name == "renamed"
    store.delete(first.id)
    assert [s.name for s in store.list()] == ["renamed"]
    assert store.messages(first.id) == []


def test_lookup_by_prefix_and_name(store: SessionStore) -> None:
    session = store.create("trip planning")
    assert store.get(session.id[:4]).id == session.id
    assert store.get("trip planning").id == session.id
    with pytest.raises(SessionNotFoundError, match="no session 'nope'.*sessions list"):
        store.get("nope")


def test_ambiguous_prefix_is_reported(store: SessionStore) -> None:
    ids = {store.create().id for _ in range(300)}  # 8 hex chars: some share a 3-char prefix
    prefixes = [i[:3] for i in ids]
    shared = next(p for p in prefixes if prefixes.count(p) > 1)
    with pytest.raises(SessionNotFoundError, match="ambiguous"):
        store.get(shared)


def test_exports_in_markdown_and_json(store: SessionStore) -> None:
    session = store.create("export me")
    store.add_message(session.id, "user", "What is 2+2?")
    store.add_message(session.id, "assistant", "4", status="interrupted", model="m", meta={"prompt_tokens": 9})
    messages = store.messages(session.id)
    markdown = export_session(store.get(session.id), messages, "markdown")
    assert markdown.startswith("# export me")
    assert "## You" in markdown and "What is 2+2?" in markdown and "## Assistant (interrupted)" in markdown
    data = json.loads(export_session(store.get(session.id), messages, "json"))
    assert data["session"]["name"] == "export me"
    assert [m["content"] for m in data["messages"]] == ["What is 2+2?", "4"]
    assert data["messages"][1]["meta"] == {"prompt_tokens": 9}


def test_database_is_in_wal_mode(store: SessionStore) -> None:
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _writer(data_dir: str, session_id: str, label: str, count: int) -> None:
    store = SessionStore(open_database(Path(data_dir)))
    for index in range(count):
        store.add_message(session_id, "user", f"{label}-{index}")


def test_two_processes_write_the_same_data_dir_safely(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared"
    store = SessionStore(open_database(data_dir))
    session = store.create()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(data_dir), session.id, label, 60)) for label in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    contents = [m.content for m in store.messages(session.id)]
    assert sorted(contents) == sorted(f"{label}-{i}" for label in "ab" for i in range(60))
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_database_from_a_newer_memchat_is_refused(tmp_path: Path) -> None:
    db = open_database(tmp_path / "d")
    SessionStore(db)
    db.execute("UPDATE schema_versions SET version = 99 WHERE component = 'sessions'")
    db.conn.commit()
    with pytest.raises(StoreVersionError, match="newer memchat.*upgrade"):
        SessionStore(open_database(tmp_path / "d"))


def test_a_data_dir_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DataDirError, match="cannot create data dir.*--data-dir"):
        open_database(blocker / "data")
    with pytest.raises(DataDirError, match="not a directory"):
        open_database(blocker)


def test_a_damaged_database_file_is_a_clear_error(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    (data_dir / "memchat.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DataDirError, match="cannot open database.*move it away"):
        open_database(data_dir)


def test_deleting_messages_keeps_the_rest_and_drops_a_summary_that_covered_them(store: SessionStore) -> None:
    session = store.create("long chat")
    other = store.create("other chat")
    ids = [store.add_message(session.id, role, f"{role} {i}").id
           for i in range(4) for role in ("user", "assistant")]
    elsewhere = store.add_message(other.id, "user", "keep me").id
    store.save_summary(session.id, "Turns 0 to 3 in short.", covers_until=3)

    assert store.delete_messages(session.id, [ids[6], ids[7], elsewhere]) == 2  # after the summary's turns
    assert [m.id for m in store.messages(session.id)] == ids[:6]
    assert [m.content for m in store.messages(other.id)] == ["keep me"]
    assert store.summary(session.id).text == "Turns 0 to 3 in short."
    assert [i for i, _ in store.tail(session.id, 10)] == list(range(6))  # indices close up

    assert store.delete_messages(session.id, [ids[2], ids[3]]) == 2  # turns it summarised
    assert store.summary(session.id) is None
    assert [m.content for m in store.messages(session.id)] == ["user 0", "assistant 0", "user 2", "assistant 2"]
    assert store.delete_messages(session.id, []) == 0


def test_a_session_named_after_a_removed_message_takes_the_next_ones_name(store: SessionStore) -> None:
    first = "My bank PIN is 0000 and my password is hunter2, please remember both of them forever"
    session = store.create(session_title(first))
    assert session.name == first[:60] + "…"
    ids = [store.add_message(session.id, role, text).id for role, text in
           [("user", first), ("assistant", "Noted."), ("user", "Plan a trip to Oslo\nwith kids"), ("assistant", "Ok")]]
    store.delete_messages(session.id, ids[:2])
    assert store.get(session.id).name == "Plan a trip to Oslo"
    store.delete_messages(session.id, ids[2:])
    assert store.get(session.id).name == "New chat"
    named = store.create("Holiday plans")  # a name the user gave stays
    message = store.add_message(named.id, "user", "Book the ferry")
    store.delete_messages(named.id, [message.id])
    assert store.get(named.id).name == "Holiday plans"


def test_a_branch_copies_the_turns_up_to_a_message_and_leaves_the_original(store: SessionStore) -> None:
    session = store.create("Trip")
    ids = [store.add_message(session.id, role, f"{role} {i}", meta={"i": i}).id
           for i in range(3) for role in ("user", "assistant")]
    store.save_summary(session.id, "Turns 0 and 1 in short.", covers_until=1)
    branch = store.branch(session.id, ids[3])
    assert branch.name == "Trip · branch" and branch.id != session.id
    copied = store.messages(branch.id)
    assert [(m.role, m.content, m.meta) for m in copied] == [
        (m.role, m.content, m.meta) for m in store.messages(session.id)[:4]]
    assert [m.created_at for m in copied] == [m.created_at for m in store.messages(session.id)[:4]]
    assert store.summary(branch.id).text == "Turns 0 and 1 in short."  # it covers only copied turns
    assert len(store.messages(session.id)) == 6  # the original is untouched
    store.add_message(branch.id, "user", "another way")
    assert len(store.messages(session.id)) == 6 and len(store.messages(branch.id)) == 5
    early = store.branch(session.id, ids[0], "Early")
    assert early.name == "Early" and store.summary(early.id) is None  # its summary would cover later turns
    with pytest.raises(MemchatError, match="is not in the session"):
        store.branch(branch.id, ids[5])


def test_an_answer_knows_the_message_it_replied_to(store: SessionStore) -> None:
    session = store.create()
    first = store.add_message(session.id, "assistant", "Hello! How can I help?")
    question = store.add_message(session.id, "user", "What is 2+2?")
    store.add_message(store.create().id, "user", "interleaved from another chat")
    answer = store.add_message(session.id, "assistant", "4")
    assert store.question_of(answer) == question
    assert store.question_of(first) is None
    with pytest.raises(MemchatError, match="no stored message #999"):
        store.message(999)
