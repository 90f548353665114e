"""Conversations (sessions) and their messages, stored in the data dir's SQLite database."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from assistant.errors import MemchatError, SessionNotFoundError
from memory.clock import utc_now
from memory.db import apply_migrations, open_database, transaction


def _create_tables(db: sqlite_utils.Database) -> None:
    db["sessions"].create(
        {"id": str, "name": str, "created_at": str, "updated_at": str, "model": str},
        pk="id",
        not_null={"id", "name", "created_at", "updated_at"},
    )
    db["messages"].create(
        {
            "id": int,
            "session_id": str,
            "role": str,
            "content": str,
            "created_at": str,
            "tokens": int,
            "model": str,
            "status": str,
            "meta": str,
        },
        pk="id",
        foreign_keys=[("session_id", "sessions", "id")],
        not_null={"session_id", "role", "content", "created_at", "status"},
        defaults={"status": "complete", "meta": "{}"},
    )
    db["messages"].create_index(["session_id", "id"])


def _add_summaries(db: sqlite_utils.Database) -> None:
    db["session_summaries"].create(
        {"session_id": str, "text": str, "covers_until": int, "updated_at": str, "model": str},
        pk="session_id", not_null={"session_id", "text", "covers_until", "updated_at"},
    )


MIGRATIONS = [_create_tables, _add_summaries]

MESSAGE_STATUSES = ("complete", "interrupted", "error")


@dataclass(frozen=True)
class Session:
    id: str
    name: str
    created_at: str
    updated_at: str
    model: str | None
    message_count: int = 0


@dataclass(frozen=True)
class SessionSummary:
    """What the model wrote about the session's turns up to ``covers_until`` (a session index)."""

    session_id: str
    text: str
    covers_until: int
    updated_at: str


@dataclass(frozen=True)
class Message:
    id: int
    session_id: str
    role: str
    content: str
    created_at: str
    tokens: int | None
    model: str | None
    status: str
    meta: dict[str, Any] = field(default_factory=dict)


def _message(row: dict[str, Any]) -> Message:
    return Message(
        id=row["id"],
        session_id=row["session_id"],
        role=row["role"],
        content=row["content"],
        created_at=row["created_at"],
        tokens=row["tokens"],
        model=row["model"],
        status=row["status"],
        meta=json.loads(row["meta"] or "{}"),
    )


def session_title(first_message: str) -> str:
    """A new session's name: the first line of its first message, cut to 60 characters."""
    lines = first_message.strip().splitlines() or [""]
    return lines[0][:60] + ("…" if len(lines[0]) > 60 else "")


