"""The decoder contract every backend fulfils: load, count tokens, template, stream, cancel.

Every backend is a ``memory.generation.TextGenerator`` (what the memory layer needs from a
model); ``ChatMessage`` and ``GenerationParams`` are defined there and re-exported here.

A backend is created cheap and loaded once (``load``); after that it reports the model's
real context length, turns chat messages into the exact prompt text the model sees,
counts tokens with the model's own tokenizer, and streams an answer chunk by chunk.
Streaming stops early, at the next token, when the caller sets the ``cancel`` event.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

from memory.generation import ChatMessage, GenerationParams

__all__ = ["Backend", "ChatMessage", "GenerationParams", "LongContext", "ModelInfo", "common_prefix"]


@dataclass(frozen=True)
class LongContext:
    """Options for long prompts: key/value prefix reuse, RoPE scaling, KV cache precision."""

    prefix_cache: bool = True
    rope_scaling: str = "none"  # "none" | "linear" | "yarn"
    rope_factor: float = 1.0
    kv_cache_type: str = "auto"  # "auto" | "f16" | "q8_0" | "q4_0"
    state_cache_mb: int = 256  # llama.cpp: RAM for saved prompt states (0: only the live one)


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading token ids two sequences share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class ModelInfo:
    """What a loaded backend tells the UI and the prompt builder."""

    backend: str
    model: str
    device: str
    context_length: int


class Backend(ABC):
    """A loaded causal language model that can stream chat answers."""

    name: str = "base"
    _info: ModelInfo | None = None  # set by ``load``
    last_reused_tokens: int = 0  # prompt tokens the last generation took from the prefix cache

    @abstractmethod
    def load(self) -> ModelInfo:
        """Load weights (or connect); raise ModelLoadError with an actionable message."""

    @property
    def info(self) -> ModelInfo:
        """Model, device and context length; valid after ``load``."""
        if self._info is None:
            from assistant.errors import BackendError

            raise BackendError("model not loaded yet")
        return self._info

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes with this model's tokenizer (no BOS added)."""

    @abstractmethod
    def apply_chat_template(self, messages: list[ChatMessage]) -> str:
        """The prompt text for ``messages``, ending where the assistant's answer starts."""

    @abstractmethod
    def stream(
        self,
        messages: list[ChatMessage],
        params: GenerationParams,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the answer as text chunks; stop early once ``cancel`` is set."""

    def count_prompt_tokens(self, messages: list[ChatMessage]) -> int:
        """Tokens the templated prompt for ``messages`` takes."""
        return self.count_tokens(self.apply_chat_template(messages))

    def close(self) -> None:
        """Free the model's memory or connections. Safe to call twice."""
