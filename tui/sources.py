"""Where an answer's or a fact's knowledge came from, fetched in full for the sources dialog.

These functions block (the first memory access loads the embedding model): call them from a
worker thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.errors import MemchatError
from tui.format import day

if TYPE_CHECKING:
    from assistant.app import Assistant


@dataclass(frozen=True)
class SourceView:
    """One source as the dialog shows it."""

    title: str  # "Memory #12"
    where: str  # 'notes.md p.3' or 'chat "Trip" turn 4, 2026-05-01'
    text: str
    session_id: str | None = None  # the chat it came from, to jump to
    quotes: tuple[str, ...] = ()  # sentences an answer drew on, to highlight


def session_names(assistant: Assistant, session_ids: Iterable[str | None]) -> dict[str, str]:
    """Names of the sessions that still exist, by id."""
    names: dict[str, str] = {}
    for session_id in {s for s in session_ids if s}:
        try:
            names[session_id] = assistant.sessions.get(session_id).name
        except MemchatError:
            continue  # deleted since
    return names


def memory_sources(assistant: Assistant, item_ids: Sequence[int], quotes: Sequence[str] = ()) -> list[SourceView]:
    """The memory items, in full, in the given order; ``quotes`` are sentences to highlight."""
    sources = assistant.describe_sources(item_ids)
    views = []
    for item_id in item_ids:
        source = sources.get(item_id)
        if source is None:
            views.append(SourceView(f"Memory #{item_id}", "forgotten", "This memory is no longer stored."))
            continue
        item = source.item
        session = item.session_id if source.session_name is not None else None
        shown = tuple(quote for quote in quotes if quote in item.text)
        views.append(SourceView(f"Memory #{item.id} · {item.kind}", source.place, item.text, session, shown))
    return views


def message_source(assistant: Assistant, message_id: int) -> SourceView:
    """A stored chat message (a turn of the window), in full."""
    message = assistant.sessions.message(message_id)
    name = session_names(assistant, [message.session_id]).get(message.session_id, message.session_id)
    who = "You" if message.role == "user" else message.role.capitalize()
    return SourceView(f"{who} · message #{message.id}", f'chat "{name}", {day(message.created_at)}',
                      message.content, message.session_id)
