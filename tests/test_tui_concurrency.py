"""The chat app while a document loads: a message sent meanwhile is answered and stored; a
message that cannot be started is kept in the box with a one-line notification; deleting a
chat asks whether to keep what memory learnt from it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from assistant.app import Assistant
from memory.documents import list_documents
from tests.test_tui import (ChatMessage, exchange, load_in_chat, open_sessions_panel, recorded_notifications, send,
                            started, stored_chat, wait_for)
from tui.app import ChatApp
from tui.screens.dialogs import DeleteChatDialog


def big_book(path: Path, paragraphs: int = 8000) -> Path:
    path.write_text("\n\n".join(f"Paragraph {i}: the quick brown fox number {i} jumps over the lazy dog by the "
                                f"river {i % 97}." for i in range(paragraphs)), encoding="utf-8")
    return path


async def test_a_message_sent_while_a_load_runs_is_answered_and_stored(assistant: Assistant, tmp_path: Path) -> None:
    assistant.settings.max_new_tokens = 16
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        loader = await load_in_chat(pilot, app, big_book(tmp_path / "book.txt"))
        label = loader.query_one("#load-label")
        await wait_for(pilot, lambda: "passages" in str(label.render()))  # the load is writing
        answer = await exchange(pilot, app, "Hello, what is a river?")
        assert loader.running, "the load finished first: the test proved nothing"
        assert answer.source and not answer.has_class("error")
        user = app.chat_screen.query(ChatMessage)[-2]
        assert user.role == "user" and user.source == "Hello, what is a river?"
        assert app.chat_screen.prompt.text == ""
        await pilot.press("escape")  # cancel the load
        await wait_for(pilot, lambda: not loader.running)
    stored = assistant.sessions.list()
    assert len(stored) == 1 and stored[0].message_count == 2
    assert [m.content for m in assistant.sessions.messages(stored[0].id)][0] == "Hello, what is a river?"
    assert list_documents(assistant.memory) == []  # cancelled: left out whole


async def test_a_message_that_cannot_start_stays_in_the_box(assistant: Assistant,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def locked(*args, **kwargs):  # noqa: ANN002, ANN003 - the fault: another writer holds the database
        raise sqlite3.OperationalError("database is locked")

    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        seen = recorded_notifications(app)
        monkeypatch.setattr(assistant.sessions, "create", locked)
        await send(pilot, app, "Please keep this message")
        await wait_for(pilot, lambda: seen)
        assert seen[0][0] == "error" and "busy" in seen[0][1] and "\n" not in seen[0][1]
        assert app.chat_screen.prompt.text == "Please keep this message"
        assert not app.chat_screen.query(ChatMessage)
        monkeypatch.undo()
        await pilot.press("enter")  # the same message, sent again once the database is free
        await wait_for(pilot, lambda: len(app.chat_screen.query(ChatMessage)) == 2 and not app.chat_screen.generating)
        assert app.chat_screen.prompt.text == ""
    assert [m.content for m in assistant.sessions.messages(assistant.sessions.list()[0].id)][0] == (
        "Please keep this message")


async def test_deleting_a_chat_in_the_panel_forgets_its_memories_unless_kept(assistant: Assistant) -> None:
    from textual.widgets import Checkbox

    from memory.chat_memory import Exchange, remember_exchange

    for name, word in (("Kept", "marmalade"), ("Gone", "tangerine")):
        session_id = stored_chat(assistant, name, f"I love {word} on toast.", "Noted.")
        question, answer = assistant.sessions.messages(session_id)
        remember_exchange(assistant.db, Exchange(session_id, name, question.content, answer.content,
                                                 answer.created_at, answer.id, 0))
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        screen = await open_sessions_panel(pilot, app, 2)
        await pilot.press("d")  # the most recent: "Gone"
        await wait_for(pilot, lambda: isinstance(app.screen, DeleteChatDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: len(assistant.sessions.list()) == 1)
        assert assistant.sessions.list()[0].name == "Kept"
        await wait_for(pilot, lambda: screen.table.row_count == 1)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DeleteChatDialog))
        app.screen.query_one("#keep-memories", Checkbox).value = True
        await pilot.press("y")
        await wait_for(pilot, lambda: not assistant.sessions.list())
    texts = [row[0] for row in assistant.memory.db.execute("SELECT text FROM memory_items")]
    assert any("marmalade" in text for text in texts)
    assert not any("tangerine" in text for text in texts)
