"""The chat loop: store the user's message, assemble the prompt, stream and store the answer.

``ChatEngine.send`` returns a ``Reply``: iterate it for text chunks as they are generated.
The user's message is stored before generation starts and the answer when it ends, as
``complete``, ``interrupted`` (cancelled or Ctrl-C, keeping what was said) or ``error``.
Each answer records what its prompt held (``meta["context"]``: sections, token shares,
memories, facts, window turns, warnings) and which of its sources it cited.
Retrieval or graph lookups that fail are reported in the answer's warnings; the answer
still comes.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.attribution import Support, attribute
from assistant.backends import generation_params
from assistant.backends.base import Backend, ChatMessage
from assistant.config import Settings
from assistant.errors import MemchatError
from assistant.prompt import ContextInputs, Fact, Memory, PromptPlan, Summary, Turn, assemble
from assistant.sessions import Message, SessionStore

HISTORY_STATUSES = ("complete", "interrupted")
WINDOW_FOR_ENTITIES = 4  # recent turns whose entities also bring their facts
CITATION = re.compile(r"\[(m\d+)\]")

FactsProvider = Callable[[str, list[str]], Sequence[Any]]  # (message, recent turns) -> FactLine-like
MemoriesProvider = Callable[[str, str], Sequence[Memory]]  # (message, session id) -> ranked memories


@dataclass
class ReplyStats:
    """Measured for each answer and stored with it."""

    prompt_tokens: int
    completion_tokens: int = 0
    time_to_first_token_s: float | None = None
    decode_tokens_per_s: float | None = None
    total_s: float = 0.0
    dropped_turns: int = 0


def cited(text: str, plan: PromptPlan) -> list[str]:
    """The source ids the answer cites that really were in its prompt."""
    return sorted(set(CITATION.findall(text)) & plan.refs, key=lambda ref: int(ref[1:]))


def support(answer: str, question: str, plan: PromptPlan) -> list[Support]:
    """The sources in the prompt that the answer drew on (see ``assistant.attribution``): the
    words it repeats from them beyond the question's and the earlier turns' own."""
    known = [question, *(m["content"] for m in plan.messages[:-1])]
    return attribute(answer, plan.source_texts, known, cited(answer, plan))


def support_meta(found: list[Support]) -> dict[str, Any]:
    """``supported_by`` (source ids, best first) and ``support`` (with words and quotes)."""
    return {"supported_by": [s.ref for s in found], "support": [s.as_dict() for s in found]}


class Reply:
    """A streaming answer. Iterate for chunks; afterwards ``text``, ``stats`` and ``message`` are set."""

    def __init__(self, engine: ChatEngine, session_id: str, user_text: str, plan: PromptPlan,
                 cancel: threading.Event):
        self._engine = engine
        self.session_id = session_id
        self.user_text = user_text
        self.plan = plan
        self.cancel = cancel
        self.text = ""
        self.stats = ReplyStats(prompt_tokens=plan.prompt_tokens, dropped_turns=plan.dropped_history)
        self.message: Message | None = None
        self.status = "pending"
        self._chunks = self._generate()

    @property
    def warnings(self) -> list[str]:
        return self.plan.warnings

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
                "context": self.plan.explain(),
                "cited": cited(text, self.plan),
                **support_meta(support(text, self.user_text, self.plan)),
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
        memories: MemoriesProvider | None = None,
    ):
        """``on_answer(session_id, user_text, answer)`` runs after each stored answer (e.g. to remember it);
        ``facts`` and ``memories`` supply knowledge-graph facts and retrieved memories for the prompt."""
        self.backend = backend
        self.sessions = sessions
        self.settings = settings
        self.on_answer = on_answer
        self.facts = facts
        self.memories = memories

    def history(self, session_id: str) -> list[ChatMessage]:
        """The session's past turns as chat messages (failed answers left out)."""
        return [
            {"role": m.role, "content": m.content}
            for m in self.sessions.messages(session_id)
            if m.status in HISTORY_STATUSES and m.role in ("user", "assistant") and m.content
        ]

    def turns(self, session_id: str) -> tuple[list[Turn], int]:
        """The recent turns that could fit the window (never the whole of a long session), and
        how many messages the session has."""
        limit = max(self.backend.info.context_length // 4, 64)
        tail = self.sessions.tail(session_id, limit)
        total = tail[-1][0] + 1 if tail else self.sessions.message_count(session_id)
        turns = [Turn(index, m.id, m.role, m.content, m.tokens) for index, m in tail
                 if m.status in HISTORY_STATUSES and m.role in ("user", "assistant") and m.content]
        return turns, total

    def plan(self, session_id: str | None, user_text: str) -> PromptPlan:
        """The prompt for ``user_text`` in the session (None: a new, empty chat), with the
        account of what went in."""
        turns, total = self.turns(session_id) if session_id else ([], 0)
        warnings: list[str] = []
        facts: list[Fact] = []
        memories: list[Memory] = []
        if self.facts is not None:
            recent = [t.content for t in turns[-WINDOW_FOR_ENTITIES:]]
            found = _safely("knowledge graph", lambda: self.facts(user_text, recent), warnings)
            facts = [Fact(f.text, f.ref, tuple(f.item_ids)) for f in found]
        if self.memories is not None:
            memories = list(_safely("memory search", lambda: self.memories(user_text, session_id or ""), warnings))
        stored = self.sessions.summary(session_id) if session_id else None
        summary = Summary(stored.text, stored.covers_until) if stored else None
        inputs = ContextInputs(self.settings.system_prompt, user_text, turns, total, memories, facts, summary,
                               session_id, reserve_memories=self.memories is not None,
                               reserve_facts=self.facts is not None, memory_tokens=self.settings.memory_tokens)
        plan = assemble(self.backend, inputs, self.settings.max_new_tokens)
        plan.warnings[:0] = warnings
        return plan

    def send(self, session_id: str, user_text: str, cancel: threading.Event | None = None) -> Reply:
        """Store ``user_text`` in the session and return the streaming answer to it."""
        if not user_text.strip():
            raise MemchatError("nothing to send: the message is empty")
        self.sessions.get(session_id)
        plan = self.plan(session_id, user_text)
        self.sessions.add_message(
            session_id, "user", user_text, tokens=self.backend.count_tokens(user_text), model=self.backend.info.model
        )
        return Reply(self, session_id, user_text, plan, cancel or threading.Event())


def _safely(what: str, lookup: Callable[[], Sequence[Any]], warnings: list[str]) -> Sequence[Any]:
    """Run a context lookup; when it fails, say so and go on without it."""
    try:
        return lookup()
    except Exception as exc:  # noqa: BLE001 - answer anyway, say what was missing
        warnings.append(f"{what} unavailable: {exc}")
        return []
