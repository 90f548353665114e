"""Snapshots of the main screens at 80×24, in states with nothing nondeterministic on screen:
a stub model (fixed name, no generation) and stored chats with fixed times.

After an intended change of the layout, look at the new screenshots and accept them with
``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TextArea

from assistant.app import Assistant
from assistant.backends.base import Backend, ChatMessage, GenerationParams, ModelInfo
from assistant.config import Settings
from tui.app import ChatApp
from tui.screens.documents import DocumentsScreen

SIZE = (80, 24)
WHEN = "2026-05-01T14:03:00+00:00"


class StubBackend(Backend):
    """A 'model' with a fixed name that never has to answer here."""

    name = "stub"

    def __init__(self) -> None:
        self._info = ModelInfo("llama.cpp", "SmolLM2-360M-Instruct", "cpu", 8192)

    def load(self) -> ModelInfo:
        return self.info

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def apply_chat_template(self, messages: list[ChatMessage]) -> str:
        return "\n".join(m["content"] for m in messages)

    def stream(self, messages: list[ChatMessage], params: GenerationParams,
               cancel: threading.Event | None = None) -> Iterator[str]:
        yield "ok"


@pytest.fixture()
def stub_assistant(settings: Settings) -> Iterator[Assistant]:
    with Assistant(settings, backend=StubBackend()) as assistant:
        yield assistant


def context_meta() -> dict[str, Any]:
    """A recorded prompt account like ``PromptPlan.explain()`` writes."""
    return {
        "prompt_tokens": 412, "decode_tokens_per_s": 31.4,
        "cited": ["m7"], "supported_by": ["m12"],
        "support": [{"ref": "m12", "score": 1.0, "words": ["second", "largest", "Canada"],
                     "quotes": ["Montreal is the second-largest city in Canada."]}],
        "context": {
            "budget": 7680, "context_length": 8192, "prompt_tokens": 412, "window_start": 0, "kept_turns": 2,
            "dropped_turns": 0, "message_cut": False, "warnings": [],
            "sections": {
                "system": {"tokens": 38, "items": []},
                "summary": {"tokens": 0, "items": []},
                "facts": {"tokens": 9, "items": [{"ref": "m7", "text": "Carol lives in Montreal [m7]", "items": [7]}]},
                "memories": {"tokens": 120, "items": [
                    {"ref": "m7", "id": 7, "label": "chat 2026-04-02", "score": 0.032787, "tokens": 64,
                     "text": "User: My sister Carol moved to Montreal.\nAssistant: How exciting!"},
                    {"ref": "m12", "id": 12, "label": "notes.md p.2", "score": 0.016129, "tokens": 56,
                     "text": "Montreal is the second-largest city in Canada."}]},
                "window": {"tokens": 40, "items": [{"message_id": 1, "index": 0, "role": "user"},
                                                   {"message_id": 2, "index": 1, "role": "assistant"}]},
                "message": {"tokens": 11, "items": []},
            },
        },
    }


def stored_chat(assistant: Assistant) -> str:
    """A chat with a code answer and a recorded context, at fixed times; returns its id."""
    sessions = assistant.sessions
    session = sessions.create("Python lists")
    sessions.add_message(session.id, "user", "How do I reverse a list in Python?")
    sessions.add_message(session.id, "assistant", "Use slicing, which makes a copy:\n\n```python\n"
                         "items = [1, 2, 3]\nprint(items[::-1])\n```")
    sessions.add_message(session.id, "user", "Where does Carol live now?")
    sessions.add_message(session.id, "assistant", "Carol lives in Montreal [m7].", meta=context_meta())
    other = sessions.create("Trip to Oslo")
    sessions.add_message(other.id, "user", "We fly to Oslo on Friday.")
    with sessions.db.conn:
        sessions.db.execute("UPDATE messages SET created_at = ?", [WHEN])
        sessions.db.execute("UPDATE sessions SET created_at = ?, updated_at = ? WHERE id = ?",
                            [WHEN, WHEN, session.id])
        sessions.db.execute("UPDATE sessions SET created_at = ?, updated_at = ? WHERE id = ?",
                            [WHEN, "2026-04-28T09:30:00+00:00", other.id])
    return session.id


async def settle(pilot: Pilot, condition=lambda: True, timeout: float = 60.0) -> None:  # noqa: ANN001
    """Wait for the model (and ``condition``), then stop cursors blinking."""
    app = pilot.app
    assert isinstance(app, ChatApp)
    deadline = time.monotonic() + timeout
    while not (app.model_info is not None and condition()):
        assert time.monotonic() < deadline, "the app did not settle"
        await pilot.pause(0.05)
    for widget in app.screen.query("Input, TextArea"):
        assert isinstance(widget, (Input, TextArea))
        widget.cursor_blink = False
    await pilot.pause(0.1)


def test_empty_chat(snap_compare, stub_assistant: Assistant) -> None:  # noqa: ANN001
    assert snap_compare(ChatApp(stub_assistant), terminal_size=SIZE, run_before=settle)


def test_empty_chat_in_the_light_theme(snap_compare, stub_assistant: Assistant) -> None:  # noqa: ANN001
    app = ChatApp(stub_assistant)

    async def light(pilot: Pilot) -> None:
        app.theme = "textual-light"
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=light)


def test_resumed_chat_with_code(snap_compare, stub_assistant: Assistant) -> None:  # noqa: ANN001
    app = ChatApp(stub_assistant, stored_chat(stub_assistant))
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_help(snap_compare, stub_assistant: Assistant) -> None:  # noqa: ANN001
    assert snap_compare(ChatApp(stub_assistant), press=["f1"], terminal_size=SIZE, run_before=settle)


def test_sessions_panel(snap_compare, stub_assistant: Assistant) -> None:  # noqa: ANN001
    app = ChatApp(stub_assistant, stored_chat(stub_assistant))

    async def sessions(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: app.screen.query_one(DataTable).row_count == 2)

    assert snap_compare(app, terminal_size=SIZE, run_before=sessions)


def test_context_panel(snap_compare, stub_assistant: Assistant) -> None:  # noqa: ANN001
    app = ChatApp(stub_assistant, stored_chat(stub_assistant))

    async def context(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+t")
        await settle(pilot, lambda: app.screen.query_one(DataTable).row_count > 5)

    assert snap_compare(app, terminal_size=SIZE, run_before=context)


def test_documents_panel_empty(snap_compare, stub_assistant: Assistant) -> None:  # noqa: ANN001
    app = ChatApp(stub_assistant)

    async def documents(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+l")
        await settle(pilot, lambda: isinstance(app.screen, DocumentsScreen)
                     and "No documents" in str(app.screen.query_one("#doc-empty").render()))

    assert snap_compare(app, terminal_size=SIZE, run_before=documents)


def test_knowledge_panel_empty(snap_compare, stub_assistant: Assistant) -> None:  # noqa: ANN001
    app = ChatApp(stub_assistant)

    async def knowledge(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+g")
        await settle(pilot, lambda: "empty" in str(app.screen.query_one("#kg-entity").render()))

    assert snap_compare(app, terminal_size=SIZE, run_before=knowledge)
