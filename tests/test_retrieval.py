"""Hybrid retrieval and transcript import on real embeddings, SQLite FTS5 and FAISS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from memory.retrieval import SearchOptions, search
from memory.store import MemoryStore, SearchFilters
from memory.transcripts import TranscriptError, import_transcript

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

TURNS = [
    ("t1", "user", "2025-05-14T10:00:00Z", "s-a", "My sister Carol moved to Montreal and works at Ubisoft."),
    ("t2", "assistant", "2025-05-14T10:01:00Z", "s-a", "That's exciting news about Carol!"),
    ("t3", "user", "2025-08-02T09:00:00Z", "s-b", "I replaced the kitchen tap; the leak is gone."),
    ("t4", "user", "2026-11-10T18:00:00Z", "s-c", "Booked flights to Lisbon for the conference in March."),
    ("t5", "user", "2024-02-01T08:00:00Z", "s-d", "The router password is taped under the shelf."),
    ("t6", "user", "2026-11-20T08:00:00Z", "s-e", "Reminder: water the basil on the balcony."),
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def imported(memory_store: MemoryStore, tmp_path: Path) -> MemoryStore:
    rows = [{"id": i, "speaker": s, "timestamp": t, "session": ses, "text": x} for i, s, t, ses, x in TURNS]
    result = import_transcript(memory_store, write_jsonl(tmp_path / "chat.jsonl", rows))
    assert (result.imported, result.skipped_existing) == (len(TURNS), 0)
    return memory_store


def top_ids(store: MemoryStore, query: str, **options) -> list[str]:
    return [h.item.external_id for h in search(store, query, SearchOptions(**options), now=NOW)]


def test_import_keeps_ids_speakers_and_dates(imported: MemoryStore) -> None:
    [hit] = search(imported, "Carol Montreal", SearchOptions(k=1), now=NOW)
    assert hit.item.external_id == "t1" and hit.item.speaker == "user" and hit.item.session_id == "s-a"
    assert hit.item.key_text.startswith("[2025-05-14 Wed 10:00] user:")
    data = hit.as_dict()
    assert data["external_id"] == "t1" and data["dense"]["rank"] and data["lexical"]["rank"]


def test_reimporting_the_same_file_adds_nothing(imported: MemoryStore, tmp_path: Path) -> None:
    rows = [{"id": i, "speaker": s, "timestamp": t, "session": ses, "text": x} for i, s, t, ses, x in TURNS]
    again = import_transcript(imported, write_jsonl(tmp_path / "again.jsonl", rows))
    assert (again.imported, again.skipped_existing) == (0, len(TURNS))


def test_paraphrase_is_found_by_meaning(imported: MemoryStore) -> None:
    assert top_ids(imported, "Who fixed the dripping faucet?", k=1, mode="dense") == ["t3"]
    assert top_ids(imported, "Which company employs my sibling?", k=1) == ["t1"]


def test_exact_wording_is_found_by_keyword(imported: MemoryStore) -> None:
    assert top_ids(imported, "router password", k=1, mode="lexical") == ["t5"]


def test_dates_in_the_question_boost_that_time(imported: MemoryStore) -> None:
    hits = search(imported, "what did I say in May 2025?", SearchOptions(k=3), now=NOW)
    assert hits[0].item.external_id in ("t1", "t2") and hits[0].in_time_range


def test_filters_and_recency(imported: MemoryStore) -> None:
    only_b = top_ids(imported, "kitchen", k=5, filters=SearchFilters(session_ids=("s-b",)))
    assert only_b == ["t3"]
    recent = search(imported, "reminder travel plans", SearchOptions(k=2, recency_weight=1.0), now=NOW)
    assert recent[0].recency > 0.5


def test_mmr_keeps_near_duplicates_from_crowding(memory_store: MemoryStore, tmp_path: Path) -> None:
    rows = [{"id": f"dup{i}", "speaker": "user", "timestamp": "2026-01-01T00:00:00Z", "session": "s",
             "text": f"The backup job runs nightly at 2am on the NAS (note {i})."} for i in range(5)]
    rows.append({"id": "other", "speaker": "user", "timestamp": "2026-01-01T00:00:00Z", "session": "s",
                 "text": "Backups older than 30 days are pruned from the NAS every Sunday."})
    import_transcript(memory_store, write_jsonl(tmp_path / "d.jsonl", rows))
    diverse = top_ids(memory_store, "when do backups run on the NAS", k=3, mmr_lambda=0.5)
    plain = top_ids(memory_store, "when do backups run on the NAS", k=3, mmr_lambda=1.0)
    assert "other" in diverse and "other" not in plain


@pytest.mark.parametrize("content, message", [
    ('{"text": "hi", "speaker": "user", "session": "s"}\n', "missing or empty timestamp"),
    ('{"text": "hi", "speaker": "user", "session": "s", "timestamp": "yesterday"}\n', "not ISO-8601"),
    ("not json at all\n", "line 1: not valid JSON"),
    ('["a", "list"]\n', "expected a JSON object"),
])
def test_a_bad_transcript_line_is_named_and_nothing_is_imported(
    memory_store: MemoryStore, tmp_path: Path, content: str, message: str
) -> None:
    good = '{"text": "fine", "speaker": "user", "session": "s", "timestamp": "2026-01-01T00:00:00Z", "id": "g"}\n'
    path = tmp_path / "bad.jsonl"
    path.write_text(good + content)
    with pytest.raises(TranscriptError, match=message.replace("line 1", "2")):
        import_transcript(memory_store, path)
    assert memory_store.count() == 0  # all or nothing


def test_empty_memory_returns_no_hits(memory_store: MemoryStore) -> None:
    assert search(memory_store, "anything at all", now=NOW) == []
