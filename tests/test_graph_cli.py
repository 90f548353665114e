"""The knowledge graph through the real `memchat` command and the chat loop, with the real
models: chat, then `kg show`; load a document, then `kg list`; facts in the next prompt."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx

from assistant.app import Assistant
from tests.test_cli import assert_one_line_error, run

CAROL = "My sister Carol moved from Lyon to Montreal last spring and works at Ubisoft"


def test_chat_then_kg_show_lists_the_facts_with_their_source_turn(isolated_env: Path) -> None:
    asked = run("--max-new-tokens", "16", "--temperature", "0", "ask", CAROL)
    assert asked.returncode == 0, asked.stderr
    shown = run("kg", "show", "Carol")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "Carol #" in out and "PERSON" in out
    now, _, past = out.partition("In the past")
    assert "Carol lives in Montreal since" in now and "Carol works at Ubisoft" in now
    assert "User has sister Carol" in now
    assert "Carol lived in Lyon until" in past  # the Lyon fact is marked as past
    assert 'from m1 chat "My sister Carol' in out and "turn 1" in out

    data = json.loads(run("kg", "show", "carol", "--json").stdout)
    by_text = {f["text"]: f for f in data["facts"]}
    assert by_text["Carol lived in Lyon"]["current"] is False
    assert by_text["Carol lives in Montreal"]["sources"][0]["source"].startswith("session:")
    assert {n["name"] for n in data["neighbours"]} >= {"Lyon", "Montreal", "Ubisoft", "User"}

    path = run("kg", "path", "me", "Ubisoft")
    assert path.returncode == 0 and path.stdout.splitlines() == ["User has sister Carol", "Carol works at Ubisoft"]
    places = run("kg", "list", "--type", "place").stdout
    assert "Montreal" in places and "Carol" not in places


def test_kg_errors_are_one_clear_line(isolated_env: Path) -> None:
    assert_one_line_error(run("kg", "show", "Nobody"), "no entity 'Nobody'")
    assert_one_line_error(run("kg", "merge", "Nobody", "Else"), "no entity")
    unknown = run("kg", "path", "me", "Mars")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr


def test_load_fills_the_graph_and_forget_empties_it(isolated_env: Path) -> None:
    paragraphs = [
        "Ada Lovelace was born in London. She worked with Charles Babbage on the Analytical Engine.",
        "Charles Babbage lived in London and designed the Difference Engine.",
        "Grace Hopper worked at Harvard University and later joined the US Navy reserve.",
    ]
    book = isolated_env / "history.md"
    book.write_text("# Computing pioneers\n\n" + "\n\n".join(paragraphs * 60) + "\n")
    loaded = run("load", str(book))
    assert loaded.returncode == 0, loaded.stderr
    listed = run("kg", "list").stdout
    assert "Charles Babbage" in listed and "London" in listed
    shown = run("kg", "show", "Ada Lovelace").stdout
    assert "Ada Lovelace was born in London" in shown and "history.md" in shown
    status = run("kg", "status").stdout
    assert "waiting for extraction: 0" in status

    exported = isolated_env / "graph.graphml"
    assert run("kg", "export", "--format", "graphml", "-o", str(exported)).returncode == 0
    graph = nx.read_graphml(exported)
    names = {data["name"] for _, data in graph.nodes(data=True)}
    assert {"Ada Lovelace", "London"} <= names
    assert any(data["predicate"] == "born_in" for _, _, data in graph.edges(data=True))
    as_json = json.loads(run("kg", "export").stdout)
    assert as_json["relations"] and all(r["item_id"] for r in as_json["relations"])

    forgot = run("forget", "--document", str(book), "--yes")
    assert forgot.returncode == 0, forgot.stderr
    assert_one_line_error(run("kg", "show", "Ada Lovelace"), "no entity")  # extracted only from it: gone


def test_facts_go_into_the_next_prompt_and_are_recorded(assistant: Assistant) -> None:
    session = assistant.sessions.create("family")
    reply = assistant.chat.send(session.id, CAROL)
    list(reply)
    assistant.extract_knowledge()  # (the background writer may already have done it)
    assert assistant.knowledge.get("Carol").type == "PERSON"
    question = assistant.chat.send(session.id, "Where does carol live these days?")
    list(question)
    block = question.plan.messages[-1]["content"]  # facts go with the message, after the cached prefix
    assert "Known facts:" in block and "Carol lives in Montreal" in block and "[m1]" in block
    stored = question.message.meta["context"]["sections"]["facts"]["items"]
    assert any(f["text"].startswith("Carol lives in Montreal") and f["items"] == [1] for f in stored), stored
    assert question.message.meta["context"]["warnings"] == []


def test_a_failing_graph_does_not_stop_the_answer(assistant: Assistant) -> None:
    session = assistant.sessions.create("broken graph")

    def broken(message: str, window: list[str]) -> list:
        raise RuntimeError("database is locked")

    assistant.chat.facts = broken
    reply = assistant.chat.send(session.id, "Hello there")
    assert "".join(reply) is not None and reply.message is not None
    assert reply.message.meta["context"]["warnings"] == ["knowledge graph unavailable: database is locked"]


def test_failing_memory_search_is_reported_and_the_answer_comes(assistant: Assistant) -> None:
    session = assistant.sessions.create("broken memory")

    def broken(message: str, session_id: str) -> list:
        raise RuntimeError("the vector index is being rebuilt")

    assistant.chat.memories = broken
    reply = assistant.chat.send(session.id, "Hello there")
    assert "".join(reply) and reply.message is not None
    assert reply.warnings == ["memory search unavailable: the vector index is being rebuilt"]
