"""Prompt assembly with the real tokenizer and chat template: the budget always holds
(property-tested), sections behave as users expect, bad inputs are handled."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.backends.llamacpp_backend import LlamaCppBackend
from assistant.prompt import (
    ContextInputs,
    Fact,
    Memory,
    Summary,
    Turn,
    assemble,
    prompt_budget,
    section_shares,
)

WORDS = ["apple", "river", "Montreal", "quantum", "blue", "Carol", "engine", "the", "of", "déjà", "日本", "42", "🙂"]


def text_of(draw, low: int, high: int) -> str:
    return " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=low, max_size=high)))


@st.composite
def sessions(draw) -> ContextInputs:
    count = draw(st.integers(0, 80))
    turns = [Turn(i, 1000 + i, "user" if i % 2 == 0 else "assistant", text_of(draw, 1, 60) or "ok")
             for i in range(count)]
    memories = [Memory(f"m{i}", i, text_of(draw, 1, 400) or "x", f"chat 2026-01-{1 + i % 28:02d}",
                       session_id=draw(st.sampled_from(["s", "other"])), message_id=1000 + draw(st.integers(0, 90)))
                for i in range(draw(st.integers(0, 12)))]
    facts = [Fact(text_of(draw, 2, 20) + f" [m{i}]", f"m{i}") for i in range(draw(st.integers(0, 10)))]
    summary = Summary(text_of(draw, 1, 300), max(count // 2 - 1, 0)) if draw(st.booleans()) else None
    message = text_of(draw, 0, 3000) or "hello"
    return ContextInputs(text_of(draw, 0, 200), message, turns, count, memories, facts, summary, "s")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inputs=sessions(), context=st.integers(256, 8192), answer=st.integers(16, 1024))
def test_the_prompt_never_exceeds_the_budget(llama_backend: LlamaCppBackend, inputs: ContextInputs,
                                              context: int, answer: int) -> None:
    plan = assemble(llama_backend, inputs, answer, context_length=context)
    assert plan.budget == prompt_budget(context, answer)
    assert plan.prompt_tokens == llama_backend.count_prompt_tokens(plan.messages) <= plan.budget
    last = plan.messages[-1]
    assert last["role"] == "user"
    if plan.message_cut:
        assert "were cut here to fit the model's context" in last["content"]
    else:
        assert last["content"].endswith(inputs.user_text)  # the message is always there, whole or visibly cut
    window = [m for m in plan.messages[:-1] if m["role"] != "system"]
    if window:
        assert window[-1]["content"] == inputs.turns[-1].content  # the newest turn wins
        assert window[0]["role"] == "user"
        kept = [t for t in inputs.turns if t.index >= plan.window_start]
        assert [m["content"] for m in window] == [t.content for t in kept]  # a contiguous, newest run
    for item in plan.sections["memories"].items:  # nothing in the window is repeated as a memory
        memory = next(m for m in inputs.memories if m.ref == item["ref"])
        in_session = memory.session_id == "s" and memory.message_id is not None
        assert not (in_session and window and memory.message_id >= 1000 + plan.window_start)
    assert sum(s.tokens for s in plan.sections.values()) <= plan.prompt_tokens


def test_newest_turns_win_and_the_window_moves_in_blocks(llama_backend: LlamaCppBackend) -> None:
    turns: list[Turn] = []
    starts, prefixes = [], []
    for i in range(0, 400, 2):
        turns += [Turn(i, i, "user", f"Question {i}: " + "tell me more " * 8),
                  Turn(i + 1, i + 1, "assistant", f"Answer {i}: " + "here is more " * 12)]
        plan = assemble(llama_backend, ContextInputs("Be brief.", "Next?", turns, len(turns)), 256,
                        context_length=4096)
        starts.append(plan.window_start)
        prefixes.append(plan.messages[: plan.stable_messages])
    assert starts[-1] > 0 and turns[-1].content == plan.messages[-2]["content"]
    moves = sum(1 for a, b in zip(starts, starts[1:]) if a != b)
    assert moves <= len(starts) // 4  # the window start stays put for several turns at a time
    unchanged = sum(1 for a, b in zip(prefixes, prefixes[1:]) if b[: len(a)] == a)
    assert unchanged >= len(prefixes) * 3 // 4  # so the cached prefix is usually still valid


def test_section_shares_adapt_to_the_context(llama_backend: LlamaCppBackend) -> None:
    small, big = section_shares(8192), section_shares(131072)
    assert small["memories"] > big["memories"] and small["summary"] > big["summary"]
    turns = [Turn(i, i, "user" if i % 2 == 0 else "assistant", f"turn {i} " + "words " * 30) for i in range(3000)]
    memories = [Memory(f"m{i}", i, "a remembered fact " * 40, "chat") for i in range(20)]
    plans = {ctx: assemble(llama_backend, ContextInputs("Be brief.", "Hi", turns, len(turns), memories), 512,
                           context_length=ctx) for ctx in (2048, 8192, 32768)}
    kept = [plans[c].kept_history for c in (2048, 8192, 32768)]
    assert kept[0] < kept[1] < kept[2] and kept[2] > 300  # a long context keeps hundreds of turns
    share = [plans[c].sections["memories"].tokens / plans[c].prompt_tokens for c in (2048, 8192, 32768)]
    assert share[0] > share[2]  # and a short one leans more on retrieval


def test_a_short_session_gives_unused_room_to_retrieval(llama_backend: LlamaCppBackend) -> None:
    memories = [Memory(f"m{i}", i, f"memory number {i} " * 30, "doc.md") for i in range(30)]
    plan = assemble(llama_backend, ContextInputs("Be brief.", "What do you know?", [], 0, memories), 512,
                    context_length=4096)
    assert len(plan.sections["memories"].items) >= 10


def test_empty_memory_and_no_facts_give_a_plain_prompt(llama_backend: LlamaCppBackend) -> None:
    plan = assemble(llama_backend, ContextInputs("Be brief.", "Hello"), 128)
    assert plan.messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    assert plan.sections["memories"].items == [] and plan.warnings == []


def test_memories_and_facts_carry_their_ids_in_the_message(llama_backend: LlamaCppBackend) -> None:
    inputs = ContextInputs("Be brief.", "Where does Carol live?", memories=[
        Memory("m7", 7, "User: My sister Carol moved to Montreal.", "chat 2026-03-02")],
        facts=[Fact("Carol lives in Montreal [m7]", "m7", (7,))], summary=Summary("We talked about family.", 3))
    plan = assemble(llama_backend, inputs, 128)
    system, message = plan.messages[0]["content"], plan.messages[-1]["content"]
    assert "Summary of the earlier conversation:\nWe talked about family." in system
    assert (message.index("Known facts:") < message.index("(chat 2026-03-02)\n[m7] User: My sister")
            < message.index("Where does"))
    assert "Cite the [id]" in message and plan.refs == {"m7"}
    assert plan.explain()["sections"]["memories"]["items"][0]["id"] == 7


def test_a_model_without_a_chat_template_still_gets_a_prompt(llama_backend: LlamaCppBackend) -> None:
    bare = LlamaCppBackend.__new__(LlamaCppBackend)
    bare.__dict__.update(llama_backend.__dict__)
    bare._formatter = None  # what a GGUF file without tokenizer.chat_template loads as
    plan = assemble(bare, ContextInputs("Be brief.", "Hello", [Turn(0, 1, "user", "Hi"),
                                                               Turn(1, 2, "assistant", "Hello!")], 2), 64)
    assert plan.prompt_tokens == bare.count_prompt_tokens(plan.messages) <= plan.budget
    assert "Hello!" in bare.apply_chat_template(plan.messages)


@pytest.mark.parametrize("message", ["   ", "\n\t"])
def test_whitespace_only_messages_are_refused(assistant, message: str) -> None:
    from assistant.errors import MemchatError

    session = assistant.sessions.create()
    with pytest.raises(MemchatError, match="empty"):
        assistant.chat.send(session.id, message)


def test_a_thousand_turn_session_recalls_a_fact_from_turn_three(isolated_env) -> None:
    """The issue's bar: turn 3 left the window long ago; its memory is in the prompt, and
    ``ask --explain`` shows it with its source id."""
    from assistant.app import Assistant
    from assistant.config import load_settings
    from memory.chat_memory import Exchange, remember_exchange
    from tests.test_cli import run

    with Assistant(load_settings()) as app:
        session = app.sessions.create("a long month")
        rng = random.Random(5)
        verbs, things = ["painted", "repaired", "sold", "found", "cleaned", "described", "photographed", "moved"], [
            "bicycle", "kitchen table", "garden fence", "old piano", "blue kayak", "tent", "bookshelf", "guitar",
            "balcony", "violin", "laptop", "canoe", "lamp", "chessboard", "telescope", "sofa"]
        for turn in range(1000):
            user = (f"Today I {rng.choice(verbs)} the {rng.choice(things)} and then the {rng.choice(things)}, "
                    f"which took {rng.randint(2, 90)} minutes." if turn != 2
                    else "Remember this: my gym locker code is 4417.")
            app.sessions.add_message(session.id, "user", user)
            answer = app.sessions.add_message(session.id, "assistant", f"Noted, thank you ({turn}).")
            remember_exchange(app.db, Exchange(session.id, session.name, user, answer.content, answer.created_at,
                                               answer.id, turn))
        assert app.memory.count() > 500  # opening memory embeds the new rounds (near-duplicates are linked)
        assert app.memory.get([3])[3].duplicate_of is None
    asked = run("--max-new-tokens", "24", "--temperature", "0", "--context-length", "4096", "ask", "-s", session.id,
                "--explain",
                "What is my gym locker code?", timeout=600)
    assert asked.returncode == 0, asked.stderr
    explained = asked.stderr
    assert "[m3] chat" in explained and "gym locker code is 4417" in explained
    assert "earlier ones left out" in explained  # turn 3 is far outside the window
    with Assistant(load_settings()) as app:
        answer = app.sessions.messages(session.id)[-1]
        context = answer.meta["context"]
        assert context["window_start"] > 1000 and context["dropped_turns"] > 1000 and context["budget"] < 4096
        assert "m3" in {item["ref"] for item in context["sections"]["memories"]["items"]}


def test_a_document_longer_than_the_context_is_summarised_hierarchically(isolated_env) -> None:
    from tests.test_cli import run

    facts = ["Ada Lovelace wrote the first published algorithm for the Analytical Engine.",
             "Charles Babbage designed the Difference Engine to tabulate polynomials.",
             "Grace Hopper built the first compiler, the A-0 system, in 1952."]
    book = isolated_env / "pioneers.md"
    book.write_text("# Pioneers\n\n" + "\n\n".join(f"{facts[i % 3]} (note {i})" for i in range(45)) + "\n")
    assert run("load", str(book)).returncode == 0
    summarized = run("--context-length", "1024", "--max-new-tokens", "64", "summarize", str(book), timeout=900)
    assert summarized.returncode == 0, summarized.stderr
    assert summarized.stdout.strip()
    assert "level(s)" in summarized.stderr and " 1 level(s)" not in summarized.stderr  # needed more than one pass
    docs = json.loads(run("search", "--json", "--kind", "summary", "-k", "20", "Pioneers").stdout)["hits"]
    assert len(docs) >= 2 and all(h["kind"] == "summary" for h in docs)
    assert run("forget", "--document", str(book), "--yes").returncode == 0
    assert json.loads(run("search", "--json", "--kind", "summary", "Pioneers").stdout)["hits"] == []
