"""Fit the conversation into the model's context: system prompt, recent turns, new message.

The newest turns win: the longest suffix of the history that fits is kept, found by a
binary search over exact token counts of the templated prompt. The user's message is
never dropped; if it cannot fit, the caller gets a PromptTooLongError that says by how much.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assistant.backends.base import Backend, ChatMessage
from assistant.errors import PromptTooLongError

MIN_ANSWER_TOKENS = 16


@dataclass(frozen=True)
class PromptPlan:
    """The messages sent to the model, their token count, and how many turns were left out."""

    messages: list[ChatMessage]
    prompt_tokens: int
    kept_history: int
    dropped_history: int
    budget: int


def prompt_budget(context_length: int, max_new_tokens: int) -> int:
    """Tokens available to the prompt: the context minus the tokens reserved for the answer."""
    reserve = min(max_new_tokens, context_length // 2)
    return context_length - max(reserve, MIN_ANSWER_TOKENS)


def build_prompt(
    backend: Backend,
    system_prompt: str,
    history: Sequence[ChatMessage],
    user_text: str,
    max_new_tokens: int,
) -> PromptPlan:
    """The longest recent history that fits with the system prompt and the new message."""
    context = backend.info.context_length
    budget = prompt_budget(context, max_new_tokens)
    head: list[ChatMessage] = [{"role": "system", "content": system_prompt}] if system_prompt else []
    tail: list[ChatMessage] = [{"role": "user", "content": user_text}]

    def assemble(keep: int) -> list[ChatMessage]:
        kept = list(history[len(history) - keep :]) if keep else []
        return head + kept + tail

    bare = backend.count_prompt_tokens(assemble(0))
    if bare > budget:
        message_tokens = backend.count_tokens(user_text)
        raise PromptTooLongError(
            f"the message is {message_tokens} tokens and the prompt would need {bare}, but the model's "
            f"{context}-token context leaves {budget} after reserving room for the answer; shorten the "
            "message, lower --max-new-tokens, or use a model with a longer context"
        )
    low, high, best_tokens = 0, len(history), bare
    while low < high:  # largest keep whose prompt fits
        middle = (low + high + 1) // 2
        tokens = backend.count_prompt_tokens(assemble(middle))
        if tokens <= budget:
            low, best_tokens = middle, tokens
        else:
            high = middle - 1
    if low and history[len(history) - low]["role"] == "assistant":
        low -= 1  # start on a user turn: an answer without its question confuses models
        best_tokens = backend.count_prompt_tokens(assemble(low))
    return PromptPlan(assemble(low), best_tokens, low, len(history) - low, budget)
