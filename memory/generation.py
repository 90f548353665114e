"""What memory needs from a language model: something that generates text.

The LLM knowledge extractor and document summaries are written against ``TextGenerator``;
every backend in ``assistant.backends`` satisfies it (``Backend`` has these methods), so
memory never imports the layer above it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, TypedDict, runtime_checkable


class ChatMessage(TypedDict):
    """One message as chat templates expect it."""

    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings for one answer."""

    temperature: float = 0.2
    top_p: float = 0.9
    max_new_tokens: int = 512
    repetition_penalty: float = 1.1
    seed: int | None = None
    # constrain the answer to JSON of this schema where the backend can (llama.cpp grammar,
    # OpenAI-compatible response_format); others generate freely and the caller validates
    json_schema: str | None = None


class ContextInfo(Protocol):
    """The part of a loaded model's description that packing text into prompts needs."""

    @property
    def context_length(self) -> int: ...


@runtime_checkable
class TextGenerator(Protocol):
    """A loaded language model: streams an answer to chat messages and counts tokens."""

    @property
    def info(self) -> ContextInfo: ...

    def stream(self, messages: list[ChatMessage], params: GenerationParams,
               cancel: threading.Event | None = None) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...

    def count_prompt_tokens(self, messages: list[ChatMessage]) -> int: ...
