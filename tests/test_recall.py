"""What reaches the prompt from memory: relative dates resolved, memories filling a token
budget grouped by source, `memchat prompt`, and bad input that must still give a valid prompt."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.app import Assistant
from assistant.cli import cli
from assistant.config import load_settings
from assistant.prompt import ContextInputs, Memory, assemble
from memory.timeparse import annotate_relative_dates

SPOKEN = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(("text", "expected"), [
    ("I went to a support group yesterday.", "I went to a support group yesterday (7 May 2023)."),
    ("We met two days ago at the park", "We met two days ago (6 May 2023) at the park"),
    ("I painted it last year", "I painted it last year (2022)"),
    ("It was last week, I think", "It was last week (week of 1 May 2023), I think"),
])
def test_relative_dates_are_resolved_against_when_they_were_said(text: str, expected: str) -> None:
    assert annotate_relative_dates(text, SPOKEN) == expected


@pytest.mark.parametrize("text", ["I painted a sunrise in 2022.", "No dates here at all.", "On 2023-04-01 we left."])
def test_absolute_dates_and_plain_text_are_left_alone(text: str) -> None:
    assert annotate_relative_dates(text, SPOKEN) == text


def _turns(n: int, label: str, start: int = 0) -> list[Memory]:
    return [Memory(f"m{start + i}", start + i, f"Caroline: turn {i} about the garden and the roses", label,
                   order=(n - i,)) for i in range(n)]


def test_memories_fill_the_token_cap_in_rank_order_with_each_label_once(llama_backend) -> None:  # noqa: ANN001
    memories = _turns(40, "session-1, Mon 8 May 2023") + _turns(40, "session-2, Sun 14 May 2023", start=100)
    ranked = [m for pair in zip(memories[:40], memories[40:], strict=True) for m in pair]  # alternate sources
    plan = assemble(llama_backend, ContextInputs("Be brief.", "What about the roses?", memories=ranked,
                                                 memory_tokens=300), 64)
    section = plan.sections["memories"]
    chosen = [item["id"] for item in section.items]
    assert chosen == [m.item_id for m in ranked[: len(chosen)]]  # best first, none skipped
    assert 0 < section.tokens <= 300
    user = plan.messages[-1]["content"]
    assert user.count("(session-1, Mon 8 May 2023)") == 1 and user.count("(session-2, Sun 14 May 2023)") == 1
    # within a source, turns read in their own order, not in rank order
    first_group = [line for line in user.splitlines() if line.startswith("[m") and int(line[2:].split("]")[0]) < 100]
    orders = [40 - int(line[2:].split("]")[0]) for line in first_group]
    assert orders == sorted(orders)


def test_a_bigger_cap_holds_more_memories(llama_backend) -> None:  # noqa: ANN001
    memories = _turns(80, "session-1, Mon 8 May 2023")
    counts = [len(assemble(llama_backend, ContextInputs("", "roses?", memories=memories, memory_tokens=cap),
                           64).sections["memories"].items) for cap in (200, 800)]
    assert 0 < counts[0] < counts[1]


TRANSCRIPT = [
    {"id": "D1:1", "session": "session-1", "speaker": "Caroline", "timestamp": "2023-05-08T13:56:00",
     "text": "I went to a LGBTQ support group yesterday and it was so powerful."},
    {"id": "D1:2", "session": "session-1", "speaker": "Melanie", "timestamp": "2023-05-08T13:56:00",
     "text": "That's great! I painted a sunrise last year, it calms me."},
    {"id": "D2:1", "session": "session-2", "speaker": "Caroline", "timestamp": "2023-05-25T10:00:00",
     "text": "I am researching adoption agencies; I want to give a child a loving home."},
    {"id": "D2:2", "session": "session-2", "speaker": "Melanie", "timestamp": "2023-05-25T10:00:00",
     "text": "Emoji time 🎨🌅 and some French: j'adore la peinture."},
]


@pytest.fixture()
def imported(assistant: Assistant, tmp_path: Path) -> Assistant:
    path = tmp_path / "talk.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in TRANSCRIPT))
    assistant.import_transcript(path)
    return assistant


def test_the_prompt_holds_the_turn_with_its_date_resolved(imported: Assistant) -> None:
    account = imported.prompt_for("When did Caroline go to the LGBTQ support group?")
    assert {"external_id": "D1:1", "kind": "import", "via": "memory"}.items() <= next(
        s for s in account["sources"] if s.get("external_id") == "D1:1").items()
    user = account["messages"][-1]["content"]
    assert "yesterday (7 May 2023)" in user
    assert "(session-1, Mon 8 May 2023)" in user
    assert account["prompt_tokens"] <= account["budget"]


@pytest.mark.parametrize("question", [
    "zxqv wprt klmn",  # matches nothing
    "🎨🌅🙂",  # emoji only
    "Qu'est-ce que Mélanie aime peindre ?",  # not English
    "Where is it? " * 1700,  # about 5,000 tokens
])
def test_awkward_questions_still_give_a_prompt_within_budget(imported: Assistant, question: str) -> None:
    account = imported.prompt_for(question)
    assert 0 < account["prompt_tokens"] <= account["budget"]
    assert account["messages"][-1]["role"] == "user"


def test_an_empty_store_gives_a_prompt_without_memories(assistant: Assistant) -> None:
    account = assistant.prompt_for("What did Caroline research?")
    assert account["sources"] == []
    assert account["prompt_tokens"] <= account["budget"]


def test_a_100k_token_memory_is_cut_to_fit(imported: Assistant) -> None:
    from memory.store import NewItem

    huge = "adoption agencies " * 50_000
    imported.memory.add([NewItem(kind="document", text=huge, key_text=huge, source="/tmp/huge.txt",
                                 occurred_at=SPOKEN.isoformat())])
    account = imported.prompt_for("Which adoption agencies?")
    assert account["prompt_tokens"] <= account["budget"]
    assert all(item["tokens"] <= 400 for item in account["context"]["sections"]["memories"]["items"])


def test_memchat_prompt_json_reads_messages_from_stdin(tmp_path: Path) -> None:
    path = tmp_path / "talk.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in TRANSCRIPT))
    runner = CliRunner()
    assert runner.invoke(cli, ["import", str(path)]).exit_code == 0
    result = runner.invoke(cli, ["prompt", "--json"], input="What did Caroline research?\n\nWho painted a sunrise?\n")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [line["message"] for line in lines] == ["What did Caroline research?", "Who painted a sunrise?"]
    assert "D2:1" in {s["external_id"] for s in lines[0]["sources"]}
    assert "D1:2" in {s["external_id"] for s in lines[1]["sources"]}
    assert all(set(line) == {"message", "prompt_tokens", "budget", "sources"} for line in lines)


def test_memchat_prompt_prints_the_prompt_without_storing_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["prompt", "What is the capital of France?"])
    assert result.exit_code == 0, result.output
    assert "What is the capital of France?" in result.output
    with Assistant(load_settings()) as app:
        assert app.sessions.list() == []


def test_a_long_chunk_shows_the_sentences_that_matched() -> None:
    from memory.snippets import highlight, matching_sentences

    filler = " ".join(f"Paragraph {i} talks about weather and tides." for i in range(60))
    text = filler + " The backup schedule runs nightly at 02:00 on the staging server. " + filler
    snippets = matching_sentences(text, "when does the backup schedule run?")
    assert snippets[0].text.startswith("The backup schedule runs nightly")
    assert highlight(snippets[0], lambda w: f"*{w}*").startswith("The *backup* *schedule* *runs*")


def test_a_paraphrase_shows_the_sentence_closest_in_meaning(embedder) -> None:  # noqa: ANN001
    from memory.snippets import matching_sentences

    text = "The cat sat on the mat. Our invoices are paid within thirty days. It rained in Leeds."
    snippets = matching_sentences(text, "How quickly do we settle bills?", limit=1, encode=embedder.encode)
    assert snippets[0].text == "Our invoices are paid within thirty days."


def test_a_named_speakers_first_person_is_named_in_the_key_but_a_role_is_not() -> None:
    from memory.keys import name_the_speaker

    assert name_the_speaker("I moved to Lyon with my sister", "Caroline") == "Caroline moved to Lyon with Caroline's sister"
    # the person at the keyboard asks about themselves in the first person: "Where does my sister live?"
    for role in ("user", "User", "assistant"):
        assert name_the_speaker("I moved to Lyon with my sister", role) == "I moved to Lyon with my sister"


def test_a_question_naming_one_speaker_favours_what_that_speaker_said(imported: Assistant, tmp_path: Path) -> None:
    from memory.retrieval import SearchOptions, search

    both = [  # the same words from each speaker: only who said them differs
        {"id": "D3:1", "session": "session-3", "speaker": "Caroline", "timestamp": "2023-06-01T10:00:00",
         "text": "We adopted a grey kitten named Pixel from the shelter."},
        {"id": "D3:2", "session": "session-3", "speaker": "Melanie", "timestamp": "2023-06-01T10:01:00",
         "text": "We adopted a grey kitten named Pixel from the shelter."},
    ]
    path = tmp_path / "more.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in both))
    imported.import_transcript(path)
    for speaker, turn in (("Melanie", "D3:2"), ("Caroline", "D3:1")):
        question = f"Which kitten did {speaker} adopt from the shelter?"
        hits = search(imported.memory, question, SearchOptions(k=3))
        assert hits[0].item.external_id == turn
        unboosted = {h.item.external_id: h.score for h in search(imported.memory, question,
                                                                  SearchOptions(k=3, speaker_boost=0.0, mmr_lambda=1.0))}
        assert hits[0].score == pytest.approx(unboosted[turn] * 1.3)
