"""The assistant's lifecycle: its database connections, the models it loads lazily (the
decoder, the embedding model, the knowledge extractor) and its background workers (the
memory writer, the rolling summary). ``Assistant`` adds the use cases on top.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import TYPE_CHECKING, Self

from assistant.backends import Backend, ModelInfo, create_backend
from assistant.config import Settings
from assistant.errors import BackendError, MemchatError
from assistant.sessions import SessionStore
from memory.db import open_database

if TYPE_CHECKING:
    from assistant.chat import ChatEngine
    from memory.chat_memory import MemoryWriter
    from memory.graph.graph import KnowledgeGraph
    from memory.graph.pipeline import Extractor
    from memory.store import MemoryStore


class Runtime:
    """Owns the database and the (lazily loaded) models for one data directory."""

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
    def memory(self) -> MemoryStore:
        """Long-term memory (loads the embedding model on first use: seconds)."""
        return self._open_memory()

    def _open_memory(self, for_reembed: bool = False) -> MemoryStore:
        """Open long-term memory once; ``for_reembed``: a store whose vectors may come from
        another embedding model, only to re-embed them (it must be the first use)."""
        with self._memory_lock:
            if self._memory is None:
                from memory.embeddings import Embedder
                from memory.sentences import ensure_schema
                from memory.store import MemoryStore

                embedder = Embedder(self.settings.embedding_model, device=self.settings.device,
                                    runtime=self.settings.embedding_runtime,
                                    cache_dir=self.settings.data_dir / "cache")
                # its own connection: memory transactions can be long and run in other threads
                self._memory = MemoryStore(open_database(self.settings.data_dir), self.settings.data_dir, embedder,
                                           for_reembed=for_reembed)
                with self._memory.lock:
                    ensure_schema(self._memory.db)
            elif for_reembed:
                raise MemchatError("memory is already open; re-embed before using it")
            return self._memory

    def open_memory(self) -> None:
        """Open memory with its knowledge graph (slow the first time: the embedding model).

        The graph shares memory's connection and, when first opened, runs its schema check in a
        transaction of its own, which would commit a document load caught half-way: so it is
        opened here, before any load can start."""
        self.memory  # noqa: B018 - opens it
        self.knowledge  # noqa: B018 - opens it

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


    @property
    def background(self) -> ThreadPoolExecutor:
        """One worker for model jobs that follow an answer (the rolling summary)."""
        if self._background is None:
            self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memchat-background")
        return self._background


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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

