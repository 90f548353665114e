"""The chat app driven through Textual's Pilot with the real embedded models."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Markdown

from assistant.app import Assistant
from memory.documents import list_documents, load_paths
from pdf_files import make_pdf
from tui.app import ChatApp
from tui.loading import LoadProgress
from tui.screens.chat import ChatScreen
from tui.screens.context import ContextScreen
from tui.screens.dialogs import AskDialog, ConfirmDialog, DeleteChatDialog, SourcesDialog, highlighted
from tui.screens.documents import DocumentsScreen
from tui.screens.help import HelpScreen
from tui.screens.knowledge import EntityList, FactTable, KnowledgeScreen
from tui.screens.sessions import SessionsScreen
from tui.widgets import ChatMessage, Note, SourcesLine

REPO_ROOT = Path(__file__).resolve().parent.parent
ZEBRA = ("# Project Zebra\n\nProject Zebra is our secret satellite programme. The launch code for Project Zebra "
         "is 4417, and the launch site is the island of Kerguelen.\n")


async def wait_for(pilot: Pilot, condition: Callable[[], Any], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def started(pilot: Pilot, app: ChatApp) -> None:
    await wait_for(pilot, lambda: app.model_info is not None)


async def send(pilot: Pilot, app: ChatApp, text: str) -> None:
    """Type ``text`` in the prompt and press Enter."""
    app.chat_screen.prompt.load_text(text)
    app.chat_screen.prompt.focus()
    await pilot.press("enter")


async def exchange(pilot: Pilot, app: ChatApp, text: str) -> ChatMessage:
    """Send ``text`` and wait for the whole answer."""
    count = len(app.chat_screen.query(ChatMessage))
    await send(pilot, app, text)
    await wait_for(pilot, lambda: len(app.chat_screen.query(ChatMessage)) == count + 2
                   and not app.chat_screen.generating)
    return app.chat_screen.query(ChatMessage)[-1]


async def load_in_documents_panel(pilot: Pilot, app: ChatApp, path: Path) -> DocumentsScreen:
    """Open the documents panel (Ctrl+L), type ``path`` into it, press Enter, wait for the load."""
    await pilot.press("ctrl+l")
    screen = app.screen
    assert isinstance(screen, DocumentsScreen)
    await wait_for(pilot, lambda: "No documents loaded yet" in str(screen.query_one("#doc-empty").render()))
    screen.query_one("#doc-path", Input).value = str(path)
    screen.query_one("#doc-path", Input).focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: screen.table.row_count == 1)
    return screen


async def load_in_chat(pilot: Pilot, app: ChatApp, path: Path) -> LoadProgress:
    """Type ``/load PATH`` in the chat; returns the progress widget the load shows there."""
    await send(pilot, app, f"/load {path}")
    await wait_for(pilot, lambda: app.chat_screen.query(LoadProgress))
    return app.chat_screen.query_one(LoadProgress)


async def open_sessions_panel(pilot: Pilot, app: ChatApp, chats: int) -> SessionsScreen:
    """Press Ctrl+O and wait until the sessions panel lists ``chats`` chats."""
    await pilot.press("ctrl+o")
    screen = app.screen
    assert isinstance(screen, SessionsScreen)
    await wait_for(pilot, lambda: screen.table.row_count == chats)
    return screen


def stored_chat(assistant: Assistant, name: str, *turns: str) -> str:
    """A stored session of ``turns`` (the user's, then the assistant's, in turn); returns its id."""
    session = assistant.sessions.create(name)
    for number, text in enumerate(turns):
        assistant.sessions.add_message(session.id, "user" if number % 2 == 0 else "assistant", text)
    return session.id


def notes(app: ChatApp) -> list[str]:
    return [note.source for note in app.chat_screen.query(Note)]


def rows(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def recorded_notifications(app: ChatApp) -> list[tuple[str, str]]:
    """Record (severity, message) of every notification from now on."""
    seen: list[tuple[str, str]] = []
    notify = app.notify

    def record(message: str, *args: Any, **kwargs: Any) -> None:
        seen.append((kwargs.get("severity", "information"), message))
        notify(message, *args, **kwargs)

    app.notify = record  # type: ignore[method-assign]
    return seen


@pytest.fixture()
def zebra(tmp_path: Path) -> Path:
    path = tmp_path / "zebra.md"
    path.write_text(ZEBRA, encoding="utf-8")
    return path


# -- chat ------------------------------------------------------------------------------------------------
async def test_a_full_exchange_streams_and_is_stored(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    assistant.settings.max_new_tokens = 32
    shown: list[str] = []  # what the answer showed as each chunk arrived
    show_words = ChatScreen._show_words

    async def record(answer: ChatMessage, stream: Any, chunk: str) -> None:
        shown.append(answer.source)
        await show_words(answer, stream, chunk)

    monkeypatch.setattr(ChatScreen, "_show_words", staticmethod(record))
    app = ChatApp(assistant)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, app)
        assert "SmolLM2" in str(app.chat_screen.status.render())
        answer = await exchange(pilot, app, "What is the capital of France?")
        user = app.chat_screen.query(ChatMessage)[0]
        assert user.role == "user" and answer.role == "assistant"
        assert "Paris" in answer.source
        assert len(shown) > 5 and shown[0] == "" and shown == sorted(shown, key=len)  # chunk by chunk
        status = str(app.chat_screen.status.render())
        assert "tok/s" in status and f"/{app.model_info.context_length:,} tokens" in status
        assert app.chat_screen.prompt.text == ""
        assert app.chat_screen.selected is answer and answer.message_id is not None
    session = app.chat_screen.session
    stored = assistant.sessions.messages(session.id)
    assert [m.content for m in stored] == ["What is the capital of France?", answer.source]


async def test_escape_stops_generation_and_keeps_the_text(assistant: Assistant) -> None:
    assistant.settings.max_new_tokens = 2000  # greedy: a story far longer than the wait below
    app = ChatApp(assistant)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, app)
        await send(pilot, app, "Write an extremely long story about a dragon and a knight.")
        chat = app.chat_screen
        await wait_for(pilot, lambda: chat.generating and len(chat.query(ChatMessage)[-1].source) > 20)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not chat.generating, timeout=30)
        answer = chat.query(ChatMessage)[-1]
        assert answer.has_class("interrupted")
    stored = assistant.sessions.messages(chat.session.id)[-1]
    assert stored.status == "interrupted" and stored.content == answer.source


async def test_resuming_a_session_shows_its_turns_and_continues_it(assistant: Assistant) -> None:
    assistant.settings.max_new_tokens = 32
    session_id = stored_chat(assistant, "old chat", "My name is Zoltan.", "Nice to meet you, Zoltan!")
    app = ChatApp(assistant, session_id)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        shown = [m.source for m in app.chat_screen.query(ChatMessage)]
        assert shown == ["My name is Zoltan.", "Nice to meet you, Zoltan!"]
        assert app.chat_screen.sub_title == "old chat"
        await exchange(pilot, app, "What is my name?")
    assert len(assistant.sessions.messages(session_id)) == 4


async def test_sending_while_answering_is_refused_politely(assistant: Assistant) -> None:
    assistant.settings.max_new_tokens = 400
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await send(pilot, app, "Write a long story.")
        await wait_for(pilot, lambda: app.chat_screen.generating)
        await send(pilot, app, "Another question")
        assert len(app.chat_screen.query(ChatMessage)) == 2
        assert app.chat_screen.prompt.text == "Another question"  # nothing typed is lost
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.chat_screen.generating)


async def test_the_prompt_takes_several_lines_pastes_and_recalls_history(assistant: Assistant) -> None:
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        prompt = app.chat_screen.prompt
        await pilot.press(*"first", "ctrl+j", *"second")
        assert prompt.text == "first\nsecond"
        app.post_message(events.Paste("pasted\nlines"))  # as the terminal delivers a paste
        await pilot.pause()
        assert prompt.text == "first\nsecondpasted\nlines"
        assert not app.chat_screen.query(ChatMessage)  # neither a new line nor a paste sends
        await send(pilot, app, "/model")
        await wait_for(pilot, lambda: any("SmolLM2" in n for n in notes(app)))
        await pilot.press(*"draft")
        prompt.move_cursor((0, 0))
        await pilot.press("up")
        assert prompt.text == "/model"
        await pilot.press("down")
        assert prompt.text == "draft"


async def test_errors_are_notifications_with_what_to_do(assistant: Assistant, tmp_path: Path) -> None:
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        seen = recorded_notifications(app)
        await send(pilot, app, "/nope")
        await wait_for(pilot, lambda: seen)
        assert seen[0][0] == "error" and "unknown command /nope" in seen[0][1] and "/help" in seen[0][1]
        await send(pilot, app, f"/load {tmp_path / 'missing.txt'}")
        await wait_for(pilot, lambda: len(seen) > 1)
        assert seen[1][0] == "error" and "no such file or folder" in seen[1][1]
        await send(pilot, app, "/search")
        await wait_for(pilot, lambda: len(seen) > 2)
        assert seen[2] == ("error", "say what to look for: /search QUERY")


# -- sessions ------------------------------------------------------------------------------------------
async def test_switching_sessions_in_the_sessions_panel(assistant: Assistant) -> None:
    first = stored_chat(assistant, "Trip to Oslo", "We fly to Oslo on Friday.", "Have a good trip!")
    second = stored_chat(assistant, "Recipes", "How long do I boil an egg?",
                         "About nine minutes for a hard-boiled egg.")
    app = ChatApp(assistant, first)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        screen = await open_sessions_panel(pilot, app, 2)
        names = [row[1] for row in rows(screen.table)]
        assert names == ["Recipes", "Trip to Oslo"]  # most recent first
        screen.table.move_cursor(row=0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is app.chat_screen and app.chat_screen.sub_title == "Recipes")
        shown = [m.source for m in app.chat_screen.query(ChatMessage)]
        assert shown == ["How long do I boil an egg?", "About nine minutes for a hard-boiled egg."]
        assert app.chat_screen.session.id == second


async def test_the_sessions_filter_finds_chats_by_name_or_words_in_them(assistant: Assistant) -> None:
    for name, said in (("Trip to Oslo", "We fly on Friday."), ("Recipes", "How long do I boil an egg?"),
                       ("Garden", "The tulips in Oslo's park are out.")):
        stored_chat(assistant, name, said)
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        screen = await open_sessions_panel(pilot, app, 3)
        await pilot.press("slash")
        await pilot.press(*"garden")  # typed into the filter: r, d, e and n are not the panel's keys here
        await wait_for(pilot, lambda: screen.table.row_count == 1)
        assert app.screen is screen and screen.query_one("#sessions-filter", Input).value == "garden"
        screen.query_one("#sessions-filter", Input).value = "oslo"
        await wait_for(pilot, lambda: screen.table.row_count == 2)
        assert sorted(row[1] for row in rows(screen.table)) == ["Garden", "Trip to Oslo"]
        await pilot.press("enter")  # from the filter to the list
        assert screen.table.has_focus
        screen.query_one("#sessions-filter", Input).value = "no such words"
        await wait_for(pilot, lambda: "No chat matches “no such words”" in str(
            screen.query_one("#sessions-empty").render()) and screen.query_one("#sessions-empty").display)
    assert [s.name for s in assistant.sessions.list(matching="EGG")] == ["Recipes"]  # any case
    assert assistant.sessions.list(matching="100%") == []  # LIKE's wildcards are taken literally


async def test_renaming_exporting_and_deleting_sessions(assistant: Assistant, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    session = assistant.sessions.get(stored_chat(assistant, "Garden", "When do I plant tulips?",
                                                 "In autumn, before the first frost."))
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        screen = await open_sessions_panel(pilot, app, 1)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, AskDialog))
        app.screen.query_one(Input).value = "Garden plans"
        await pilot.press("enter")
        await wait_for(pilot, lambda: assistant.sessions.get(session.id).name == "Garden plans")
        await wait_for(pilot, lambda: rows(screen.table) and rows(screen.table)[0][1] == "Garden plans")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AskDialog))
        default = app.screen.query_one(Input).value
        assert Path(default).parent == tmp_path and default.endswith(".md")
        await pilot.press("enter")
        await wait_for(pilot, lambda: Path(default).exists())
        assert "In autumn, before the first frost." in Path(default).read_text(encoding="utf-8")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DeleteChatDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: not assistant.sessions.list())
        await wait_for(pilot, lambda: screen.table.row_count == 0)


# -- documents, search and context -----------------------------------------------------------------------
async def test_load_then_search_finds_the_document(assistant: Assistant, zebra: Path) -> None:
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        loader = await load_in_chat(pilot, app, zebra)
        await wait_for(pilot, lambda: not loader.running)
        assert "Loaded zebra.md" in str(loader.query_one("#load-label").render())
        await send(pilot, app, "/search launch code of Project Zebra")
        await wait_for(pilot, lambda: any("4417" in n for n in notes(app)))
        assert any("zebra.md" in n for n in notes(app))


async def test_escape_cancels_a_load_and_leaves_the_document_out(assistant: Assistant, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("\n\n".join(f"Paragraph {i}: the quick brown fox number {i} jumps over the lazy dog by the "
                                f"river {i % 97}." for i in range(8000)), encoding="utf-8")
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        loader = await load_in_chat(pilot, app, big)
        label = loader.query_one("#load-label")
        await wait_for(pilot, lambda: "passages" in str(label.render()))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not loader.running)
        assert str(label.render()).startswith("✗ Cancelled: the document in progress was left out")
    assert list_documents(assistant.memory) == []


async def test_documents_panel_loads_lists_and_removes(assistant: Assistant, zebra: Path) -> None:
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        screen = await load_in_documents_panel(pilot, app, zebra)
        name, _, passages, _ = rows(screen.table)[0]
        assert name == "zebra.md" and int(passages) >= 1
        screen.table.focus()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.table.row_count == 0)
    assert list_documents(assistant.memory) == []


async def test_context_panel_shows_what_the_prompt_held(assistant: Assistant, zebra: Path) -> None:
    assistant.settings.max_new_tokens = 32
    load_paths(assistant.memory, [zebra])
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        answer = await exchange(pilot, app, "What is the launch code for Project Zebra?")
        assert answer.meta["context"]["sections"]["memories"]["items"]
        await pilot.press("ctrl+t")
        screen = app.screen
        assert isinstance(screen, ContextScreen)
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count > 0)
        keys = [row.key.value for row in table.ordered_rows]
        assert {"section:system", "section:memories", "section:window", "section:message"} <= set(keys)
        memories = rows(table)[keys.index("section:memories")]
        assert memories[2].endswith("%") and "memor" in memories[4]
        memory_key = next(k for k in keys if k.startswith("memory:"))
        assert "zebra.md" in rows(table)[keys.index(memory_key)][4]
        table.move_cursor(row=keys.index(memory_key))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SourcesDialog))
        assert any("4417" in source.text for source in app.screen.sources)
        await pilot.press("escape")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.chat_screen)


PUMP_MANUAL = [
    ["Harbor Pump HP-40 Owner's Manual", "Chapter 1. Safety",
     "Always disconnect the HP-40 from mains power before opening the housing.",
     "The pump must never run dry for more than 30 seconds; the seals overheat."],
    ["Chapter 2. Maintenance", "Replace the intake filter every 90 days, or sooner in sandy water.",
     "The impeller bearings need two drops of food-grade silicone oil each spring."],
    ["Chapter 3. Troubleshooting", "If the red LED blinks three times, the float switch is stuck.",
     "Lift the float by hand and release it; the pump restarts within ten seconds."],
]


async def test_a_new_user_loads_a_pdf_asks_and_sees_the_passage_it_drew_on(assistant: Assistant,
                                                                          tmp_path: Path) -> None:
    """The done bar: load a PDF from the documents panel, ask about it, see its sources under
    the answer, and open the passage (its sentence highlighted) from the context panel."""
    pdf = make_pdf(tmp_path / "hp40-manual.pdf", PUMP_MANUAL)
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await load_in_documents_panel(pilot, app, pdf)
        # the memory writer, started with the app, may still be reading the new passages into
        # the graph (which retrieval uses): the question must meet the same memory every run
        assert await asyncio.to_thread(assistant.memory_writer.flush, 120)
        await pilot.press("escape")
        answer = await exchange(pilot, app, "What does the manual say about the intake filter?")
        assert "90 days" in answer.source
        [line] = app.chat_screen.query(SourcesLine)
        assert line.answer is answer
        assert re.search(r"^Sources: hp40-manual\.pdf p\.[\d, ]*\b2\b", str(line.render()))  # page 2 among them
        await pilot.press("ctrl+t")
        context = app.screen
        assert isinstance(context, ContextScreen)
        table = context.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count > 0)
        assert "hp40-manual.pdf p.2" in str(context.query_one("#context-heading").render())
        part, *_, what = rows(table)[table.cursor_row]  # the cursor starts on the best source
        assert part.startswith("★ m") and "hp40-manual.pdf p.2" in what
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SourcesDialog))
        [source] = app.screen.sources
        assert source.where == "hp40-manual.pdf p.2"
        assert source.quotes == ("Replace the intake filter every 90 days, or sooner in sandy water.",)
        assert any(span.style == "bold reverse" for span in highlighted(source).spans)


async def test_a_click_on_the_sources_line_explains_the_answer(assistant: Assistant, zebra: Path) -> None:
    load_paths(assistant.memory, [zebra])
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        first = await exchange(pilot, app, "What is the launch code for Project Zebra?")
        # the first exchange is read into the graph in the background, and its facts go into the
        # next prompt: let that finish, so the second question meets the same prompt every run
        assert await asyncio.to_thread(assistant.memory_writer.flush, 120)
        await exchange(pilot, app, "Thanks!")
        lines = app.chat_screen.query(SourcesLine)
        assert [line.answer for line in lines] == [first]  # "Thanks!" drew on nothing
        await pilot.click(lines.first())
        await wait_for(pilot, lambda: isinstance(app.screen, ContextScreen))
        assert app.screen.message_id == first.message_id


async def test_summarize_writes_a_summary_into_the_chat(assistant: Assistant, zebra: Path) -> None:
    load_paths(assistant.memory, [zebra])
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        seen = recorded_notifications(app)
        await send(pilot, app, "/summarize zebra.md")
        await wait_for(pilot, lambda: notes(app) and not notes(app)[0].startswith("Summarising")
                       and not app.chat_screen.generating)
        assert not seen
        [summary] = notes(app)
        assert summary.startswith("**Summary of zebra.md**") and len(summary) > 60
    kinds = {r[0] for r in assistant.memory.db.execute("SELECT kind FROM memory_items")}
    assert "summary" in kinds  # stored, so later answers can draw on it


# -- knowledge ---------------------------------------------------------------------------------------------
async def test_the_knowledge_panel_shows_what_a_chat_taught(assistant: Assistant) -> None:
    assistant.settings.max_new_tokens = 32
    app = ChatApp(assistant)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, app)
        await exchange(pilot, app, "My sister Carol moved from Lyon to Montreal last spring and works at Ubisoft")
        assistant.memory_writer.flush(60)
        assistant.extract_knowledge()
        await send(pilot, app, "/kg Carol")
        screen = app.screen
        assert isinstance(screen, KnowledgeScreen)
        facts = screen.query_one(FactTable)
        await wait_for(pilot, lambda: any("Carol lives in Montreal" in row[0] for row in rows(facts)))
        fact_rows = rows(facts)
        montreal = next(i for i, row in enumerate(fact_rows) if row[0] == "Carol lives in Montreal")
        assert fact_rows[montreal][1].startswith("since ")
        assert any(row[0] == "Carol lived in Lyon" for row in fact_rows)  # the past, kept
        facts.focus()
        facts.move_cursor(row=montreal)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SourcesDialog))
        assert any("Carol moved from Lyon to Montreal" in s.text for s in app.screen.sources)
        await pilot.press("escape")
        screen.query_one(EntityList).focus()
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, AskDialog))
        app.screen.query_one(Input).value = "Carol Martin"
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.entity is not None and screen.entity.name == "Carol Martin")
        carol = screen.entity.id
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, AskDialog))
        app.screen.query_one(Input).value = "Ubisoft"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: assistant.knowledge.get("Ubisoft").id == carol)  # its names moved over
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: not assistant.knowledge.find("Carol Martin"))


async def test_copy_puts_the_selected_answer_or_its_code_on_the_clipboard(assistant: Assistant) -> None:
    code_answer = "Slice it:\n\n```python\nitems = [1, 2, 3]\nprint(items[::-1])\n```\n"
    session_id = stored_chat(assistant, "Python lists", "How do I reverse a list?", code_answer, "Thanks!",
                             "You are welcome.")
    app = ChatApp(assistant, session_id)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        seen = recorded_notifications(app)
        await send(pilot, app, "/copy")
        await wait_for(pilot, lambda: app.clipboard == "You are welcome.")
        await send(pilot, app, "/copy code")
        no_code = "the selected answer has no code block; /copy copies all of it"
        await wait_for(pilot, lambda: ("error", no_code) in seen)
        await pilot.press("alt+up")  # the answer before
        await send(pilot, app, "/copy code")
        await wait_for(pilot, lambda: app.clipboard == "items = [1, 2, 3]\nprint(items[::-1])\n")


async def test_retry_replaces_the_last_answer_everywhere(assistant: Assistant) -> None:
    assistant.settings.max_new_tokens = 16
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await exchange(pilot, app, "My favourite colour is teal.")
        old = await exchange(pilot, app, "What is the capital of France?")
        session = app.chat_screen.session
        old_created = assistant.sessions.message(old.message_id).created_at
        await send(pilot, app, "/retry")
        await wait_for(pilot, lambda: not app.chat_screen.generating and app.chat_screen.answers
                       and app.chat_screen.answers[-1] is not old and app.chat_screen.answers[-1].message_id)
        shown = [(m.role, m.source) for m in app.chat_screen.query(ChatMessage)]
        assert [text for role, text in shown if role == "user"] == ["My favourite colour is teal.",
                                                                  "What is the capital of France?"]
        assert len(shown) == 4
        new = app.chat_screen.answers[-1]
    stored = assistant.sessions.messages(session.id)
    assert len(stored) == 4 and stored[-1].id == new.message_id and stored[-1].content == new.source
    assert stored[-1].created_at > old_created  # written anew, not the old answer kept
    assert assistant.memory_writer.flush(120)
    rounds = assistant.memory.db.execute("SELECT COUNT(*) FROM memory_items WHERE session_id = ?",
                                         [session.id]).fetchone()[0]
    assert rounds == 2  # one memory per exchange: the retried one replaced, not piled up


async def test_branch_goes_on_from_the_selected_answer_in_a_new_chat(assistant: Assistant) -> None:
    session_id = stored_chat(assistant, "Colours", "My favourite colour is teal.", "Teal is lovely.",
                             "And my car is red.", "Red cars are fast.")
    app = ChatApp(assistant, session_id)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await pilot.press("alt+up")  # select the first answer
        await send(pilot, app, "/branch")
        await wait_for(pilot, lambda: app.chat_screen.session.id != session_id)
        assert app.chat_screen.sub_title == "Colours · branch"
        assert [m.source for m in app.chat_screen.query(ChatMessage)] == ["My favourite colour is teal.",
                                                                       "Teal is lovely."]
    assert len(assistant.sessions.messages(session_id)) == 4


# -- help and the palette ----------------------------------------------------------------------------------
async def test_help_lists_the_commands_and_keys(assistant: Assistant) -> None:
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, app, "/help")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = app.screen.query_one("#help-text", Markdown).source
        for command in ("/load PATH", "/search QUERY", "/kg [NAME]", "/forget [ITEM_ID]", "/summarize DOC",
                        "/new", "/sessions", "/model", "/help"):
            assert f"`{command}`" in text
        for key in ("Ctrl+N", "Ctrl+O", "Ctrl+T", "Ctrl+G", "Ctrl+L", "Ctrl+P", "Ctrl+Q", "Esc", "Ctrl+J"):
            assert key in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.chat_screen)


async def test_the_command_palette_offers_the_same_actions(assistant: Assistant) -> None:
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"Sessions")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen))
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"Search memory")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.prompt.text == "/search ")


# -- the real app in a real terminal ---------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_app_answers_in_a_real_terminal(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "tui_smoke.sh")], capture_output=True, text=True,
                            timeout=400, env={**_clean_env(), "MEMCHAT_SMOKE_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("MEMCHAT_", "TMUX"))}


async def test_forget_takes_the_last_exchange_off_the_screen_and_out_of_the_next_prompt(
        assistant: Assistant) -> None:
    assistant.settings.max_new_tokens = 16
    app = ChatApp(assistant)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await exchange(pilot, app, "My favourite colour is teal.")
        answer = await exchange(pilot, app, "My locker number at the gym is 5821.")
        assert assistant.memory.item_ids_for_message(answer.message_id)
        session = app.chat_screen.session
        assert any("5821" in m["content"] for m in assistant.chat.plan(session.id, "What is my locker?").messages)
        await send(pilot, app, "/forget")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "leave this chat, long-term memory and the knowledge graph" in app.screen.question
        await pilot.press("y")
        await wait_for(pilot, lambda: len(app.chat_screen.query(ChatMessage)) == 2)
        shown = [m.source for m in app.chat_screen.query(ChatMessage)]
        assert shown[0] == "My favourite colour is teal." and not any("5821" in text for text in shown)
        assert app.chat_screen.selected is app.chat_screen.answers[-1]
        assert app.chat_screen.prompt.past_prompts == ["My favourite colour is teal.", "/forget"]  # Up won't
        # bring the forgotten message back
    assert len(assistant.sessions.messages(session.id)) == 2
    assert assistant.memory.item_ids_for_message(answer.message_id) == []
    plan = assistant.chat.plan(session.id, "What is my locker?")
    assert not any("5821" in m["content"] for m in plan.messages)
