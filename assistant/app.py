"""``Assistant``: the one object the CLI and the TUI drive. Each use case is one method here
or in ``MemoryUseCases`` (search, load, import, summarise, describe a source, re-embed, the
graph); ``Runtime`` underneath owns the connections, the lazily loaded models and the
background workers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.chat import ChatEngine
from assistant.config import Settings, load_settings
from assistant.errors import MemchatError
from assistant.memory_api import MemoryUseCases
from assistant.prompt import Memory, PromptPlan
from assistant.sessions import Message, Session
from assistant.sources import memory_for_prompt, memory_label
from assistant.summaries import summary_due

log = logging.getLogger(__name__)

__all__ = ["Assistant", "ForgottenExchange", "memory_for_prompt", "memory_label", "open_assistant"]

if TYPE_CHECKING:
    from collections.abc import Iterable

    from memory.documents import Document
    from memory.graph.context import FactLine


@dataclass(frozen=True)
class ForgottenExchange:
    """What forgetting an exchange removed."""

    session_id: str
    message_ids: tuple[int, ...]  # the user's message (when there was one), then the answer
    memory_items: int  # long-term memory items removed, with what the graph learnt from them


class Assistant(MemoryUseCases):
    """Settings, sessions, memory and the model of one data directory, and what can be done
    with them: chat, plan a prompt, forget, and (from ``MemoryUseCases``) the memory and
    graph use cases."""

    @property
    def chat(self) -> ChatEngine:
        """The chat loop; loads the model on first use."""
        if self._chat is None:
            self._chat = ChatEngine(self.backend, self.sessions, self.settings, on_answer=self._after_answer,
                                    facts=self.facts_for if self.settings.graph_facts_in_prompt else None,
                                    memories=self.memories_for if self.retrieval_on else None)
        return self._chat

    def facts_for(self, message: str, window: list[str]) -> list[FactLine]:
        """Knowledge-graph facts about the entities the message and recent turns name."""
        from memory.graph.context import facts_for_prompt, has_graph

        if not has_graph(self.db):
            return []
        return facts_for_prompt(self.knowledge, message, window, limit=self.settings.graph_facts_in_prompt)

    @property
    def retrieval_on(self) -> bool:
        return self.settings.memories_in_prompt > 0 and self.settings.memory_tokens > 0

    def memory_candidates(self) -> int:
        """How many memories to retrieve for a prompt: enough to fill ``memory_tokens`` with
        short turns, at most ``memories_in_prompt``."""
        return max(1, min(self.settings.memories_in_prompt, max(8, self.settings.memory_tokens // 20)))

    def memories_for(self, query: str, session_id: str) -> list[Memory]:
        """Memories for the prompt, best first: hybrid search over every session and document
        (loads the embedding model on first use)."""
        from memory.retrieval import SearchOptions, search

        store = self.memory
        if not store.count():
            return []
        hits = search(store, query, SearchOptions(k=self.memory_candidates()))
        return [memory_for_prompt(hit.item, hit.score) for hit in hits]

    def plan_prompt(self, message: str, session: str | None = None) -> PromptPlan:
        """The prompt memchat would send for ``message`` in the session (None: a new chat),
        with its account; nothing is stored and the model generates nothing."""
        session_id = self.sessions.get(session).id if session else None
        return self.chat.plan(session_id, message)

    def prompt_for(self, message: str, session: str | None = None) -> dict[str, Any]:
        """``plan_prompt`` as JSON-ready data: the message, token counts, the prompt's messages,
        its sources (memory items, as retrieved memories or as the source of a fact line) and
        the account that the context panel shows."""
        plan = self.plan_prompt(message, session)
        sources: list[dict[str, Any]] = []
        seen: set[int] = set()
        for via, section in (("memory", "memories"), ("fact", "facts")):
            for entry in plan.sections[section].items:
                for item_id in ([entry["id"]] if via == "memory" else entry.get("items", [])):
                    if item_id not in seen:
                        seen.add(item_id)
                        sources.append({"item_id": item_id, "via": via})
        if sources and self._memory is not None:
            items = self._memory.get([s["item_id"] for s in sources])
            for source in sources:
                item = items.get(source["item_id"])
                source["external_id"] = item.external_id if item else None
                source["kind"] = item.kind if item else None
        return {"message": message, "prompt_tokens": plan.prompt_tokens, "budget": plan.budget,
                "sources": sources, "messages": plan.messages, "context": plan.explain()}


    def _after_answer(self, session_id: str, user_text: str, answer: Message) -> None:
        if self.settings.remember_chats:
            self._remember(session_id, user_text, answer)
        window_start = answer.meta.get("context", {}).get("window_start", 0)
        if self.settings.summarize_history and summary_due(self.sessions, session_id, window_start):
            self.background.submit(self.update_summary, session_id, window_start)


    def update_summary(self, session_id: str, window_start: int) -> bool:
        """Fold the turns that left the window into the session's rolling summary (model call)."""
        from assistant.summaries import update_summary

        try:
            return update_summary(self.backend, self.sessions, session_id, window_start)
        except Exception as exc:  # noqa: BLE001 - a summary failing must not disturb the chat
            log.warning("could not update the summary of session %s: %s", session_id, exc)
            return False

    def _remember(self, session_id: str, user_text: str, answer: Message) -> None:
        """Store a finished exchange in long-term memory (a quick insert); when memory is open,
        its embedding is computed in the background, otherwise the next time memory opens."""
        from memory.chat_memory import Exchange, remember_exchange

        session = self.sessions.get(session_id)
        turn = self.sessions.message_count(session_id, role="assistant") - 1
        exchange = Exchange(session_id, session.name, user_text, answer.content, answer.created_at, answer.id, turn)
        remember_exchange(self.db, exchange)
        if self._memory is not None or self._writer is not None:
            self.memory_writer.submit()

    def forget_exchange(self, answer_id: int) -> ForgottenExchange:
        """Forget an exchange by its answer's message id: the answer and the user message it
        replied to leave the session (so no later prompt's window or summary holds them), and
        their memory items leave long-term memory, the vector index and the knowledge graph."""
        answer = self.sessions.message(answer_id)
        if answer.role != "assistant":
            raise MemchatError(f"message #{answer_id} is not an answer; give the id of the answer that "
                               "ends the exchange")
        question = self.sessions.question_of(answer)
        message_ids = tuple(m.id for m in (question, answer) if m is not None)
        self._settle()
        store = self.memory
        removed = self.forget_memories([i for m in message_ids for i in store.item_ids_for_message(m)])
        self.sessions.delete_messages(answer.session_id, message_ids)
        return ForgottenExchange(answer.session_id, message_ids, removed)

    def forget_memories(self, item_ids: Iterable[int]) -> int:
        """Forget memory items: from SQLite, the keyword and vector indexes, the knowledge graph,
        and the excerpts earlier answers' accounts keep of them. Returns how many went."""
        from assistant.forgetting import scrub_answers

        ids = sorted(set(item_ids))
        store = self.memory
        removed = store.delete(ids)
        store.save_index()
        scrub_answers(self.db, ids)
        return removed

    def forget_document(self, document: Document) -> int:
        """Forget a loaded document, its passages and what was learnt from them (as above)."""
        from assistant.forgetting import scrub_answers
        from memory.documents import forget_document

        store = self.memory
        with store.lock:
            ids = [row[0] for row in store.db.execute("SELECT id FROM memory_items WHERE document_id = ?",
                                                      [document.id])]
        removed = forget_document(store, document)
        scrub_answers(self.db, ids)
        return removed

    def forget_sessions(self, keys: Iterable[str]) -> int:
        """Forget what memory holds of sessions (ids, or imported transcripts' session names;
        existing or deleted), with what the graph learnt only from it. Returns how many items."""
        from assistant.forgetting import compact, session_memory_ids

        names = self.session_names(keys)
        if not session_memory_ids(self.db, names):
            return 0
        self._settle()
        removed = self.forget_memories(session_memory_ids(self.memory.db, names))
        compact(self.memory.db)
        return removed

    def delete_session(self, key: str, keep_memories: bool = False) -> tuple[Session, int]:
        """Delete a chat and its messages and, unless ``keep_memories``, what memory and the
        graph learnt from it; no copy of its text stays in the data dir. Returns the session and
        how many memory items went."""
        from assistant.forgetting import compact

        session = self.sessions.get(key)
        removed = 0 if keep_memories else self.forget_sessions([session.id])
        self.sessions.delete(session.id)
        compact(self.db)
        return session, removed



def open_assistant(settings: Settings | None = None, **overrides: object) -> Assistant:
    """An Assistant for ``settings`` (default: config file + env + ``overrides``)."""
    return Assistant(settings or load_settings(**overrides))
