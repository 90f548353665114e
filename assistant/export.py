"""Export a session as Markdown or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict

from assistant.sessions import Message, Session

EXPORT_FORMATS = ("markdown", "json")


def to_markdown(session: Session, messages: list[Message]) -> str:
    lines = [f"# {session.name}", "", f"_Session {session.id}, started {session.created_at}_", ""]
    for message in messages:
        who = {"user": "You", "assistant": "Assistant"}.get(message.role, message.role.capitalize())
        note = "" if message.status == "complete" else f" ({message.status})"
        lines += [f"## {who}{note}", f"_{message.created_at}_", "", message.content, ""]
    return "\n".join(lines).rstrip() + "\n"


def to_json(session: Session, messages: list[Message]) -> str:
    payload = {"session": asdict(session), "messages": [asdict(m) for m in messages]}
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def export_session(session: Session, messages: list[Message], fmt: str) -> str:
    """The session rendered in ``fmt`` (``markdown``/``md`` or ``json``)."""
    if fmt in ("markdown", "md"):
        return to_markdown(session, messages)
    if fmt == "json":
        return to_json(session, messages)
    raise ValueError(f"unknown export format {fmt!r}")
