"""Shared fixtures: an isolated config/data dir per test, and real models loaded once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant.app import Assistant
from assistant.backends.default_model import default_gguf_path
from assistant.backends.llamacpp_backend import LlamaCppBackend
from assistant.backends.model_source import resolve_model
from assistant.config import Settings, load_settings

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point config, data and XDG dirs at a temp dir; drop the user's MEMCHAT_* variables."""
    for key in list(os.environ):
        if key.startswith("MEMCHAT_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("MEMCHAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MEMCHAT_CONFIG", str(tmp_path / "config.toml"))
    return tmp_path


@pytest.fixture(scope="session")
def llama_backend() -> Iterator[LlamaCppBackend]:
    """The embedded SmolLM2 on llama.cpp, loaded once for the whole run."""
    backend = LlamaCppBackend(resolve_model(None))
    backend.load()
    yield backend
    backend.close()


@pytest.fixture()
def settings(isolated_env: Path) -> Settings:
    """Greedy decoding so answers are reproducible."""
    return load_settings(temperature=0.0, max_new_tokens=48)


@pytest.fixture()
def assistant(settings: Settings, llama_backend: LlamaCppBackend) -> Iterator[Assistant]:
    with Assistant(settings, backend=llama_backend) as app:
        yield app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not come up in {timeout}s")


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama-cpp-python OpenAI-compatible server on the embedded GGUF; yields its /v1 URL."""
    port = free_port()
    command = [
        sys.executable, str(REPO_ROOT / "tests" / "llama_server.py"),
        "--model", str(default_gguf_path()), "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
    ]
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_http(f"{base_url}/models", process)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def poll_until(condition, timeout: float = 60.0, interval: float = 0.05) -> None:
    """Wait until ``condition()`` is true (for code that runs in other threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="session")
def embedder():
    """The embedded all-MiniLM-L6-v2, loaded once."""
    from memory.embeddings import Embedder

    return Embedder()


@pytest.fixture()
def memory_store(tmp_path: Path, embedder):
    from memory.db import open_database
    from memory.store import MemoryStore

    data_dir = tmp_path / "memdata"
    store = MemoryStore(open_database(data_dir), data_dir, embedder)
    yield store
    store.db.conn.close()
