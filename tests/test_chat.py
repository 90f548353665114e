"""The chat loop on the real embedded model: storage, history, trimming, cancel and failures."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from assistant.app import Assistant
from assistant.backends.base import ChatMessage, GenerationParams
from assistant.backends.llamacpp_backend import LlamaCppBackend
from assistant.backends.model_source import resolve_model
from assistant.config import load_settings
from assistant.errors import BackendError, MemchatError, PromptTooLongError
from assistant.prompt import ContextInputs, Turn, assemble, prompt_budget


def test_an_exchange_is_stored_with_tokens_model_and_timings(assistant: Assistant) -> None:
    session = assistant.sessions.create("geo")
    reply = assistant.chat.send(session.id, "What is the capital of France?")
    text = "".join(reply)
    assert "Paris" in text
    user, answer = assistant.sessions.messages(session.id)
    assert (user.role, user.content, user.status) == ("user", "What is the capital of France?", "complete")
    assert (answer.role, answer.content, answer.status) == ("assistant", text, "complete")
    assert user.tokens == assistant.backend.count_tokens(user.content)
    assert answer.tokens == reply.stats.completion_tokens > 0
    assert answer.model == "SmolLM2-135M-Instruct (embedded)"
    assert answer.meta["prompt_tokens"] == reply.stats.prompt_tokens > user.tokens
    assert answer.meta["time_to_first_token_s"] > 0


def test_follow_up_sees_the_earlier_turns(assistant: Assistant) -> None:
    session = assistant.sessions.create()
    "".join(assistant.chat.send(session.id, "My name is Zoltan."))
    reply = assistant.chat.send(session.id, "What is my name?")
    assert reply.plan.kept_history == 2
    assert reply.plan.messages[1]["content"] == "My name is Zoltan."
    assert "Zoltan" in "".join(reply)


def test_sessions_are_independent(assistant: Assistant) -> None:
    first, second = assistant.sessions.create(), assistant.sessions.create()
    "".join(assistant.chat.send(first.id, "My name is Zoltan."))
    reply = assistant.chat.send(second.id, "Hello")
    assert reply.plan.kept_history == 0
    reply.close()


@pytest.fixture(scope="module")
def small_context_backend() -> Iterator[LlamaCppBackend]:
    """The embedded model with a 512-token window, to make trimming happen."""
    backend = LlamaCppBackend(resolve_model(None), context_length=512)
    backend.load()
    yield backend
    backend.close()


def test_oldest_turns_are_dropped_to_fit_and_the_newest_kept(small_context_backend: LlamaCppBackend) -> None:
    history: list[ChatMessage] = []
    for turn in range(30):
        history.append({"role": "user", "content": f"Question {turn}: tell me about topic {turn} in detail."})
        history.append({"role": "assistant", "content": f"Answer {turn}: " + "blah " * 20})
    turns = [Turn(i, i + 1, m["role"], m["content"]) for i, m in enumerate(history)]
    plan = assemble(small_context_backend, ContextInputs("Be brief.", "Final question?", turns), max_new_tokens=128)
    assert plan.prompt_tokens <= plan.budget == prompt_budget(512, 128)
    assert plan.prompt_tokens == small_context_backend.count_prompt_tokens(plan.messages)
    assert 0 < plan.kept_history < len(history)
    assert plan.messages[0] == {"role": "system", "content": "Be brief."}
    assert plan.messages[-1] == {"role": "user", "content": "Final question?"}
    assert plan.messages[1]["role"] == "user"  # starts on a whole round
    assert plan.messages[-2] == history[-1]  # the newest turn is there
    assert plan.messages[1:-1] == history[-plan.kept_history :]
    assert plan.dropped_history == len(history) - plan.kept_history


def test_a_message_longer_than_the_context_is_cut_visibly_and_stored_whole(
    isolated_env, small_context_backend: LlamaCppBackend
) -> None:
    with Assistant(load_settings(max_new_tokens=64, memories_in_prompt=0), backend=small_context_backend) as app:
        session = app.sessions.create()
        "".join(app.chat.send(session.id, "Hi"))
        enormous = "START " + "word " * 2000 + "END"
        reply = app.chat.send(session.id, enormous)
        "".join(reply)
        sent = reply.plan.messages[-1]["content"]
        assert reply.plan.message_cut and reply.plan.prompt_tokens <= reply.plan.budget
        assert sent.startswith("START") and sent.endswith("END")  # its beginning and its end survive
        assert "were cut here to fit the model's context" in sent
        assert any("the message was cut" in w for w in reply.warnings)
        assert app.sessions.messages(session.id)[-2].content == enormous  # what the user wrote is kept whole
        assert reply.message.meta["context"]["message_cut"] is True


def test_a_budget_smaller_than_the_system_prompt_keeps_the_message(small_context_backend) -> None:
    inputs = ContextInputs("You are a careful assistant. " * 60, "What is 2 + 2?")
    plan = assemble(small_context_backend, inputs, max_new_tokens=256)
    assert plan.messages == [{"role": "user", "content": "What is 2 + 2?"}]
    assert plan.warnings == ["the system prompt was left out: the budget is smaller than it"]
    with pytest.raises(PromptTooLongError, match="40-token context leaves 24 tokens"):
        assemble(small_context_backend, ContextInputs("Be brief.", "Hello there " * 10), 16, context_length=40)


def test_an_empty_message_is_refused(assistant: Assistant) -> None:
    session = assistant.sessions.create()
    with pytest.raises(MemchatError, match="empty"):
        assistant.chat.send(session.id, "   \n ")
    assert assistant.sessions.messages(session.id) == []


def test_cancel_keeps_the_partial_answer_as_interrupted(assistant: Assistant) -> None:
    assistant.settings.max_new_tokens = 300
    session = assistant.sessions.create()
    cancel = threading.Event()
    reply = assistant.chat.send(session.id, "Write a very long story about a dragon.", cancel)
    received = []
    for chunk in reply:
        received.append(chunk)
        if len(received) == 4:
            cancel.set()
    stored = assistant.sessions.messages(session.id)[-1]
    assert stored.status == "interrupted" == reply.status
    assert stored.content == "".join(received) != ""


def test_closing_a_reply_early_stores_what_was_said(assistant: Assistant) -> None:
    session = assistant.sessions.create()
    reply = assistant.chat.send(session.id, "Write a very long story about a dragon.")
    first = next(iter(reply))
    reply.close()  # what the CLI does on Ctrl-C
    stored = assistant.sessions.messages(session.id)[-1]
    assert (stored.status, stored.content) == ("interrupted", first)


class FailingBackend(LlamaCppBackend):
    """Fault injection: the real model, made to fail after two chunks (a crash a real one can't do on cue)."""

    def __init__(self, inner: LlamaCppBackend):  # noqa: D107 - shares the loaded model
        self.__dict__.update(inner.__dict__)

    def stream(self, messages, params: GenerationParams, cancel=None):  # noqa: ANN001
        for index, chunk in enumerate(super().stream(messages, params, cancel)):
            if index == 2:
                raise BackendError("the model crashed")
            yield chunk


def test_a_backend_failure_mid_answer_keeps_the_session_intact(settings, llama_backend: LlamaCppBackend) -> None:
    with Assistant(settings, backend=FailingBackend(llama_backend)) as app:
        session = app.sessions.create()
        reply = app.chat.send(session.id, "Tell me a story.")
        with pytest.raises(BackendError, match="crashed"):
            list(reply)
        user, partial = app.sessions.messages(session.id)
        assert user.content == "Tell me a story."
        assert partial.status == "error" and partial.content
        assert app.chat.history(session.id) == [{"role": "user", "content": "Tell me a story."}]
