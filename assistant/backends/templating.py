"""Chat-template helpers shared by the backends."""

from __future__ import annotations

from assistant.backends.base import ChatMessage


def plain_chat_prompt(messages: list[ChatMessage]) -> str:
    """A readable fallback prompt for models that ship no chat template."""
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(lines) + "\n\nAssistant:"


def chatml_prompt(messages: list[ChatMessage]) -> str:
    """ChatML rendering, used to estimate prompt size when the server hides its template."""
    body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return body + "<|im_start|>assistant\n"
