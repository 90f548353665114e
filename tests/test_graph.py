"""The knowledge graph with the real spaCy pipeline and real SQLite: extraction, resolution,
keeping facts current, forgetting, editing, queries, retrieval and prompt facts, bad input."""

from __future__ import annotations

import sqlite3

import time
from pathlib import Path

import pytest

from memory.chat_memory import Exchange, remember_exchange
from memory.db import open_database
from memory.graph.context import entities_by_role, entities_in, facts_for_prompt, items_mentioning
from memory.graph.graph import EntityNotFoundError, KnowledgeGraph
from memory.graph.pipeline import pending_count, process_pending
from memory.graph.queries import facts_about, neighbourhood, shortest_path
from memory.graph.spacy_extractor import SpacyExtractor
from memory.graph.types import Extraction, Fact, TextInput
from memory.store import NewItem, insert_item


@pytest.fixture(scope="module")
def extractor() -> SpacyExtractor:
    return SpacyExtractor()


@pytest.fixture()
def graph(tmp_path: Path) -> KnowledgeGraph:
    db = open_database(tmp_path / "kg")
    g = KnowledgeGraph(db)
    yield g
    db.conn.close()


def say(graph: KnowledgeGraph, text: str, when: str, session: str = "s1", answer: str = "OK.") -> int:
    """Store a chat round the way the chat loop does."""
    return remember_exchange(graph.db, Exchange(session, f"chat {session}", text, answer, when))


def add_document_chunk(graph: KnowledgeGraph, text: str, source: str, when: str = "2026-01-01T00:00:00+00:00") -> int:
    with graph.db.conn:
        return insert_item(graph.db, NewItem("document", text, text, source, when), when)


def facts(graph: KnowledgeGraph, name: str) -> dict[str, bool]:
    """'subject predicate object' -> current, for an entity."""
    return {f"{f.subject} {f.predicate} {f.object}": f.current for f in facts_about(graph, graph.get(name).id)}


# -- extraction -------------------------------------------------------------------------------------------
def test_spacy_extracts_the_sister_who_moved(extractor: SpacyExtractor) -> None:
    result = extractor.extract("My sister Carol moved from Lyon to Montreal last spring and works at Ubisoft",
                               speaker="user", occurred_at="2026-11-20T10:00:00+00:00")
    found = {(f.subject, f.predicate, f.object): f for f in result.facts}
    assert ("User", "has_sister", "Carol") in found
    assert found[("Carol", "lives_in", "Lyon")].current is False
    montreal = found[("Carol", "lives_in", "Montreal")]
    assert montreal.current and montreal.valid_from == "2026-03-01"  # "last spring", dated from when it was said
    assert found[("Carol", "works_at", "Ubisoft")].current
    types = {e.text: e.type for e in result.entities}
    assert types["Carol"] == "PERSON" and types["Lyon"] == "PLACE" and types["Ubisoft"] == "ORG"
    span = next(e for e in result.entities if e.text == "Montreal")
    assert "My sister Carol moved from Lyon to Montreal"[span.start : span.end] == "Montreal"


def test_document_sentences_give_facts_without_a_speaker(extractor: SpacyExtractor) -> None:
    result = extractor.extract("Apple was founded by Steve Jobs and Steve Wozniak. Marie Curie was born in Warsaw. "
                               "She later moved to Paris. I live in Oslo.")
    triples = {(f.subject, f.predicate, f.object) for f in result.facts}
    assert {("Steve Jobs", "founded", "Apple"), ("Steve Wozniak", "founded", "Apple"),
            ("Marie Curie", "born_in", "Warsaw"), ("Marie Curie", "lives_in", "Paris")} <= triples
    assert not any(f.subject == "User" for f in result.facts)  # a document's "I" is not the user


def test_past_negated_and_hypothetical_statements(extractor: SpacyExtractor) -> None:
    said = extractor.extract("Bob used to live in Paris but now lives in Rome. Alice wants to move to Berlin. "
                             "Dan does not work at Google.")
    triples = {(f.subject, f.predicate, f.object): f.current for f in said.facts}
    assert triples[("Bob", "lives_in", "Paris")] is False
    assert triples[("Bob", "lives_in", "Rome")] is True
    assert not any(o == "Berlin" for _, _, o in triples)  # a wish is not a fact
    assert not any(o == "Google" and v for (_, _, o), v in triples.items())


