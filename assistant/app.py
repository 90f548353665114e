"""``Assistant``: the one object the CLI and the TUI drive (settings, store, model, chat)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from assistant.backends import Backend, ModelInfo, create_backend
from assistant.chat import ChatEngine
from assistant.config import Settings, load_settings
from assistant.errors import BackendError, MemchatError
from assistant.prompt import Memory, PromptPlan
from assistant.summaries import summary_due
from assistant.sessions import SessionStore
from assistant.sessions import Message, Session
from memory.db import open_database

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from memory.documents import Document
    from memory.chat_memory import MemoryWriter
    from memory.graph.context import FactLine
    from memory.graph.graph import KnowledgeGraph
    from memory.graph.pipeline import Extractor
    from memory.store import MemoryItem, MemoryStore
    from memory.transcripts import ImportResult


@dataclass(frozen=True)
class ForgottenExchange:
    """What forgetting an exchange removed."""

    session_id: str
    message_ids: tuple[int, ...]  # the user's message (when there was one), then the answer
    memory_items: int  # long-term memory items removed, with what the graph learnt from them


class Assistant:
    """Owns the database and the (lazily loaded) model for one data directory."""

    def __init__(self, settings: Settings, backend: Backend | None = None):
        """``backend``: an already loaded model to use instead of loading the configured one."""
        self.settings = settings
        self.db = open_database(settings.data_dir)
        self.sessions = SessionStore(self.db)
        self._backend: Backend | None = backend
        self._owns_backend = backend is None
        self._chat: ChatEngine | None = None
        self._load_lock = threading.Lock()
        self._memory: MemoryStore | None = None
        self._memory_lock = threading.Lock()
        self._writer: MemoryWriter | None = None
        self._knowledge: KnowledgeGraph | None = None
        self._extractor: Extractor | None = None
        self._background: ThreadPoolExecutor | None = None

    def load_model(self) -> ModelInfo:
        """Load the configured model once (slow: seconds); later calls return at once."""
        with self._load_lock:
            if self._backend is None:
                backend = create_backend(self.settings)
                backend.load()
                self._backend = backend
                self._owns_backend = True
            return self._backend.info

    @property
    def model_loaded(self) -> bool:
        return self._backend is not None

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self.load_model()
        assert self._backend is not None
        return self._backend

    @property
    def chat(self) -> ChatEngine:
        """The chat loop; loads the model on first use."""
        if self._chat is None:
            self._chat = ChatEngine(self.backend, self.sessions, self.settings, on_answer=self._after_answer,
                                    facts=self.facts_for if self.settings.graph_facts_in_prompt else None,
                                    memories=self.memories_for if self.retrieval_on else None)
        return self._chat

    @property
    def memory(self) -> MemoryStore:
        """Long-term memory (loads the embedding model on first use: seconds)."""
        with self._memory_lock:
            if self._memory is None:
                from memory.embeddings import Embedder
                from memory.store import MemoryStore

                embedder = Embedder(self.settings.embedding_model, device=self.settings.device,
                                    runtime=self.settings.embedding_runtime,
                                    cache_dir=self.settings.data_dir / "cache")
                # its own connection: memory transactions can be long and run in other threads
                self._memory = MemoryStore(open_database(self.settings.data_dir), self.settings.data_dir, embedder)
                from memory.sentences import ensure_schema

                with self._memory.lock:
                    ensure_schema(self._memory.db)
            return self._memory

    @property
    def memory_writer(self) -> MemoryWriter:
        if self._writer is None:
            from memory.chat_memory import MemoryWriter

            self._writer = MemoryWriter(lambda: self.memory, before=self._process_new_memories)
        return self._writer

    @property
    def knowledge(self) -> KnowledgeGraph:
        """The knowledge graph (SQLite only: cheap to open; shares memory's connection and lock)."""
        with self._memory_lock:
            if self._knowledge is None:
                from memory.graph.graph import KnowledgeGraph

                confirm = self._confirm_same if self.settings.graph_extractor == "llm" else None
                if self._memory is not None:
                    with self._memory.lock:  # its schema check commits: never inside a running load
                        self._knowledge = KnowledgeGraph(self._memory.db, self._memory.lock, confirm=confirm)
                else:
                    self._knowledge = KnowledgeGraph(open_database(self.settings.data_dir), confirm=confirm)
            return self._knowledge

    def _confirm_same(self, a: str, b: str) -> bool:
        """With the LLM extractor, the model also confirms fuzzy entity matches."""
        from memory.graph.llm_extractor import confirm_same

        return confirm_same(self.backend)(a, b)

    @property
    def extractor(self) -> Extractor | None:
        """The configured knowledge extractor (None when ``graph_extractor`` is off)."""
        if self._extractor is None and self.settings.graph_extractor != "off":
            from memory.graph.extract import LlmExtractor, SpacyExtractor

            if self.settings.graph_extractor == "llm":
                self._extractor = LlmExtractor(self.backend)
            else:
                self._extractor = SpacyExtractor()
        return self._extractor

    def _process_new_memories(self) -> None:
        """What the memory writer does with new memories before embedding them."""
        try:
            self.extract_knowledge()
        finally:
            self.index_sentences()

    def index_sentences(self) -> int:
        """Sentence vectors for said turns that have none yet (see ``memory.sentences``)."""
        from memory.sentences import index_pending

        store = self.memory
        return index_pending(store.db, store.embedder.encode, store.lock)

    def extract_knowledge(self, progress=None, cancel=None) -> int:  # noqa: ANN001
        """Fill the graph from memory items not yet processed; returns how many were."""
        from memory.graph.pipeline import process_pending

        extractor = self.extractor
        if extractor is None:
            return 0
        return process_pending(self.knowledge, extractor, progress=progress, cancel=cancel)

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

    def import_transcript(self, path: Path, progress: Callable[[int, int], None] | None = None,
                          knowledge_progress: Callable[[int, int], None] | None = None) -> ImportResult:
        """Import a JSON Lines transcript into memory, then extract its knowledge."""
        from memory.transcripts import import_transcript

        result = import_transcript(self.memory, path, progress)
        self.index_sentences()
        self.extract_knowledge(progress=knowledge_progress)
        return result

    def _after_answer(self, session_id: str, user_text: str, answer: Message) -> None:
        if self.settings.remember_chats:
            self._remember(session_id, user_text, answer)
        window_start = answer.meta.get("context", {}).get("window_start", 0)
        if self.settings.summarize_history and summary_due(self.sessions, session_id, window_start):
            self.background.submit(self.update_summary, session_id, window_start)

    @property
    def background(self) -> ThreadPoolExecutor:
        """One worker for model jobs that follow an answer (the rolling summary)."""
        if self._background is None:
            self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memchat-background")
        return self._background

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

    def session_names(self, keys: Iterable[str]) -> set[str]:
        """What memory may call these sessions: each key as given (a deleted session's id, an
        imported transcript's session name) and the id of the stored session it names, if any."""
        from assistant.errors import SessionNotFoundError

        names = set()
        for key in keys:
            names.add(key)
            try:
                names.add(self.sessions.get(key).id)
            except SessionNotFoundError:
                pass
        return names

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

    def _settle(self, timeout: float = 120.0) -> None:
        """Let background work on new memories and on the rolling summary finish first, so
        none of it writes back what is being forgotten."""
        busy = MemchatError("new memories or the chat's summary are still being written; try again in a moment")
        if self._writer is not None and not self._writer.flush(timeout):
            raise busy
        if self._background is not None:
            try:
                self._background.submit(lambda: None).result(timeout)
            except FutureTimeout:
                raise busy from None

    def close(self) -> None:
        if self._background is not None:
            self._background.shutdown(wait=True)
            self._background = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._knowledge is not None and (self._memory is None or self._knowledge.db is not self._memory.db):
            self._knowledge.db.conn.close()
        self._knowledge = None
        if self._memory is not None:
            try:
                self._memory.save_index()
            except OSError:
                pass  # the index is rebuilt from SQLite next time
            self._memory.db.conn.close()
            self._memory = None
        if self._backend is not None and self._owns_backend:
            try:
                self._backend.close()
            except BackendError:
                pass
            self._backend = None
        self.db.conn.close()

    def __enter__(self) -> Assistant:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_assistant(settings: Settings | None = None, **overrides: object) -> Assistant:
    """An Assistant for ``settings`` (default: config file + env + ``overrides``)."""
    return Assistant(settings or load_settings(**overrides))


def memory_label(item: MemoryItem) -> str:
    """Where and when a memory is from, as the prompt names it once for the memories it
    groups: 'manual.pdf p.3', 'chat "Trip", Mon 8 May 2023', 'session-4, Mon 8 May 2023'."""
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


CHAT_NAME = re.compile(r'^\[[^\]]*\] chat "(.*)"$', re.MULTILINE)


def memory_for_prompt(item: MemoryItem, score: float) -> Memory:
    """A retrieved item as the prompt shows it: its id, where and when it is from, its text
    (with the dates that its relative time words meant when it was said)."""
    from memory.timeparse import annotate_relative_dates

    text = item.text
    if item.kind in ("chat", "import"):
        text = annotate_relative_dates(text, datetime.fromisoformat(item.occurred_at))
    order = (item.position.get("turn", item.position.get("chunk", 0)),)
    return Memory(f"m{item.id}", item.id, text, memory_label(item), score, item.session_id, item.message_id,
                  order)
