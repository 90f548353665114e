"""``Assistant``: the one object the CLI and the TUI drive (settings, store, model, chat)."""

from __future__ import annotations

import threading
from types import TracebackType

from assistant.backends import Backend, ModelInfo, create_backend
from assistant.chat import ChatEngine
from assistant.config import Settings, load_settings
from assistant.errors import BackendError
from assistant.sessions import SessionStore
from memory.db import open_database


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
            self._chat = ChatEngine(self.backend, self.sessions, self.settings)
        return self._chat

    def close(self) -> None:
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
