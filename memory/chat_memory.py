"""Chat turns become memory: each finished exchange is stored as one round, in the background.

A round (the user's message with its answer) is the unit, and its indexed text starts with
the date and the speakers, which long-conversation benchmarks show matter for recall. Near-
duplicate rounds ("thanks!" / "you're welcome") are linked to the first, not piled up.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from memory.db import apply_migrations, transaction
from memory.store import MIGRATIONS, MemoryStore, NewItem, insert_item
from memory.keys import said_key
from memory.timeparse import annotate_relative_dates

log = logging.getLogger(__name__)

DUPLICATE_THRESHOLD = 0.97


@dataclass(frozen=True)
class Exchange:
    session_id: str
    session_name: str
    user_text: str
    answer_text: str
    occurred_at: str  # ISO-8601
    message_id: int | None = None
    turn: int | None = None


def stamp(iso_time: str) -> str:
    """'2026-11-23 Mon 14:05' from an ISO timestamp: the date words people ask about."""
    when = datetime.fromisoformat(iso_time)
    return when.strftime("%Y-%m-%d %a %H:%M")


def exchange_item(exchange: Exchange) -> NewItem:
    text = f"User: {exchange.user_text.strip()}\nAssistant: {exchange.answer_text.strip()}"
    when = datetime.fromisoformat(exchange.occurred_at)
    said = (f"User: {said_key(exchange.user_text.strip(), 'User', when)}\n"
            f"Assistant: {annotate_relative_dates(exchange.answer_text.strip(), when)}")
    key = f"[{stamp(exchange.occurred_at)}] chat \"{exchange.session_name}\"\n{said}"
    return NewItem(
        kind="chat", text=text, key_text=key, source=f"session:{exchange.session_id}",
        occurred_at=exchange.occurred_at, session_id=exchange.session_id, message_id=exchange.message_id,
        position={"turn": exchange.turn} if exchange.turn is not None else {}, speaker="user+assistant",
    )


def remember_exchange(db: sqlite_utils.Database, exchange: Exchange) -> int:
    """Store the exchange as a memory item right away (milliseconds, no model needed): keyword
    search finds it at once; its vector is added later by ``MemoryStore.backfill``."""
    apply_migrations(db, "memory", MIGRATIONS)
    with transaction(db):
        return insert_item(db, exchange_item(exchange), exchange.occurred_at)


class MemoryWriter:
    """A background thread that processes new memories (knowledge extraction with ``before``,
    then embedding with ``backfill``); the chat never waits on it."""

    def __init__(self, store_provider: Callable[[], MemoryStore], before: Callable[[], object] | None = None):
        self._store_provider = store_provider
        self._before = before
        self._queue: queue.Queue[bool | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="memchat-memory-writer", daemon=True)
        self._idle = threading.Event()
        self._idle.set()
        self.errors: list[str] = []
        self._thread.start()

    def submit(self) -> None:
        """Ask for pending memories to be embedded and indexed."""
        self._idle.clear()
        self._queue.put(True)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted is written; False on timeout."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            request = self._queue.get()
            try:
                if request is None:
                    return
                if self._before is not None:
                    self._run_before()
                self._store_provider().backfill(DUPLICATE_THRESHOLD)
            except Exception as exc:  # a memory write must never take the chat down
                log.warning("could not embed new memories: %s", exc)
                self.errors.append(str(exc))
            finally:
                self._queue.task_done()
                if self._queue.unfinished_tasks == 0:
                    self._idle.set()

    def _run_before(self) -> None:
        try:
            self._before()  # type: ignore[misc]
        except Exception as exc:  # extraction failing must not keep memories from being embedded
            log.warning("could not extract knowledge from new memories: %s", exc)
            self.errors.append(str(exc))
