"""The context panel: what one answer's prompt held, section by section, with each part's
token share, the retrieved memories' scores and ids; Enter opens a part's source."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from sqlite_utils.db import NotFoundError
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from assistant.explain import SECTION_ORDER, answer_sources, source_label
from assistant.sessions import Message
from tui.background import background
from tui.format import day, one_line, plural
from tui.screens.dialogs import SourcesDialog
from tui.screens.panel import Panel, cursor_key
from tui.sources import SourceView, memory_sources, message_source

TEXT_WIDTH = 42  # fits 80 columns with the other columns
OTHER_COLUMNS = 38  # what the other columns and the cell padding take


@dataclass(frozen=True)
class ContextRow:
    """One row of the table: a section, or one of its parts. ``key`` says what its source is:
    'section:NAME', 'memory:ITEM_ID', 'fact:REF', 'turn:MESSAGE_ID' or 'summary'."""

    key: str
    part: str
    tokens: str = ""
    share: str = ""
    score: str = ""
    what: str = ""


def section_detail(name: str, context: dict[str, Any], items: list[dict[str, Any]]) -> str:
    if name == "window":
        if not items:
            return "no earlier turns"
        return (f"{plural(context['kept_turns'], 'turn')} from #{context['window_start'] + 1}; "
                f"{context['dropped_turns']} earlier left out")
    if name == "summary":
        return f"turns 1–{items[0]['covers_until'] + 1}, summarised" if items else "none"
    if name == "facts":
        return plural(len(items), "fact") if items else "none"
    if name == "memories":
        return plural(len(items), "memory", "memories") if items else "none"
    if name == "message":
        return "your message" + (", cut to fit" if context.get("message_cut") else "")
    return "instructions"


def context_rows(meta: dict[str, Any], turn_texts: dict[int, str] | None = None,
                 width: int = TEXT_WIDTH) -> list[ContextRow]:
    """The rows for an answer's ``meta`` (see ``PromptPlan.explain``); ``turn_texts`` maps the
    window's message ids to their text; ``width``: of the text column."""
    context = meta.get("context")
    if not context:
        return []
    turn_texts = turn_texts or {}
    drawn_on = set(answer_sources(meta))
    prompt = max(context["prompt_tokens"], 1)
    rows = []
    for name in SECTION_ORDER:
        section = context["sections"].get(name, {"tokens": 0, "items": []})
        tokens, items = section["tokens"], section["items"]
        rows.append(ContextRow(f"section:{name}", name.capitalize(), f"{tokens:,}", f"{tokens / prompt:.0%}",
                               what=section_detail(name, context, items)))
        for item in items:
            mark = "★ " if item.get("ref") in drawn_on else "  "
            if name == "memories":
                rows.append(ContextRow(f"memory:{item['id']}", f"{mark}{item['ref']}", f"{item['tokens']:,}",
                                       score=f"{item['score']:.3f}",
                                       what=one_line(f"#{item['id']} {item['label']}: "
                                                     f"{'(forgotten)' if item.get('forgotten') else item['text']}",
                                                     width)))
            elif name == "facts":
                sources = ", ".join(f"#{i}" for i in item["items"])
                rows.append(ContextRow(f"fact:{item['ref']}", f"{mark}{item['ref']}",
                                       what=one_line(f"{item['text']} (from {sources or '?'})", width)))
            elif name == "window":
                who = "you" if item["role"] == "user" else item["role"]
                text = turn_texts.get(item["message_id"], "")
                rows.append(ContextRow(f"turn:{item['message_id']}", f"  #{item['index'] + 1}",
                                       what=one_line(f"{who}: {text}", width)))
            elif name == "summary":
                rows.append(ContextRow("summary", "  summary", what="the chat's summary (Enter: read it)"))
    return rows


def context_heading(message: Message, position: int, count: int) -> str:
    meta = message.meta
    context = meta.get("context")
    lines = [f"Answer {position} of {count} · {day(message.created_at)} {message.created_at[11:16]}"]
    if not context:
        return lines[0] + "\nNo context was recorded for this answer."
    lines[0] += (f" · prompt {context['prompt_tokens']:,} of {context['budget']:,} tokens "
                 f"(context {context['context_length']:,})")
    lines.append(sources_heading(meta))
    lines += [f"⚠ {warning}" for warning in context.get("warnings", [])]
    return "\n".join(lines)


def sources_heading(meta: dict[str, Any]) -> str:
    """What the answer drew on: the sources the model cited, and those whose words it repeats."""
    cited = meta.get("cited") or []
    support = {found["ref"]: found for found in meta.get("support") or []}
    if not cited and not support:
        return "Sources: none matched (the answer repeats nothing particular from its memories or facts)"
    parts = [f"★ {ref} {source_label(meta, ref)}" + (" (cited)" if ref in cited else
                                                      f" (repeats {', '.join(support[ref]['words'][:4])})")
             for ref in answer_sources(meta)]
    return "Sources: " + "; ".join(parts) + " · Enter on a ★ row shows the passage"


