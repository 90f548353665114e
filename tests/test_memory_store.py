"""Memory items in real SQLite + FTS5 + FAISS: storing, finding, forgetting, and recovering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import MemchatError
from assistant.explain import explain_lines
from memory.db import open_database
from memory.store import EmbeddingMismatchError, MemoryStore, NewItem, SearchFilters
from memory.vector_index import VectorIndex

FACTS = [
    "Alice adopted a grey cat called Miso in March.",
    "Bob is training for the Berlin marathon in September.",
    "The quarterly budget review moved to Thursday afternoon.",
    "Carol's favourite dessert is pistachio ice cream.",
    "The staging server runs PostgreSQL 15 on port 5433.",
]


def item(text: str, kind: str = "chat", when: str = "2026-05-01T10:00:00+00:00", **extra) -> NewItem:
    return NewItem(kind=kind, text=text, key_text=text, source=extra.pop("source", "session:s1"),
                   occurred_at=when, session_id=extra.pop("session_id", "s1"), **extra)


def test_items_are_found_by_meaning_and_by_keyword(memory_store: MemoryStore) -> None:
    ids = memory_store.add([item(t) for t in FACTS])
    query = memory_store.embedder.encode(["Which pet does Alice have?"])[0]
    assert memory_store.dense(query, 1, SearchFilters())[0][0] == ids[0]
    lexical = memory_store.lexical("PostgreSQL port", 3, SearchFilters())
    assert lexical[0][0] == ids[4]
    assert memory_store.lexical("the of and", 3, SearchFilters()) == []  # stopwords only


def test_fts_syntax_in_queries_cannot_break_search(memory_store: MemoryStore) -> None:
    memory_store.add([item(t) for t in FACTS])
    for nasty in ['"unbalanced', "NEAR(a b", "cat* OR -", "col:umn", "AND OR NOT", "'; DROP TABLE x; --"]:
        memory_store.lexical(nasty, 5, SearchFilters())


def test_filters_by_kind_session_and_time(memory_store: MemoryStore) -> None:
    memory_store.add([
        item("Dentist appointment moved to Friday.", when="2026-01-10T09:00:00+00:00"),
        item("Dentist bill was paid in full.", kind="import", session_id="s2", source="import:x",
             when="2026-06-10T09:00:00+00:00"),
    ])
    query = memory_store.embedder.encode(["dentist"])[0]
    only_import = memory_store.dense(query, 5, SearchFilters(kinds=("import",)))
    assert [memory_store.get([i])[i].kind for i, _ in only_import] == ["import"]
    in_june = memory_store.lexical("dentist", 5, SearchFilters(since="2026-06-01", until="2026-07-01"))
    assert len(in_june) == 1
    assert memory_store.get([in_june[0][0]])[in_june[0][0]].session_id == "s2"
    assert len(memory_store.dense(query, 5, SearchFilters(session_ids=("s1",)))) == 1


def test_near_duplicate_chat_rounds_are_linked_not_piled_up(memory_store: MemoryStore) -> None:
    first = memory_store.add([item("User: thanks!\nAssistant: You're welcome!")], dedupe_threshold=0.97)[0]
    second = memory_store.add([item("User: thanks!\nAssistant: You're welcome!")], dedupe_threshold=0.97)[0]
    other = memory_store.add([item("User: what is 2+2?\nAssistant: 4")], dedupe_threshold=0.97)[0]
    assert memory_store.get([second])[second].duplicate_of == first
    assert memory_store.get([other])[other].duplicate_of is None
    assert memory_store.index.index.ntotal == 2
    assert [i for i, _ in memory_store.lexical("welcome", 5, SearchFilters())] == [first]


def test_forgetting_removes_rows_fts_and_vectors(memory_store: MemoryStore) -> None:
    ids = memory_store.add([item(t) for t in FACTS])
    assert memory_store.delete([ids[0], ids[4]]) == 2
    assert memory_store.get([ids[0]]) == {}
    assert memory_store.lexical("PostgreSQL", 5, SearchFilters()) == []
    assert memory_store.index.index.ntotal == 3
    query = memory_store.embedder.encode([FACTS[0]])[0]
    assert ids[0] not in [i for i, _ in memory_store.dense(query, 5, SearchFilters())]


def reopen(store: MemoryStore) -> MemoryStore:
    data_dir = store.index.path.parent
    return MemoryStore(open_database(data_dir), data_dir, store.embedder)


def test_index_is_persisted_and_caught_up_after_a_lagging_save(memory_store: MemoryStore) -> None:
    memory_store.add([item(t) for t in FACTS[:3]])
    memory_store.save_index()
    memory_store.add([item(t) for t in FACTS[3:]])  # not saved: the file now lags SQLite
    saved = VectorIndex(memory_store.index.path, memory_store.embedder.name, memory_store.embedder.dim)
    assert saved.load() and saved.index.ntotal == 3
    again = reopen(memory_store)
    assert again.index.index.ntotal == 5  # caught up from SQLite on open
    assert again.sync_index() == "ok"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete", "stale-meta"])
def test_a_corrupt_missing_or_stale_index_is_rebuilt(memory_store: MemoryStore, damage: str) -> None:
    ids = memory_store.add([item(t) for t in FACTS])
    memory_store.save_index()
    path = memory_store.index.path
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    elif damage == "garbage":
        path.write_bytes(os.urandom(4096))
    elif damage == "delete":
        path.unlink()
    else:
        memory_store.index.meta_path.write_text('{"model": "x", "dim": 1, "count": 0, "max_id": 0, "id_sum": 0}')
    again = reopen(memory_store)
    assert again.index.index.ntotal == 5
    query = again.embedder.encode(["Which pet does Alice have?"])[0]
    assert again.dense(query, 1, SearchFilters())[0][0] == ids[0]


def test_another_process_writing_is_seen_by_search(memory_store: MemoryStore, tmp_path: Path) -> None:
    memory_store.add([item(FACTS[0])])
    data_dir = memory_store.index.path.parent
    script = textwrap.dedent(f"""
        from pathlib import Path
        from memory.db import open_database
        from memory.embeddings import Embedder
        from memory.store import MemoryStore, NewItem
        d = Path({str(data_dir)!r})
        s = MemoryStore(open_database(d), d, Embedder())
        s.add([NewItem(kind="chat", text="Dave keeps bees on his roof in Lisbon.",
                       key_text="Dave keeps bees on his roof in Lisbon.", source="session:x",
                       occurred_at="2026-01-01T00:00:00+00:00")])
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    query = memory_store.embedder.encode(["Who keeps bees?"])[0]
    top = memory_store.dense(query, 1, SearchFilters())[0][0]
    assert "bees" in memory_store.get([top])[top].text


