"""Where a memory comes from, written once for every place that says it: the prompt's label
('manual.pdf p.3', 'chat "Trip", Mon 8 May 2023'), the panels' and search's place ('chat
"Trip" turn 4, 2026-05-01') and the graph's citation ('m12 chat "Trip" turn 4, 2026-05-01').

``Assistant.describe_sources`` builds them; nothing here touches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from assistant.prompt import Memory
from memory.store import MemoryItem
from memory.timeparse import annotate_relative_dates

CHAT_NAME = re.compile(r'^\[[^\]]*\] chat "(.*)"$', re.MULTILINE)


def memory_label(item: MemoryItem) -> str:
    """Where and when a memory is from, as the prompt names it once for the memories it
    groups: 'manual.pdf p.3', 'chat "Trip", Mon 8 May 2023', 'session-4, Mon 8 May 2023'
    (a chat by the name it had when the memory was written)."""
    if item.kind == "document":
        page = item.position.get("page")
        return Path(item.source).name + (f" p.{page}" if page else "")
    when = datetime.fromisoformat(item.occurred_at)
    day = f"{when:%a} {when.day} {when:%B %Y}"
    if item.kind == "chat":
        name = CHAT_NAME.search(item.key_text)
        return f'chat "{name.group(1)}", {day}' if name else f"chat, {day}"
    if item.kind == "import" and item.session_id:
        return f"{item.session_id}, {day}"
    return f"{item.kind}, {day}"


def memory_for_prompt(item: MemoryItem, score: float) -> Memory:
    """A retrieved item as the prompt shows it: its id, where and when it is from, its text
    (with the dates that its relative time words meant when it was said)."""
    text = item.text
    if item.kind in ("chat", "import"):
        text = annotate_relative_dates(text, datetime.fromisoformat(item.occurred_at))
    order = (item.position.get("turn", item.position.get("chunk", 0)),)
    return Memory(f"m{item.id}", item.id, text, memory_label(item), score, item.session_id, item.message_id,
                  order)


@dataclass(frozen=True)
class Source:
    """A memory item and the name its chat has now (None: not a stored chat, or deleted)."""

    item: MemoryItem
    session_name: str | None = None

    @property
    def label(self) -> str:
        """The prompt's label (see ``memory_label``)."""
        return memory_label(self.item)

    @property
    def place(self) -> str:
        """'notes.md p.3', 'summary of notes.md', 'chat "Trip" turn 4, 2026-05-01'."""
        item = self.item
        position = item.position or {}
        if item.kind in ("document", "summary"):
            name = Path(item.source).name
            if item.kind == "summary":
                return f"summary of {name}"
            page = f" p.{position['page']}" if position.get("page") else ""
            return f"{name}{page}"
        where = f'chat "{self.session_name}"' if self.session_name else item.kind
        if position.get("turn") is not None:
            where += f" turn {position['turn'] + 1}"
        return f"{where}, {_day(item.occurred_at)}"

    @property
    def citation(self) -> str:
        """A fact's source as ``kg show`` cites it: 'm12 chat "Trip" turn 4, 2026-05-01',
        'm3 manual.pdf p.2, 2026-05-01' (a deleted chat by its id's first 8 characters)."""
        item = self.item
        position = item.position or {}
        where = item.source
        if item.kind == "chat" and item.session_id:
            turn = position.get("turn")
            where = f'chat "{self.session_name or item.session_id[:8]}"' + (
                f" turn {turn + 1}" if turn is not None else "")
        elif item.kind == "document":
            page = position.get("page")
            where = Path(item.source).name + (f" p.{page}" if page else "")
        return f"m{item.id} {where}, {item.occurred_at[:10]}"


def _day(iso: str | None) -> str:
    return iso[:10] if iso else "?"