class ContextTable(DataTable):
    """The parts of a prompt; Enter opens the selected part's source."""

    BINDINGS = [Binding("enter", "select_cursor", "Source")]


class ContextScreen(Panel):
    """What the prompt of one answer held."""

    SUB_TITLE = "Context of an answer"
    DEFAULT_CSS = """
    ContextScreen #context-heading {
        padding: 0 1;
        height: auto;
        color: $text-muted;
    }
    ContextScreen DataTable {
        height: 1fr;
    }
    """
    BINDINGS = [
        Binding("p", "step(-1)", "Previous answer"),
        Binding("n", "step(1)", "Next answer"),
    ]

    def __init__(self, answer_ids: Sequence[int], message_id: int) -> None:
        """``answer_ids``: the chat's answers, oldest first; ``message_id``: the one to explain."""
        super().__init__()
        self.answer_ids = list(answer_ids)
        self.message_id = message_id
        self.message: Message | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("Loading…", id="context-heading", markup=False)
        yield ContextTable(id="context", cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Part", "Tokens", "Share", "Score", "Source or text")
        table.focus()
        self.show(self.message_id)

    @background(exclusive=True, group="context")
    async def show(self, message_id: int) -> None:
        """Fill the panel for the answer ``message_id``."""
        self.message_id = message_id
        message, turn_texts = await asyncio.to_thread(self._fetch, message_id)
        self.message = message
        position = self.answer_ids.index(message_id) + 1 if message_id in self.answer_ids else 1
        self.query_one("#context-heading", Static).update(
            context_heading(message, position, max(len(self.answer_ids), 1)))
        table = self.query_one(DataTable)
        table.clear()
        rows = context_rows(message.meta, turn_texts, max(TEXT_WIDTH, self.size.width - OTHER_COLUMNS))
        for row in rows:
            part = Text(row.part, style="bold") if row.key.startswith("section:") else row.part
            table.add_row(part, row.tokens, row.share, row.score, row.what, key=row.key)
        first_source = next((i for i, row in enumerate(rows) if row.part.startswith("★")), None)
        if first_source is not None:
            table.move_cursor(row=first_source, animate=False)

    def _fetch(self, message_id: int) -> tuple[Message, dict[int, str]]:
        sessions = self.assistant.sessions
        message = sessions.message(message_id)
        window = message.meta.get("context", {}).get("sections", {}).get("window", {}).get("items", [])
        texts = {}
        for item in window:
            try:
                texts[item["message_id"]] = sessions.message(item["message_id"]).content
            except NotFoundError:  # deleted since
                continue
        return message, texts

    def action_step(self, step: int) -> None:
        if self.message_id not in self.answer_ids:
            return
        position = self.answer_ids.index(self.message_id) + step
        if 0 <= position < len(self.answer_ids):
            self.show(self.answer_ids[position])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = cursor_key(event.data_table)
        if key is None or key.startswith("section:"):
            self.notify("Select a memory, fact, turn or the summary to read its source.")
            return
        self.open_source(key)

    @background(group="context-source")
    async def open_source(self, key: str) -> None:
        kind, _, value = key.partition(":")
        heading = "Source"
        quotes = self._quotes()
        if kind == "memory":
            sources = await asyncio.to_thread(memory_sources, self.assistant, [int(value)], quotes)
        elif kind == "fact":
            fact = next(i for i in self._items("facts") if i["ref"] == value)
            heading = f"Where “{fact['text']}” comes from"
            sources = await asyncio.to_thread(memory_sources, self.assistant, fact["items"], quotes)
        elif kind == "turn":
            sources = [await asyncio.to_thread(message_source, self.assistant, int(value))]
        else:
            sources = [await asyncio.to_thread(self._summary)]
        self.app.push_screen(SourcesDialog(sources, heading))

    def _quotes(self) -> tuple[str, ...]:
        """The sentences of the sources that the answer drew on (highlighted when shown)."""
        assert self.message is not None
        return tuple(quote for found in self.message.meta.get("support") or [] for quote in found["quotes"])

    def _items(self, section: str) -> list[dict[str, Any]]:
        assert self.message is not None
        return self.message.meta["context"]["sections"][section]["items"]

    def _summary(self) -> SourceView:
        assert self.message is not None
        summary = self.assistant.sessions.summary(self.message.session_id)
        if summary is None:
            return SourceView("Summary", "gone", "This chat has no summary any more.")
        return SourceView("Summary of the earlier turns", f"as it is now: turns 1–{summary.covers_until + 1}",
                          summary.text, self.message.session_id)
