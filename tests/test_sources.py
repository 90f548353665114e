"""Where a memory comes from, as each place says it (assistant/sources.py), and
``Assistant.describe_sources`` on a real data dir (no model needed)."""

from __future__ import annotations

from assistant.app import Assistant
from assistant.config import Settings
from assistant.sources import Source
from memory.chat_memory import Exchange, remember_exchange
from memory.store import MemoryItem


def item(kind: str, source: str, position: dict, session_id: str | None = None, key_text: str = "") -> MemoryItem:
    return MemoryItem(7, kind, "text", key_text, source, session_id, None, position, None, None,
                      "2023-05-08T10:00:00+00:00", "2023-05-08T10:00:00+00:00", None, None)


def test_a_document_passage_by_file_and_page() -> None:
    page = Source(item("document", "/docs/manual.pdf", {"page": 3, "chunk": 9}))
    assert (page.label, page.place, page.citation) == ("manual.pdf p.3", "manual.pdf p.3",
                                                       "m7 manual.pdf p.3, 2023-05-08")
    summary = Source(item("summary", "/docs/manual.pdf", {"level": "document"}))
    assert summary.place == "summary of manual.pdf"
    assert summary.label == "summary, Mon 8 May 2023"


def test_a_chat_turn_by_its_name_then_and_now() -> None:
    said = item("chat", "session:abc", {"turn": 3}, "abcdef123456", key_text='[Mon 8 May 2023] chat "Trip"\nhi')
    assert Source(said, "Holiday").label == 'chat "Trip", Mon 8 May 2023'  # the prompt: its name when said
    assert Source(said, "Holiday").place == 'chat "Holiday" turn 4, 2023-05-08'  # the panels: its name now
    assert Source(said, "Holiday").citation == 'm7 chat "Holiday" turn 4, 2023-05-08'
    assert Source(said).place == "chat turn 4, 2023-05-08"  # the chat was deleted since
    assert Source(said).citation == 'm7 chat "abcdef12" turn 4, 2023-05-08'


def test_an_imported_turn_by_its_transcript_session() -> None:
    imported = Source(item("import", "/t/old.jsonl", {"turn": 0}, "session-4"))
    assert imported.label == "session-4, Mon 8 May 2023"
    assert imported.place == "import turn 1, 2023-05-08"
    assert imported.citation == "m7 /t/old.jsonl, 2023-05-08"


def test_describe_sources_reads_items_and_chat_names_without_the_embedding_model(settings: Settings) -> None:
    with Assistant(settings) as app:
        assert app.describe_sources([1]) == {}  # memory never opened here
        session = app.sessions.create("Trip to Oslo")
        item_id = remember_exchange(app.db, Exchange(session.id, session.name, "We land at noon.", "Noted.",
                                                     "2026-05-01T09:00:00+00:00", None, 0))
        app.sessions.rename(session.id, "Oslo")
        sources = app.describe_sources([item_id, item_id + 100])
        assert list(sources) == [item_id]  # the missing one is left out
        assert sources[item_id].place == 'chat "Oslo" turn 1, 2026-05-01'
        assert sources[item_id].label == 'chat "Trip to Oslo", Fri 1 May 2026'
        assert app._memory is None  # no embedding model was loaded