def test_a_different_embedding_model_is_refused_until_reembedded(memory_store: MemoryStore) -> None:
    memory_store.add([item(t) for t in FACTS])
    memory_store.db.execute("UPDATE memory_meta SET value = 'some-other-model' WHERE key = 'embedding_model'")
    memory_store.db.conn.commit()
    with pytest.raises(EmbeddingMismatchError, match="memchat memory reembed"):
        reopen(memory_store)
    data_dir = memory_store.index.path.parent
    fixer = MemoryStore(open_database(data_dir), data_dir, memory_store.embedder, for_reembed=True)
    assert fixer.reembed() == 5
    assert reopen(memory_store).index.index.ntotal == 5


def test_pending_rows_are_backfilled_and_deduplicated(memory_store: MemoryStore) -> None:
    from memory.chat_memory import Exchange, remember_exchange

    db = memory_store.db
    for _ in range(2):
        remember_exchange(db, Exchange("s9", "chat", "I love hiking in the Alps.", "That sounds wonderful!",
                                       "2026-03-01T12:00:00+00:00"))
    assert memory_store.lexical("hiking Alps", 5, SearchFilters()) != []  # keyword-findable at once
    assert memory_store.backfill() == 2
    rows = db.execute("SELECT duplicate_of FROM memory_items WHERE session_id = 's9' ORDER BY id").fetchall()
    assert rows[0][0] is None and rows[1][0] is not None
    query = memory_store.embedder.encode(["Which mountains does the user like?"])[0]
    top = memory_store.dense(query, 1, SearchFilters())[0][0]
    assert "Alps" in memory_store.get([top])[top].text