@pytest.mark.parametrize("text", [
    "",
    "ok thanks, that makes sense!",
    "hmm let me think about it and get back to you tomorrow",
])
def test_text_without_entities_gives_nothing(extractor: SpacyExtractor, text: str) -> None:
    result = extractor.extract(text, speaker="user")
    assert result.entities == [] and result.facts == []


def test_code_and_markup_give_no_garbage_entities(extractor: SpacyExtractor) -> None:
    text = ("Run `pip install numpy` then:\n```python\nimport pandas as pd\ndf = pd.read_csv('Data.csv')\n"
            "np.array(df.Values)\n```\nSee <a href='https://Example.com/API'>the API</a> or call requests.get(url) "
            "and self.assertEqual(x, y); my_var = MyClass()")
    names = {e.text for e in extractor.extract(text).entities}
    assert not any(any(c in n for c in "._()=`<>/") for n in names), names
    assert "pandas" not in names and "MyClass" not in names


def test_non_english_text_gives_no_crash_and_no_junk(extractor: SpacyExtractor) -> None:
    for text in ("Ma sœur Claire habite à Bordeaux et travaille chez L'Oréal.",
                 "Ich wohne seit drei Jahren in Hamburg und arbeite bei Airbus.",
                 "我的妹妹住在上海。", "Привет, как дела?"):
        result = extractor.extract(text, speaker="user")
        for entity in result.entities:
            assert entity.text in text and len(entity.text) >= 2
        for fact in result.facts:
            assert fact.subject in text or fact.subject == "User"


def test_a_very_long_sentence_is_handled_quickly(extractor: SpacyExtractor) -> None:
    text = "Alice met Bob in Paris and " + "then they walked and talked and laughed " * 2500 + "and left for Rome."
    started = time.perf_counter()
    result = extractor.extract(text)
    assert time.perf_counter() - started < 60
    assert {"Alice", "Bob", "Paris"} <= {e.text for e in result.entities}


# -- the graph: keeping facts current ----------------------------------------------------------------------
def test_chat_fills_the_graph_and_marks_the_old_city_as_past(graph: KnowledgeGraph, extractor) -> None:
    say(graph, "My sister Carol lives in Lyon and works at Ubisoft.", "2025-01-10T10:00:00+00:00")
    second = say(graph, "My sister Carol moved from Lyon to Montreal last spring.", "2026-11-20T10:00:00+00:00")
    assert pending_count(graph) == 2
    assert process_pending(graph, extractor) == 2
    assert pending_count(graph) == 0
    carol = facts(graph, "Carol")
    assert carol["Carol lives_in Montreal"] is True
    assert carol["Carol lives_in Lyon"] is False  # not deleted, not equally current: past
    assert carol["Carol works_at Ubisoft"] is True
    assert carol["User has_sister Carol"] is True
    lyon = next(f for f in facts_about(graph, graph.get("Carol").id) if f.object == "Lyon")
    assert lyon.valid_to == "2026-03-01" and {s.item_id for s in lyon.sources} >= {second}
    # the retrieval key of the round now carries its facts
    key = graph.db.execute("SELECT key_text FROM memory_items WHERE id = ?", [second]).fetchone()[0]
    assert "Facts: " in key and "Carol lives in Montreal" in key


def test_a_new_city_supersedes_and_forgetting_it_restores(graph: KnowledgeGraph, extractor) -> None:
    say(graph, "Alice lives in Paris.", "2026-01-01T10:00:00+00:00")
    moved = say(graph, "Alice moved to Berlin.", "2026-06-01T10:00:00+00:00")
    process_pending(graph, extractor)
    assert facts(graph, "Alice") == {"Alice lives_in Paris": False, "Alice lives_in Berlin": True}
    with graph.db.conn:  # forget the item that said she moved (as `memchat forget` does)
        graph.db.execute("DELETE FROM memory_items WHERE id = ?", [moved])
    assert facts(graph, "Alice") == {"Alice lives_in Paris": True}
    with pytest.raises(EntityNotFoundError):
        graph.get("Berlin")  # nothing else mentioned Berlin: it went with its only source


