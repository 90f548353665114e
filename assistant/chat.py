"""The chat loop: store the user's message, build the prompt, stream and store the answer.

``ChatEngine.send`` returns a ``Reply``: iterate it for text chunks as they are generated.
The user's message is stored before generation starts and the answer when it ends, as
``complete``, ``interrupted`` (cancelled or Ctrl-C, keeping what was said) or ``error``;
a prompt that cannot fit raises before anything is stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from assistant.backends import generation_params
from assistant.backends.base import Backend, ChatMessage
from assistant.config import Settings
from assistant.errors import MemchatError, PromptTooLongError
from assistant.prompt import PromptPlan, build_prompt
from assistant.sessions import Message, SessionStore

HISTORY_STATUSES = ("complete", "interrupted")
WINDOW_FOR_ENTITIES = 4  # recent turns whose entities also bring their facts
FactsProvider = Callable[[str, list[str]], list[Any]]  # (message, recent turns) -> FactLine-like


@dataclass
class PromptContext:
    """What memchat added to the prompt besides the conversation, and what it could not add."""

    facts: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def system_text(self, system_prompt: str) -> str:
        if not self.facts:
            return system_prompt
        lines = "\n".join(f"- {fact.text}" for fact in self.facts)
        return (f"{system_prompt}\n\nWhat you know about the people and things in this conversation "
                f"(cite the [id] of a fact you use):\n{lines}")


@dataclass
class ReplyStats:
    """Measured for each answer and stored with it."""

    prompt_tokens: int
    completion_tokens: int = 0
    time_to_first_token_s: float | None = None
    decode_tokens_per_s: float | None = None
    total_s: float = 0.0
    dropped_turns: int = 0


class Reply:
    """A streaming answer. Iterate for chunks; afterwards ``text``, ``stats`` and ``message`` are set."""

    def __init__(self, engine: ChatEngine, session_id: str, user_text: str, plan: PromptPlan,
                 cancel: threading.Event, context: PromptContext | None = None):
        self._engine = engine
        self.context = context or PromptContext()
        self.session_id = session_id
        self.user_text = user_text
        self.plan = plan
        self.cancel = cancel
        self.text = ""
        self.stats = ReplyStats(prompt_tokens=plan.prompt_tokens, dropped_turns=plan.dropped_history)
        self.message: Message | None = None
        self.status = "pending"
        self._chunks = self._generate()

    def __iter__(self) -> Iterator[str]:
        return self._chunks

    def close(self) -> None:
        """Stop generating (if still running) and store what was said so far."""
        self.cancel.set()
        self._chunks.close()

    def _generate(self) -> Iterator[str]:
        engine = self._engine
        started = time.perf_counter()
        first_at: float | None = None
        parts: list[str] = []
        status = "error"
        try:
            stream = engine.backend.stream(self.plan.messages, generation_params(engine.settings), self.cancel)
            for chunk in stream:
                if first_at is None:
                    first_at = time.perf_counter()
                parts.append(chunk)
                yield chunk
            status = "interrupted" if self.cancel.is_set() else "complete"
        except (GeneratorExit, KeyboardInterrupt):
            status = "interrupted"
            raise
        finally:
            self._finish(status, "".join(parts), started, first_at)

    def _finish(self, status: str, text: str, started: float, first_at: float | None) -> None:
        engine = self._engine
        ended = time.perf_counter()
        self.text, self.status = text, status
        stats = self.stats
        stats.total_s = ended - started
        if first_at is not None:
            stats.time_to_first_token_s = first_at - started
            stats.completion_tokens = engine.backend.count_tokens(text) if text else 0
            if stats.completion_tokens > 1 and ended > first_at:
                stats.decode_tokens_per_s = (stats.completion_tokens - 1) / (ended - first_at)
        if status == "error" and not text:
            return  # nothing was said; the user's message stays, the error goes to the caller
        self.message = message = engine.sessions.add_message(
            self.session_id,
            "assistant",
            text,
            tokens=stats.completion_tokens,
            model=engine.backend.info.model,
            status=status,
            meta={
                "prompt_tokens": stats.prompt_tokens,
                "time_to_first_token_s": stats.time_to_first_token_s,
                "decode_tokens_per_s": stats.decode_tokens_per_s,
                "total_s": stats.total_s,
                "dropped_turns": stats.dropped_turns,
                "backend": engine.backend.info.backend,
                "facts": [{"text": f.text, "ref": f.ref, "items": list(f.item_ids)} for f in self.context.facts],
                "context_warnings": self.context.warnings,
            },
        )
        if engine.on_answer is not None and status != "error" and text.strip():
            engine.on_answer(self.session_id, self.user_text, message)


class ChatEngine:
    """Turns a user message into a streamed, stored answer."""

    def __init__(
        self,
        backend: Backend,
        sessions: SessionStore,
        settings: Settings,
        on_answer: Callable[[str, str, Message], None] | None = None,
        facts: FactsProvider | None = None,
    ):
        """``on_answer(session_id, user_text, answer)`` runs after each stored answer (e.g. to remember it);
        ``facts(message, recent_turns)`` gives knowledge-graph facts for the prompt."""
        self.backend = backend
        self.sessions = sessions
        self.settings = settings
        self.on_answer = on_answer
        self.facts = facts

    def history(self, session_id: str) -> list[ChatMessage]:
        """The session's past turns as chat messages (failed answers left out)."""
        return [
            {"role": m.role, "content": m.content}
            for m in self.sessions.messages(session_id)
            if m.status in HISTORY_STATUSES and m.role in ("user", "assistant") and m.content
        ]

    def send(self, session_id: str, user_text: str, cancel: threading.Event | None = None) -> Reply:
        """Store ``user_text`` in the session and return the streaming answer to it."""
        if not user_text.strip():
            raise MemchatError("nothing to send: the message is empty")
        self.sessions.get(session_id)
        history = self.history(session_id)
        context = self._context(user_text, history)
        try:
            plan = build_prompt(self.backend, context.system_text(self.settings.system_prompt), history, user_text,
                                self.settings.max_new_tokens)
        except PromptTooLongError:
            if not context.facts:
                raise
            context = PromptContext(warnings=[*context.warnings, "facts left out: no room in the context"])
            plan = build_prompt(self.backend, self.settings.system_prompt, history, user_text,
                                self.settings.max_new_tokens)
        self.sessions.add_message(
            session_id, "user", user_text, tokens=self.backend.count_tokens(user_text), model=self.backend.info.model
        )
        return Reply(self, session_id, user_text, plan, cancel or threading.Event(), context)

    def _context(self, user_text: str, history: list[ChatMessage]) -> PromptContext:
        """Facts for the prompt; a failing lookup is reported, never fatal to the answer."""
        context = PromptContext()
        if self.facts is None:
            return context
        try:
            context.facts = list(self.facts(user_text, [m["content"] for m in history[-WINDOW_FOR_ENTITIES:]]))
        except Exception as exc:  # noqa: BLE001 - answer anyway, say what was missing
            context.warnings.append(f"knowledge graph unavailable: {exc}")
        return context