class SessionStore:
    """Create, find, list, rename and delete sessions; append and read their messages."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        apply_migrations(db, "sessions", MIGRATIONS)

    def create(self, name: str | None = None, model: str | None = None) -> Session:
        now = utc_now()
        with transaction(self.db):
            while True:
                session_id = secrets.token_hex(4)
                if not self.db.execute("SELECT 1 FROM sessions WHERE id = ?", [session_id]).fetchone():
                    break
            self.db["sessions"].insert(
                {"id": session_id, "name": name or "New chat", "created_at": now, "updated_at": now, "model": model}
            )
        return self.get(session_id)

    def get(self, key: str) -> Session:
        """A session by id, unique id prefix, or exact name (the newest of that name)."""
        rows = self._query("WHERE s.id = ?", [key])
        if not rows and len(key) >= 3:
            rows = self._query("WHERE s.id LIKE ? ESCAPE '\\'", [_like_prefix(key)])
            if len(rows) > 1:
                ids = ", ".join(r.id for r in rows[:5])
                raise SessionNotFoundError(f"session id prefix '{key}' is ambiguous ({ids}); type more of it")
        if not rows:
            rows = self._query("WHERE s.name = ?", [key])[:1]
        if not rows:
            raise SessionNotFoundError(f"no session '{key}'; see `memchat sessions list`")
        return rows[0]

    def latest(self) -> Session | None:
        rows = self._query("", [], limit=1)
        return rows[0] if rows else None

    def list(self, limit: int | None = None, matching: str = "") -> list[Session]:
        """Sessions, most recently active first; with ``matching``, those whose name or
        messages contain it (case-insensitive)."""
        if not matching.strip():
            return self._query("", [], limit=limit)
        pattern = f"%{_like_escape(matching.strip())}%"
        return self._query("WHERE s.name LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m2 WHERE "
                           "m2.session_id = s.id AND m2.content LIKE ? ESCAPE '\\')", [pattern, pattern], limit=limit)

    def _query(self, where: str, params: list[Any], limit: int | None = None) -> list[Session]:
        sql = (
            "SELECT s.id, s.name, s.created_at, s.updated_at, s.model, "
            "(SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) AS n "
            f"FROM sessions s {where} ORDER BY s.updated_at DESC, s.rowid DESC"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Session(*row) for row in self.db.execute(sql, params).fetchall()]

    def rename(self, key: str, name: str) -> Session:
        session = self.get(key)
        with transaction(self.db):
            self.db["sessions"].update(session.id, {"name": name, "updated_at": utc_now()})
        return self.get(session.id)

    def delete(self, key: str) -> Session:
        session = self.get(key)
        with transaction(self.db):
            self.db.execute("DELETE FROM messages WHERE session_id = ?", [session.id])
            self.db.execute("DELETE FROM session_summaries WHERE session_id = ?", [session.id])
            self.db.execute("DELETE FROM sessions WHERE id = ?", [session.id])
        return session

    def add_message(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        tokens: int | None = None,
        model: str | None = None,
        status: str = "complete",
        meta: dict[str, Any] | None = None,
    ) -> Message:
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"unknown message status {status!r}")
        now = utc_now()
        with transaction(self.db):
            table = self.db["messages"]
            table.insert(
                {
                    "session_id": session_id,
                    "role": role,
                    "content": content,
                    "created_at": now,
                    "tokens": tokens,
                    "model": model,
                    "status": status,
                    "meta": json.dumps(meta or {}),
                }
            )
            message_id = table.last_pk
            updates: dict[str, Any] = {"updated_at": now}
            if model:
                updates["model"] = model
            self.db["sessions"].update(session_id, updates)
        return self.message(message_id)

    def branch(self, session_id: str, at_message_id: int, name: str | None = None) -> Session:
        """A new session holding this one's messages up to ``at_message_id`` (and its summary,
        when that covers no later message), so the chat can go on from there another way.
        The original stays as it is."""
        source = self.get(session_id)
        at = self.message(at_message_id)
        if at.session_id != source.id:
            raise MemchatError(f"message #{at_message_id} is not in the session '{source.name}'")
        branch = self.create(name or f"{source.name} · branch", model=source.model)
        with transaction(self.db):
            copied = self.db.execute(
                "INSERT INTO messages (session_id, role, content, created_at, tokens, model, status, meta) "
                "SELECT ?, role, content, created_at, tokens, model, status, meta FROM messages "
                "WHERE session_id = ? AND id <= ? ORDER BY id", [branch.id, source.id, at.id]).rowcount
            summary = self.summary(source.id)
            if summary is not None and summary.covers_until < copied:
                self.db.execute("INSERT INTO session_summaries (session_id, text, covers_until, updated_at, model) "
                                "SELECT ?, text, covers_until, updated_at, model FROM session_summaries "
                                "WHERE session_id = ?", [branch.id, source.id])
        return self.get(branch.id)

    def delete_messages(self, session_id: str, message_ids: Iterable[int]) -> int:
        """Remove messages of the session (ids of other sessions are ignored); returns how many.

        Later messages move up one session index per removed one. The rolling summary is
        dropped when it covered any removed message, so it is rebuilt without their text."""
        wanted = sorted(set(message_ids))
        removed = 0
        with transaction(self.db):
            self._retitle_without(session_id, wanted)
            summary = self.summary(session_id)
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ", ".join("?" * len(part))
                if summary is not None and self._covers_any(summary, part):
                    self.db.execute("DELETE FROM session_summaries WHERE session_id = ?", [session_id])
                    summary = None
                removed += self.db.execute(f"DELETE FROM messages WHERE session_id = ? AND id IN ({marks})",
                                           [session_id, *part]).rowcount
        return removed

    def _retitle_without(self, session_id: str, message_ids: list[int]) -> None:
        """A session named after its first message (the default) takes the name of the next
        one when that message goes, so the name does not keep what was removed."""
        name = self.db.execute("SELECT name FROM sessions WHERE id = ?", [session_id]).fetchone()
        if name is None:
            return
        users = [m for m in self.messages(session_id) if m.role == "user"]
        if not users or users[0].id not in message_ids or name[0] != session_title(users[0].content):
            return
        left = next((m for m in users if m.id not in message_ids), None)
        self.db.execute("UPDATE sessions SET name = ? WHERE id = ?",
                        [session_title(left.content) if left else "New chat", session_id])

    def _covers_any(self, summary: SessionSummary, message_ids: list[int]) -> bool:
        """Whether the summary covers any of these messages (by their session index)."""
        marks = ", ".join("?" * len(message_ids))
        first = self.db.execute(f"SELECT MIN(id) FROM messages WHERE session_id = ? AND id IN ({marks})",
                                [summary.session_id, *message_ids]).fetchone()[0]
        if first is None:
            return False
        index = self.db.execute("SELECT COUNT(*) FROM messages WHERE session_id = ? AND id < ?",
                                [summary.session_id, first]).fetchone()[0]
        return int(index) <= summary.covers_until

    def _select(self, where: str, params: list[Any]) -> list[Message]:
        rows = self.db.execute(f"SELECT * FROM messages {where}", params)
        columns = [c[0] for c in rows.description]
        return [_message(dict(zip(columns, row, strict=True))) for row in rows.fetchall()]

    def message(self, message_id: int) -> Message:
        """A message by id; MemchatError when there is none."""
        found = self._select("WHERE id = ?", [message_id])
        if not found:
            raise MemchatError(f"no stored message #{message_id}; it may have been forgotten")
        return found[0]

    def question_of(self, answer: Message) -> Message | None:
        """The user message an answer replied to: the one just before it in its session."""
        found = self._select("WHERE session_id = ? AND id < ? ORDER BY id DESC LIMIT 1", [answer.session_id, answer.id])
        return found[0] if found and found[0].role == "user" else None

    def messages(self, session_id: str) -> list[Message]:
        rows = self.db["messages"].rows_where("session_id = ?", [session_id], order_by="id")
        return [_message(row) for row in rows]

    def message_count(self, session_id: str, role: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM messages WHERE session_id = ?" + (" AND role = ?" if role else "")
        return int(self.db.execute(sql, [session_id, *([role] if role else [])]).fetchone()[0])

    def tail(self, session_id: str, limit: int) -> list[tuple[int, Message]]:
        """The session's last ``limit`` messages with their index in the session, oldest first:
        the window never needs the whole of a 10,000-turn session."""
        total = self.message_count(session_id)
        messages = self._select("WHERE session_id = ? ORDER BY id DESC LIMIT ?", [session_id, limit])
        return [(total - position, m) for position, m in enumerate(messages, start=1)][::-1]

    def range(self, session_id: str, start: int, end: int) -> list[Message]:
        """Messages with session index in [start, end)."""
        return self._select("WHERE session_id = ? ORDER BY id LIMIT ? OFFSET ?",
                            [session_id, max(end - start, 0), start])

    def summary(self, session_id: str) -> SessionSummary | None:
        row = self.db.execute("SELECT session_id, text, covers_until, updated_at FROM session_summaries "
                              "WHERE session_id = ?", [session_id]).fetchone()
        return SessionSummary(*row) if row else None

    def save_summary(self, session_id: str, text: str, covers_until: int, model: str | None = None) -> None:
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO session_summaries (session_id, text, covers_until, updated_at, model) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(session_id) DO UPDATE SET text = excluded.text, "
                "covers_until = excluded.covers_until, updated_at = excluded.updated_at, model = excluded.model",
                [session_id, text, covers_until, utc_now(), model])


def _like_escape(text: str) -> str:
    """``text`` with LIKE's wildcards taken literally (with ``ESCAPE '\\'``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(text: str) -> str:
    return _like_escape(text) + "%"


def open_sessions(data_dir: Path) -> SessionStore:
    """The sessions of a data dir, without the rest of the assistant (for quick commands)."""
    return SessionStore(open_database(data_dir))
