"""Which sources an answer drew on, and the sentences it drew from."""

from __future__ import annotations

from assistant.attribution import attribute, keys
from assistant.explain import answer_sources, explain_lines, source_label

MANUAL = {
    "m1": "Harbor Pump HP-40 Owner's Manual. Always disconnect the HP-40 from mains power. "
          "The pump must never run dry for more than 30 seconds.",
    "m2": "Chapter 2. Maintenance. Replace the intake filter every 90 days, or sooner in sandy water. "
          "The impeller bearings need two drops of silicone oil each spring.",
    "m3": "Chapter 3. If the red LED blinks three times, the float switch is stuck. "
          "Customer support: Harbor Pumps Ltd, Rotterdam.",
}
QUESTION = "How often should I replace the intake filter of my Harbor pump?"


def test_the_passage_holding_the_answers_new_words_is_found_with_its_sentence() -> None:
    [found] = attribute("Replace the intake filter every 90 days, or sooner.", MANUAL, [QUESTION])
    assert found.ref == "m2" and found.score == 1.0
    assert set(found.words) == {"90", "days", "sooner"}
    assert found.quotes == ("Replace the intake filter every 90 days, or sooner in sandy water.",)


def test_words_the_question_or_the_recent_turns_said_do_not_count() -> None:
    assert attribute("The Harbor pump intake filter.", MANUAL, [QUESTION]) == []
    answer = "Disconnect the pump from mains power first."
    assert [s.ref for s in attribute(answer, MANUAL, [QUESTION])] == ["m1"]
    assert attribute(answer, MANUAL, [QUESTION, "Remember: always disconnect it from mains power."]) == []


def test_a_generic_answer_draws_on_nothing() -> None:
    assert attribute("I am not sure; could you tell me more?", MANUAL, [QUESTION]) == []
    assert attribute("Anything else?", {}, []) == []


def test_one_word_counts_only_when_it_is_a_number_or_a_name() -> None:
    assert [s.ref for s in attribute("It is 30.", MANUAL, [QUESTION])] == ["m1"]
    assert [s.ref for s in attribute("They are in Rotterdam.", MANUAL, [QUESTION])] == ["m3"]
    assert attribute("They are stuck.", MANUAL, [QUESTION]) == []


def test_several_sources_come_best_first() -> None:
    answer = "Check the float switch, then oil the impeller bearings with silicone oil."
    found = attribute(answer, MANUAL, [QUESTION])
    assert [s.ref for s in found] == ["m2", "m3"]  # four of the answer's words are in m2, two in m3
    assert found[0].score > found[1].score > 0
    assert found[1].quotes == ("If the red LED blinks three times, the float switch is stuck.",)


def test_a_word_many_sources_hold_weighs_less() -> None:
    sources = {"a": "Harbor pump manual", "b": "Harbor pump spare parts", "c": "Harbor pump warranty terms"}
    [found] = attribute("See the Harbor warranty", sources)
    assert found.ref == "c" and found.score > 0.5  # 'warranty' is c's alone; 'Harbor' everyone's


def test_stems_match_plurals_and_tenses() -> None:
    assert set(keys("replaced days")) == set(keys("replace day"))
    assert "90" in keys("in 90 days") and "the" not in {w.lower() for w in keys("The pump").values()}


def meta_with(support: list[dict[str, object]], cited: list[str] | None = None) -> dict[str, object]:
    return {
        "cited": cited or [], "supported_by": [s["ref"] for s in support], "support": support,
        "context": {
            "prompt_tokens": 100, "budget": 1000, "context_length": 2048, "window_start": 0, "kept_turns": 0,
            "dropped_turns": 0, "warnings": [],
            "sections": {
                "facts": {"tokens": 5, "items": [{"ref": "m9", "text": "Carol lives in Montreal [m9]", "items": [9]}]},
                "memories": {"tokens": 40, "items": [{"ref": "m2", "id": 2, "label": "manual.pdf p.2",
                                                      "score": 0.03, "tokens": 40, "text": MANUAL["m2"]}]},
            },
        },
    }


def test_explain_names_each_source_with_the_words_and_sentences_it_gave() -> None:
    meta = meta_with([{"ref": "m2", "score": 1.0, "words": ["90", "days"],
                       "quotes": ["Replace the intake filter every 90 days."]}], cited=["m9"])
    assert answer_sources(meta) == ["m9", "m2"]  # the model's own citations first
    assert source_label(meta, "m2") == "manual.pdf p.2"
    assert source_label(meta, "m9") == "fact: Carol lives in Montreal"
    lines = explain_lines(meta)
    assert "Cited by the model: m9" in lines
    assert "Drawn from [m2] manual.pdf p.2: repeats 90, days" in lines
    assert "      “Replace the intake filter every 90 days.”" in lines


def test_the_line_under_an_answer_groups_pages_and_fits_80_columns() -> None:
    from tui.format import sources_line

    support = [{"ref": ref, "score": 0.5, "words": ["x"], "quotes": []} for ref in ("m2", "m5")]
    meta = meta_with(support, cited=["m9"])
    meta["context"]["sections"]["memories"]["items"].append(
        {"ref": "m5", "id": 5, "label": "manual.pdf p.7", "score": 0.02, "tokens": 9, "text": "Page seven."})
    line = sources_line(meta)
    assert line == "Sources: fact: Carol lives in Montreal; manual.pdf p.2, 7 · Ctrl+T: where"
    many = meta_with([{"ref": f"m{i}", "score": 0.5, "words": ["x"], "quotes": []} for i in range(20, 40)])
    many["context"]["sections"]["memories"]["items"] += [
        {"ref": f"m{i}", "id": i, "label": f"a-rather-long-document-name-{i}.md", "score": 0.01, "tokens": 9,
         "text": "..."} for i in range(20, 40)]
    long_line = sources_line(many)
    assert len(long_line) == 76 and long_line.endswith("… · Ctrl+T: where")
    assert sources_line(meta_with([])) == ""


def test_a_source_the_answer_cites_comes_first_with_its_matching_sentences() -> None:
    answer = "Call support in Rotterdam [m3]. Also replace the intake filter every 90 days [m2]."
    found = attribute(answer, MANUAL, [QUESTION], cited=["m3", "m9"])  # m9 was not in the prompt
    assert [s.ref for s in found] == ["m3", "m2"]
    assert found[1].quotes == ("Replace the intake filter every 90 days, or sooner in sandy water.",)
    [alone] = attribute("See [m1].", MANUAL, [QUESTION], cited=["m1"])
    assert alone.ref == "m1" and alone.words == () and alone.quotes == ()