def test_statements_arriving_out_of_order_stay_in_time_order(graph: KnowledgeGraph, extractor) -> None:
    say(graph, "Alice moved to Berlin.", "2026-06-01T10:00:00+00:00")
    say(graph, "Alice lives in Paris.", "2025-01-01T10:00:00+00:00")  # an older statement, imported late
    process_pending(graph, extractor)
    assert facts(graph, "Alice") == {"Alice lives_in Berlin": True, "Alice lives_in Paris": False}


def test_thousands_of_mentions_of_one_entity(graph: KnowledgeGraph, extractor) -> None:
    when = "2026-02-01T10:00:00+00:00"
    with graph.db.conn:
        for i in range(2000):
            insert_item(graph.db, NewItem("chat", f"User: Dave from Acme called again ({i}).\nAssistant: Noted.",
                                          "k", "session:s", when, session_id="s"), when)
    process_pending(graph, extractor)
    dave = graph.get("Dave")
    assert dave.mentions == 2000
    assert len(graph.find("Dave")) == 1
    started = time.perf_counter()
    facts_about(graph, dave.id)
    items = graph.items_of([dave.id], limit=20)
    assert len(items) == 20 and time.perf_counter() - started < 2.0


# -- resolution ------------------------------------------------------------------------------------------
def test_short_name_joins_full_name_in_the_same_source_only(graph: KnowledgeGraph, extractor) -> None:
    add_document_chunk(graph, "Bob Smith joined Acme in 2019. Later, Bob moved to Denver.", "/docs/acme.txt")
    add_document_chunk(graph, "Bob Jones is a chef. Bob lives in Lisbon.", "/docs/kitchen.txt")
    process_pending(graph, extractor)
    smith, jones = graph.get("Bob Smith"), graph.get("Bob Jones")
    assert smith.id != jones.id  # same first name, unrelated sources: never merged
    assert "Bob Smith lives_in Denver" in facts(graph, "Bob Smith")
    assert "Bob Jones lives_in Lisbon" in facts(graph, "Bob Jones")


def test_a_short_name_first_then_the_full_name_become_one_person(graph: KnowledgeGraph, extractor) -> None:
    say(graph, "Priya lives in Toronto.", "2026-01-01T10:00:00+00:00", session="a")
    say(graph, "Priya Sharma works at Shopify.", "2026-01-02T10:00:00+00:00", session="a")
    process_pending(graph, extractor)
    priya = graph.get("Priya Sharma")
    assert graph.get("Priya").id == priya.id
    assert facts(graph, "Priya Sharma").keys() >= {"Priya Sharma lives_in Toronto", "Priya Sharma works_at Shopify"}


def test_aliases_accents_suffixes_and_typos_resolve(graph: KnowledgeGraph, extractor) -> None:
    say(graph, "I moved to New York City in 2020.", "2026-01-01T10:00:00+00:00")
    say(graph, "NYC is expensive. My friend Leo works at Microsoft Corp.", "2026-01-02T10:00:00+00:00")
    say(graph, "Leo studied at Stanford University.", "2026-01-03T10:00:00+00:00")
    say(graph, "Leo loved Stanford Universty.", "2026-01-04T10:00:00+00:00")
    say(graph, "Leo lives in Montréal. Montreal is cold.", "2026-01-05T10:00:00+00:00")
    process_pending(graph, extractor)
    assert graph.get("NYC").id == graph.get("New York City").id
    assert graph.get("Microsoft").id == graph.get("Microsoft Corp").id
    assert graph.get("Stanford Universty").id == graph.get("Stanford University").id
    assert graph.get("Montréal").id == graph.get("Montreal").id


def test_user_edits_merge_rename_split_delete(graph: KnowledgeGraph, extractor) -> None:
    say(graph, "My friend Sam works at Figma.", "2026-01-01T10:00:00+00:00", session="one")
    say(graph, "My colleague Samantha lives in Austin.", "2026-01-02T10:00:00+00:00", session="two")
    process_pending(graph, extractor)
    sam, samantha = graph.get("Sam"), graph.get("Samantha")
    graph.merge(samantha.id, sam.id)
    merged = facts(graph, "Samantha")
    assert {"Samantha works_at Figma", "Samantha lives_in Austin"} <= merged.keys()
    assert graph.get("Sam").id == samantha.id  # the old name is an alias now
    graph.rename(samantha.id, "Samantha Lee")
    assert graph.get("Samantha").name == "Samantha Lee"
    new_id = graph.split(samantha.id, "session:one", "Sam Park")
    assert "Sam Park works_at Figma" in facts(graph, "Sam Park") and graph.entity(new_id).name == "Sam Park"
    assert "Samantha Lee works_at Figma" not in facts(graph, "Samantha Lee")
    graph.delete(graph.get("Figma").id)
    assert not graph.find("Figma")
    say(graph, "Figma released a new version.", "2026-01-03T10:00:00+00:00", session="one")
    process_pending(graph, extractor)
    assert not graph.find("Figma")  # deleted names stay out
    with pytest.raises(Exception, match="cannot be deleted"):
        graph.delete(graph.self_id())


