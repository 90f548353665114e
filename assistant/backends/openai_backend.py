"""OpenAI-compatible HTTP backend: vLLM, llama.cpp's server, Ollama, or any /v1 endpoint.

Answers stream over server-sent events from ``/chat/completions``. Token counts come
from the server's tokenize endpoint when it has one (llama.cpp, llama-cpp-python, vLLM),
otherwise from a conservative estimate (one token per three bytes of ChatML text).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from assistant.backends.base import Backend, ChatMessage, GenerationParams, ModelInfo
from assistant.backends.templating import chatml_prompt
from assistant.errors import BackendError, ModelLoadError

FALLBACK_CONTEXT = 4096
BYTES_PER_TOKEN_ESTIMATE = 3
CONTEXT_KEYS = ("max_model_len", "context_length", "n_ctx", "n_ctx_train", "max_context_length")


def _find_context_length(entry: dict[str, Any]) -> int | None:
    """Servers put the context length in different places of their /models entry."""
    for holder in (entry, entry.get("meta") or {}, entry.get("metadata") or {}):
        for key in CONTEXT_KEYS:
            value = holder.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None


class OpenAIBackend(Backend):
    """A model served over the OpenAI chat-completions API."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        context_length: int | None = None,
        timeout: float = 120.0,
    ):
        self._base_url = base_url.rstrip("/")
        self._model = model
        self._requested_context = context_length
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self._base_url, headers=headers, timeout=timeout)
        self._tokenize_route: tuple[str, str] | None = None
        self._info: ModelInfo | None = None

    def _server_root(self) -> str:
        return self._base_url[: -len("/v1")] if self._base_url.endswith("/v1") else self._base_url

    def load(self) -> ModelInfo:
        try:
            response = self._client.get("/models")
            response.raise_for_status()
            body = response.json()
            listed = body.get("data") if isinstance(body, dict) else body  # some servers send the bare list
            listed = listed if isinstance(listed, list) else []
        except httpx.HTTPStatusError as exc:
            raise ModelLoadError(
                f"server at {self._base_url} answered {exc.response.status_code} to GET /models; "
                "check --base-url (it usually ends in /v1) and --api-key"
            ) from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise ModelLoadError(
                f"cannot reach an OpenAI-compatible server at {self._base_url} ({exc}); is it running?"
            ) from exc
        ids = [entry.get("id") for entry in listed if isinstance(entry, dict)]
        if self._model is None:
            if not ids:
                raise ModelLoadError(f"server at {self._base_url} lists no models; pass --model NAME")
            self._model = ids[0]
        entry = next((e for e in listed if isinstance(e, dict) and e.get("id") == self._model), {})
        context = self._requested_context or _find_context_length(entry) or FALLBACK_CONTEXT
        self._tokenize_route = self._probe_tokenizer()
        self._info = ModelInfo(self.name, self._model, self._base_url, context)
        return self._info

    def _probe_tokenizer(self) -> tuple[str, str] | None:
        """Find a tokenize endpoint: (url, request field), or None to estimate."""
        root = self._server_root()
        for url, field in ((f"{root}/extras/tokenize", "input"), (f"{root}/tokenize", "content")):
            try:
                response = self._client.post(url, json={field: "hello", "model": self._model})
                body = response.json() if response.status_code == 200 else None
                if isinstance(body, dict) and isinstance(body.get("tokens"), list):
                    return url, field
            except (httpx.HTTPError, ValueError):
                continue
        return None

    def count_tokens(self, text: str) -> int:
        if self._tokenize_route is not None:
            url, field = self._tokenize_route
            try:
                response = self._client.post(url, json={field: text, "model": self._model})
                response.raise_for_status()
                return len(response.json()["tokens"])
            except (httpx.HTTPError, ValueError, KeyError):
                pass  # fall back to the estimate below
        return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN_ESTIMATE)

    def apply_chat_template(self, messages: list[ChatMessage]) -> str:
        return chatml_prompt(messages)

    def _payload(self, messages: list[ChatMessage], params: GenerationParams) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self._model,
            "messages": list(messages),
            "stream": True,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_new_tokens,
        }
        if params.seed is not None:
            payload["seed"] = params.seed
        if params.json_schema is not None:
            payload["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": json.loads(params.json_schema)}}
        if params.repetition_penalty != 1.0 and "api.openai.com" not in self._base_url:
            # not in the OpenAI spec: vLLM reads the first, llama.cpp servers the second
            payload["repetition_penalty"] = params.repetition_penalty
            payload["repeat_penalty"] = params.repetition_penalty
        return payload

    def stream(
        self,
        messages: list[ChatMessage],
        params: GenerationParams,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        self.info  # noqa: B018 - raises when not connected
        try:
            with self._client.stream("POST", "/chat/completions", json=self._payload(messages, params)) as response:
                if response.status_code >= 400:
                    detail = response.read().decode("utf-8", errors="replace")[:300]
                    raise BackendError(f"server at {self._base_url} answered {response.status_code}: {detail}")
                for line in response.iter_lines():
                    if cancel is not None and cancel.is_set():
                        break
                    text = _sse_text(line)
                    if text is None:
                        break
                    if text:
                        yield text
        except httpx.HTTPError as exc:
            raise BackendError(f"lost the connection to {self._base_url} while generating: {exc}") from exc

    def close(self) -> None:
        self._client.close()


def _sse_text(line: str) -> str | None:
    """The text in one SSE line: '' for keep-alives and role-only deltas, None at [DONE]."""
    if not line.startswith("data:"):
        return ""
    data = line[len("data:"):].strip()
    if data == "[DONE]":
        return None
    try:
        event = json.loads(data)
    except ValueError:
        return ""
    if "error" in event:
        raise BackendError(f"server error while generating: {event['error']}")
    choices = event.get("choices") or [{}]
    return (choices[0].get("delta") or {}).get("content") or ""