def test_ivf_index_is_used_when_large(tmp_path: Path) -> None:
    from memory import vector_index

    index = VectorIndex(tmp_path / "v.faiss", "m", 16)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((vector_index.APPROX_THRESHOLD + 10, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)

    def batches():
        for start in range(0, len(ids), 10_000):
            yield ids[start : start + 10_000], vectors[start : start + 10_000]

    index.rebuild(len(ids), batches)
    assert index.is_approximate
    assert index.search(vectors[123], 1)[0][0] == 124
    index.remove([124])
    assert index.search(vectors[123], 1)[0][0] != 124


def test_items_made_from_a_message_are_found_by_its_id(memory_store: MemoryStore) -> None:
    first = memory_store.add([item("User: thanks!\nAssistant: You're welcome!", message_id=7)])[0]
    linked = memory_store.add([item("User: thanks!\nAssistant: You're welcome!", message_id=7)],
                              dedupe_threshold=0.97)[0]
    memory_store.add([item("User: what is 2+2?\nAssistant: 4", message_id=8)])
    assert memory_store.item_ids_for_message(7) == [first, linked]  # the linked duplicate too
    assert memory_store.item_ids_for_message(9) == []


def test_forgetting_an_exchange_removes_it_from_the_chat_memory_graph_and_next_prompt(assistant) -> None:
    assistant.settings.max_new_tokens = 8
    sessions = assistant.sessions
    session = sessions.create("family")
    kept = "".join(assistant.chat.send(session.id, "My favourite colour is teal."))
    reply = assistant.chat.send(session.id, "My sister Carol moved from Lyon to Montreal and works at Ubisoft.")
    "".join(reply)
    question, answer = sessions.messages(session.id)[-2:]
    store = assistant.memory
    assistant.memory_writer.submit()
    assistant.memory_writer.flush(60)
    assistant.extract_knowledge()
    assert store.item_ids_for_message(answer.id) and assistant.knowledge.find("Carol")
    sessions.save_summary(session.id, "Carol moved to Montreal.", covers_until=3)
    plan = assistant.chat.plan(session.id, "Where does my sister live?")
    assert any("Montreal" in m["content"] for m in plan.messages)

    forgotten = assistant.forget_exchange(answer.id)

    assert forgotten.message_ids == (question.id, answer.id) and forgotten.memory_items == 1
    assert [m.content for m in sessions.messages(session.id)] == ["My favourite colour is teal.", kept]
    assert sessions.summary(session.id) is None  # it covered the exchange
    assert store.item_ids_for_message(answer.id) == []
    assert assistant.knowledge.find("Carol") == []
    plan = assistant.chat.plan(session.id, "Where does my sister live?")
    assert not any("Montreal" in m["content"] or "Carol" in m["content"] for m in plan.messages)
    saved = VectorIndex(store.index.path, store.embedder.name, store.embedder.dim)
    saved.load()
    assert saved.index.ntotal == store.index.index.ntotal == 1  # saved without the forgotten round
    with pytest.raises(MemchatError, match="not an answer"):
        assistant.forget_exchange(sessions.messages(session.id)[0].id)


def test_forgetting_blanks_the_memory_in_other_answers_accounts(assistant) -> None:
    assistant.settings.max_new_tokens = 8
    sessions = assistant.sessions
    told = sessions.create("gym")
    "".join(assistant.chat.send(told.id, "My gym locker code is 4417."))
    assistant.memory_writer.submit()
    assistant.memory_writer.flush(60)
    asked = sessions.create("later")
    "".join(assistant.chat.send(asked.id, "What is my gym locker code?"))
    later = sessions.messages(asked.id)[-1]
    assert "4417" in json.dumps(later.meta["context"])  # the memory was in its prompt

    assistant.forget_exchange(sessions.messages(told.id)[-1].id)

    scrubbed = sessions.message(later.id).meta
    memories = scrubbed["context"]["sections"]["memories"]["items"]
    assert any(item.get("forgotten") and item["text"] == "" for item in memories)
    assert "4417" not in json.dumps(scrubbed["context"]) and "4417" not in json.dumps(scrubbed.get("support", []))
    assert "(forgotten)" in "\n".join(explain_lines(scrubbed))
