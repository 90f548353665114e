"""The chat app driven through Textual's Pilot with the real embedded model."""

from __future__ import annotations

import asyncio
import time

from textual.widgets import Input

from assistant.app import Assistant
from tui.app import ChatApp
from tui.widgets import ChatMessage, StatusBar


async def wait_for(pilot, condition, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def send(pilot, app: ChatApp, text: str) -> None:  # noqa: ANN001
    app.query_one("#prompt", Input).value = text
    await pilot.press("enter")


async def test_a_full_exchange_streams_and_is_stored(assistant: Assistant) -> None:
    app = ChatApp(assistant)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.model_info is not None)
        assert "SmolLM2" in str(app.query_one("#status", StatusBar).render())
        await send(pilot, app, "What is the capital of France?")
        await wait_for(pilot, lambda: len(app.query(ChatMessage)) == 2 and not app.generating)
        user, answer = app.query(ChatMessage)
        assert user.role == "user" and answer.role == "assistant"
        assert "Paris" in answer.source
        assert "tok/s" in str(app.query_one("#status", StatusBar).render())
        assert app.query_one("#prompt", Input).value == ""
    stored = assistant.sessions.messages(app.session.id)
    assert [m.content for m in stored] == ["What is the capital of France?", answer.source]


async def test_escape_stops_generation_and_keeps_the_text(assistant: Assistant) -> None:
    assistant.settings.max_new_tokens = 2000
    assistant.settings.temperature = 0.8
    app = ChatApp(assistant)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.model_info is not None)
        await send(pilot, app, "Write an extremely long story about a dragon and a knight.")
        await wait_for(pilot, lambda: app.generating and len(app.query(ChatMessage)[-1].source) > 20)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.generating, timeout=10)
        answer = app.query(ChatMessage)[-1]
        assert answer.has_class("interrupted")
    stored = assistant.sessions.messages(app.session.id)[-1]
    assert stored.status == "interrupted" and stored.content == answer.source


async def test_resuming_a_session_shows_its_turns_and_continues_it(assistant: Assistant) -> None:
    session = assistant.sessions.create("old chat")
    assistant.sessions.add_message(session.id, "user", "My name is Zoltan.")
    assistant.sessions.add_message(session.id, "assistant", "Nice to meet you, Zoltan!")
    app = ChatApp(assistant, session.id)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.model_info is not None)
        shown = [m.source for m in app.query(ChatMessage)]
        assert shown == ["My name is Zoltan.", "Nice to meet you, Zoltan!"]
        assert app.sub_title == "old chat"
        await send(pilot, app, "What is my name?")
        await wait_for(pilot, lambda: len(app.query(ChatMessage)) == 4 and not app.generating)
    assert len(assistant.sessions.messages(session.id)) == 4


async def test_sending_while_answering_is_refused_politely(assistant: Assistant) -> None:
    assistant.settings.max_new_tokens = 400
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.model_info is not None)
        await send(pilot, app, "Write a long story.")
        await wait_for(pilot, lambda: app.generating)
        await send(pilot, app, "Another question")
        assert len(app.query(ChatMessage)) == 2
        assert app.query_one("#prompt", Input).value == "Another question"  # nothing typed is lost
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.generating)
        await asyncio.sleep(0)
