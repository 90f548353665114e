"""The OpenAI-compatible backend against a real llama-cpp-python server process."""

from __future__ import annotations

import threading

import pytest

from assistant.app import Assistant
from assistant.backends import create_backend
from assistant.backends.base import GenerationParams
from assistant.backends.llamacpp_backend import LlamaCppBackend
from assistant.backends.openai_backend import OpenAIBackend
from assistant.config import DEFAULT_SYSTEM_PROMPT, load_settings
from assistant.errors import BackendError, ModelLoadError
from tests.conftest import free_port

QUESTION = [
    {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture()
def remote(llama_server: str) -> OpenAIBackend:
    backend = create_backend(load_settings(base_url=llama_server))
    assert isinstance(backend, OpenAIBackend)
    backend.load()
    return backend


def test_connects_and_picks_the_served_model(remote: OpenAIBackend) -> None:
    assert remote.info.backend == "openai"
    assert remote.info.model == "smollm2"


def test_counts_tokens_with_the_servers_tokenizer(remote: OpenAIBackend, llama_backend: LlamaCppBackend) -> None:
    text = "My sister Carol moved from Lyon to Montreal last spring."
    assert remote.count_tokens(text) == llama_backend.count_tokens(text)


def test_streams_an_answer_in_several_chunks(remote: OpenAIBackend) -> None:
    chunks = list(remote.stream(QUESTION, GenerationParams(temperature=0.0, max_new_tokens=24)))
    assert len(chunks) > 2
    assert "Paris" in "".join(chunks)


def test_cancel_stops_the_stream(remote: OpenAIBackend) -> None:
    cancel = threading.Event()
    task = [{"role": "user", "content": "Write a very long story about a dragon."}]
    chunks = []
    for chunk in remote.stream(task, GenerationParams(max_new_tokens=300), cancel):
        chunks.append(chunk)
        if len(chunks) == 3:
            cancel.set()
    assert len(chunks) == 3


def test_a_full_chat_turn_over_http_is_stored(llama_server: str) -> None:
    settings = load_settings(base_url=llama_server, temperature=0.0, max_new_tokens=24)
    with Assistant(settings) as app:
        session = app.sessions.create()
        reply = app.chat.send(session.id, "What is the capital of France?")
        text = "".join(reply)
        stored = app.sessions.messages(session.id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].content == text and stored[1].model == "smollm2"
    assert stored[1].meta["backend"] == "openai"


def test_no_server_is_a_clear_error() -> None:
    backend = create_backend(load_settings(base_url=f"http://127.0.0.1:{free_port()}/v1"))
    with pytest.raises(ModelLoadError, match="cannot reach an OpenAI-compatible server.*is it running"):
        backend.load()


def test_openai_without_base_url_says_what_is_missing() -> None:
    from assistant.errors import ConfigError

    with pytest.raises(ConfigError, match="--base-url"):
        create_backend(load_settings(backend="openai"))


def test_server_dying_mid_session_is_a_backend_error(remote: OpenAIBackend) -> None:
    remote._client.base_url = f"http://127.0.0.1:{free_port()}/v1"  # the server went away
    with pytest.raises(BackendError, match="lost the connection"):
        list(remote.stream(QUESTION, GenerationParams(max_new_tokens=8)))


def test_a_server_whose_models_route_answers_a_bare_list_is_understood() -> None:
    """Some servers answer GET /models with a JSON list instead of {"data": [...]}."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = json.dumps([{"id": "tiny", "context_length": 2048}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - no tokenize route: a list here too
            self.do_GET()

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        info = OpenAIBackend(f"http://127.0.0.1:{server.server_address[1]}/v1").load()
        assert info.model == "tiny" and info.context_length == 2048
    finally:
        server.shutdown()