def test_an_edit_that_fails_half_way_changes_nothing(graph: KnowledgeGraph, extractor) -> None:
    """A split moves relations, then mentions: a failure at the mentions (a real SQLite error,
    raised by a trigger) must leave the relations where they were, and no new entity."""
    say(graph, "My friend Sam works at Figma.", "2026-01-01T10:00:00+00:00", session="one")
    say(graph, "Sam lives in Austin.", "2026-01-02T10:00:00+00:00", session="two")
    process_pending(graph, extractor)
    sam = graph.get("Sam")
    before = facts(graph, "Sam")
    entities = graph.db.execute("SELECT COUNT(*) FROM kg_entities").fetchone()[0]
    graph.db.conn.execute("CREATE TEMP TRIGGER disk_full BEFORE INSERT ON kg_mentions "
                          "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        graph.split(sam.id, "session:one", "Sam Park")
    graph.db.conn.execute("DROP TRIGGER disk_full")
    assert facts(graph, "Sam") == before and "Sam works_at Figma" in before
    assert graph.db.execute("SELECT COUNT(*) FROM kg_entities").fetchone()[0] == entities
    assert graph.split(sam.id, "session:one", "Sam Park")  # and it works once the fault is gone


# -- queries --------------------------------------------------------------------------------------------
def test_paths_neighbours_and_lists(graph: KnowledgeGraph, extractor) -> None:
    say(graph, "My sister Carol works at Ubisoft.", "2026-01-01T10:00:00+00:00")
    add_document_chunk(graph, "Ubisoft is headquartered in Saint-Mandé, France.", "/docs/ubi.txt")
    process_pending(graph, extractor)
    me, france = graph.self_id(), graph.get("France").id
    path = shortest_path(graph, me, france)
    assert path is not None and len(path) == 4
    names = [graph.entity(e.object_id).name for e in path]
    assert names[0] == "Carol" and names[-1] == "France"
    assert shortest_path(graph, me, france, max_depth=2) is None
    near = neighbourhood(graph, graph.get("Ubisoft").id, depth=1)
    assert {e.name for e in near.entities.values()} >= {"Ubisoft", "Carol", "Saint-Mandé"}
    assert [e.name for e in graph.entities("PLACE")] and all(e.type == "PLACE" for e in graph.entities("PLACE"))


def test_entities_named_in_a_question_and_their_items(graph: KnowledgeGraph, extractor) -> None:
    first = say(graph, "My sister Carol moved to Montreal.", "2026-01-01T10:00:00+00:00")
    say(graph, "The weather is nice today.", "2026-01-02T10:00:00+00:00")
    process_pending(graph, extractor)
    assert [e.name for e in entities_in(graph.db, "what do you know about carol?")] == ["Carol"]
    assert entities_in(graph.db, "what do you know about me?") == []  # the user is everywhere: not a cue
    assert items_mentioning(graph.db, "where does Carol live") == [first]
    lines = facts_for_prompt(graph, "how is carol doing?")
    texts = [line.text for line in lines]
    assert any("Carol lives in Montreal" in t and f"[m{first}]" in t for t in texts)


def test_a_question_naming_a_role_gets_the_facts_of_the_person_in_that_role(graph: KnowledgeGraph, extractor) -> None:
    first = say(graph, "My sister Alice moved to Lyon last year.", "2026-01-01T10:00:00+00:00")
    say(graph, "My colleague Bruno lives in Ghent and his brother Tom works at Airbus.", "2026-01-02T10:00:00+00:00")
    process_pending(graph, extractor)
    assert [e.name for e in entities_by_role(graph.db, "Where does my sister live?")] == ["Alice"]
    assert [e.name for e in entities_by_role(graph.db, "Where does my coworker live?")] == ["Bruno"]  # an alias
    assert entities_by_role(graph.db, "Where does my brother live?") == []  # the user has no brother
    assert entities_by_role(graph.db, "Where is the sister city of Lyon?") == []  # no owner, no role
    texts = [line.text for line in facts_for_prompt(graph, "Where does my sister live?")]
    assert any("Alice lives in Lyon" in t and f"[m{first}]" in t for t in texts)
    assert first in items_mentioning(graph.db, "Where does my sister live?")


# -- the LLM extractor's bad output -----------------------------------------------------------------------
class ScriptedBackend:
    """Answers with scripted text: the one fault a real small model cannot produce on demand."""

    def __init__(self, answers: list[str]):
        self.answers = answers
        self.calls = 0

    def stream(self, messages, params, cancel=None):  # noqa: ANN001
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        yield answer


def test_llm_extractor_retries_invalid_json_then_validates() -> None:
    from memory.graph.llm_extractor import LlmExtractor

    good = ('{"entities": [{"name": "Tom", "type": "PERSON"}, {"name": "Oslo", "type": "PLACE"}, '
            '{"name": "Atlantis", "type": "PLACE"}], "facts": [{"subject": "Tom", "predicate": "lives_in", '
            '"object": "Oslo", "current": true}, {"subject": "Tom", "predicate": "lives_in", "object": "Atlantis"}]}')
    backend = ScriptedBackend(["Sure! Here are the entities: Tom, Oslo", good])
    result = LlmExtractor(backend).extract_one(TextInput("My brother Tom lives in Oslo.", "user"))
    assert backend.calls == 2
    assert [e.text for e in result.entities] == ["Tom", "Oslo"]  # Atlantis is not in the text: dropped
    assert [(f.subject, f.predicate, f.object) for f in result.facts] == [("Tom", "lives_in", "Oslo")]


@pytest.mark.parametrize("answer", [
    "not json at all",
    '{"entities": [{"name": "Tom", "type": "WIZARD"}]}',
    '{"entities": "Tom"}',
    '{"facts": [{"subject": "Tom", "predicate": "Lives In!", "object": "Oslo"}]}',
    '{"entities": [{"name": "Tom", "type": "PERSON"}',
])
def test_llm_extractor_drops_output_that_stays_invalid(answer: str) -> None:
    from memory.graph.llm_extractor import LlmExtractor

    extractor = LlmExtractor(ScriptedBackend([answer]), retries=1)
    assert extractor.extract_one(TextInput("My brother Tom lives in Oslo.", "user")) == Extraction()
    assert extractor.failures == 1


def test_llm_extractor_with_the_real_model_never_breaks_the_graph(graph: KnowledgeGraph, llama_backend) -> None:
    from memory.graph.llm_extractor import LlmExtractor

    say(graph, "My brother Tom moved from Oslo to Paris.", "2026-01-01T10:00:00+00:00")
    extractor = LlmExtractor(llama_backend, max_new_tokens=160)
    assert process_pending(graph, extractor) == 1
    for entity in graph.entities(limit=100):  # whatever the small model said, only grounded names got in
        assert entity.name.lower() in "my brother tom moved from oslo to paris. ok."
    assert pending_count(graph) == 0


def test_an_extractor_that_crashes_marks_items_and_moves_on(graph: KnowledgeGraph) -> None:
    class Broken:
        name = "broken"

        def extract_batch(self, inputs):  # noqa: ANN001
            raise RuntimeError("model exploded")

    say(graph, "Alice lives in Paris.", "2026-01-01T10:00:00+00:00")
    assert process_pending(graph, Broken()) == 1
    row = graph.db.execute("SELECT error FROM kg_processed").fetchone()
    assert "model exploded" in row[0]
    assert pending_count(graph) == 0


def test_facts_of_any_fact_type_are_stored_with_values(graph: KnowledgeGraph) -> None:
    from memory.graph.graph import StoredItem

    item = say(graph, "Alice is a nurse.", "2026-01-01T10:00:00+00:00")
    with graph.db.conn:
        graph.add_extraction(StoredItem(item, "session:s1", "2026-01-01T10:00:00+00:00"), Extraction(
            facts=[Fact("Alice", "is_a", "nurse", "PERSON", None)]), "test")
    assert facts(graph, "Alice") == {"Alice is_a nurse": True}
