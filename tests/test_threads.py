"""Threads sharing connections (the chat's event loop, the generation worker, the summary
thread, panel edits, the memory writer) write at once without losing or mixing anything."""

from __future__ import annotations

import threading
from pathlib import Path

from assistant.sessions import SessionStore, utc_now
from memory.chat_memory import Exchange, remember_exchange
from memory.db import open_database, transaction
from memory.graph.graph import KnowledgeGraph, StoredItem
from memory.graph.types import EntityMention, Extraction, Fact
from memory.store import NewItem, insert_item

THREADS = 4
ROUNDS = 30


def test_threads_writing_sessions_memories_and_the_graph_at_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shared = open_database(data_dir)  # Assistant.db: sessions, chat rounds, summaries
    sessions = SessionStore(shared)
    memory_db = open_database(data_dir)  # the memory store's: the graph shares it
    graph = KnowledgeGraph(memory_db)
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS * 3)

    def chat(worker: int) -> None:  # a chat turn and the memory it leaves
        start.wait()
        for turn in range(ROUNDS):
            session = sessions.create(f"chat {worker}-{turn}")
            question = sessions.add_message(session.id, "user", f"question {worker}-{turn}")
            answer = sessions.add_message(session.id, "assistant", f"answer {worker}-{turn}")
            remember_exchange(shared, Exchange(session.id, session.name, question.content, answer.content,
                                               answer.created_at, answer.id, 0))

    def summaries(worker: int) -> None:  # the summary thread and panel edits, on the same connection
        start.wait()
        session = sessions.create(f"summaries {worker}")
        for turn in range(ROUNDS):
            sessions.save_summary(session.id, f"summary {turn}", turn)
            sessions.rename(session.id, f"summaries {worker} · {turn}")

    def knowledge(worker: int) -> None:  # extraction into the graph
        start.wait()
        for turn in range(ROUNDS):
            with graph.lock, transaction(memory_db):
                text = f"Quillon{worker}x{turn} lives in Brest."
                item_id = insert_item(memory_db, NewItem(kind="document", text=text, key_text=text,
                                                         source=f"/doc{worker}", occurred_at=utc_now()), utc_now())
                graph.add_extraction(
                    StoredItem(item_id, f"/doc{worker}", utc_now()),
                    Extraction([EntityMention(f"Quillon{worker}x{turn}", "PERSON", 0, 9)],
                               [Fact(f"Quillon{worker}x{turn}", "lives_in", "Brest", "PERSON", "PLACE")]),
                    "test")

    def guarded(target, worker: int) -> None:  # noqa: ANN001
        try:
            target(worker)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(target, worker))
               for worker in range(THREADS) for target in (chat, summaries, knowledge)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors[:3]
    count = lambda sql: shared.execute(sql).fetchone()[0]  # noqa: E731
    assert shared.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert count("SELECT COUNT(*) FROM sessions") == THREADS * ROUNDS + THREADS
    assert count("SELECT COUNT(*) FROM messages") == THREADS * ROUNDS * 2
    assert count("SELECT COUNT(*) FROM session_summaries") == THREADS
    assert count("SELECT COUNT(*) FROM sessions WHERE name LIKE 'summaries % · 29'") == THREADS
    assert count("SELECT COUNT(*) FROM memory_items WHERE kind = 'chat'") == THREADS * ROUNDS
    assert count("SELECT COUNT(*) FROM memory_items WHERE kind = 'document'") == THREADS * ROUNDS
    assert count("SELECT COUNT(*) FROM kg_mentions") == THREADS * ROUNDS
    assert count("SELECT COUNT(*) FROM kg_relations WHERE predicate = 'lives_in'") == THREADS * ROUNDS
    assert count("SELECT COUNT(*) FROM memory_items_fts WHERE memory_items_fts MATCH 'answer'") == THREADS * ROUNDS
