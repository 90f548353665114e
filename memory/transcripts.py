"""Import conversation transcripts (JSON Lines) as chat memory.

One JSON object per line: ``text``, ``speaker`` (a name or a role), ``timestamp``
(ISO-8601), ``session`` (any string) and an optional ``id`` that is kept and shown in
search results. Each turn is stored with its speaker and date in the indexed text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from memory.errors import MemchatError
from memory.chat_memory import stamp
from memory import loads
from memory.store import MemoryStore, NewItem
from memory.keys import said_key
from memory.db import transaction

BATCH = 512
REQUIRED = ("text", "speaker", "timestamp", "session")


class TranscriptError(MemchatError):
    """A transcript line is malformed; the message names the line."""


@dataclass(frozen=True)
class ImportResult:
    imported: int
    skipped_existing: int


def _normalise_time(value: str, line_no: int, path: Path) -> str:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError) as exc:
        raise TranscriptError(f"{path}:{line_no}: timestamp {value!r} is not ISO-8601") from exc
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


def read_turns(path: Path) -> Iterator[tuple[int, dict]]:
    """Validated records, streamed line by line; a bad line raises with its number."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise TranscriptError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        for line_no, line in _lines(handle, path):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise TranscriptError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise TranscriptError(f"{path}:{line_no}: expected a JSON object")
            missing = [key for key in REQUIRED if not isinstance(record.get(key), str) or not record[key].strip()]
            if missing:
                raise TranscriptError(f"{path}:{line_no}: missing or empty {', '.join(missing)}")
            record["timestamp"] = _normalise_time(record["timestamp"], line_no, path)
            if record.get("id") is not None:
                record["id"] = str(record["id"])
            yield line_no, record


def _lines(handle: TextIO, path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines; a file that is not UTF-8 text (a PDF, an image) raises TranscriptError."""
    line_no = 0
    try:
        for line_no, line in enumerate(handle, start=1):
            yield line_no, line
    except UnicodeDecodeError as exc:
        raise TranscriptError(f"{path}:{line_no + 1}: not UTF-8 text ({exc.reason}); a transcript is JSON Lines, "
                              "one object per line") from exc


def turn_item(record: dict, turn: int, source: str) -> NewItem:
    speaker = record["speaker"].strip()
    text = record["text"].strip()
    return NewItem(
        kind="import", text=f"{speaker}: {text}",
        key_text=f"[{stamp(record['timestamp'])}] {speaker}: "
                 f"{said_key(text, speaker, datetime.fromisoformat(record['timestamp']))}",
        source=source, occurred_at=record["timestamp"], session_id=record["session"],
        position={"turn": turn}, speaker=speaker, external_id=record.get("id"),
    )


def import_transcript(store: MemoryStore, path: Path,
                      progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Import all turns, all or nothing: read and embedded outside any lock, written in short
    batches as a pending load (invisible), shown by one short commit at the end; a crash or
    Ctrl-C leaves nothing visible (the next open removes the rest). Lines whose ``id`` is
    already stored are skipped, so importing the same file twice adds nothing."""
    total_bytes = max(path.stat().st_size, 1) if path.exists() else 1
    with store.lock:
        known = {row[0] for row in store.db.execute(
            "SELECT external_id FROM memory_items m WHERE kind = 'import' AND external_id IS NOT NULL "
            f"AND {loads.VISIBLE}")}
    turns_per_session: dict[str, int] = {}
    imported = skipped = 0
    pending: list[NewItem] = []
    source = f"import:{path.name}"
    done_bytes = 0

    with loads.pending(store.db, "import") as load_id:
        def write(batch: list[NewItem]) -> None:
            vectors = store.embedder.encode([item.key_text for item in batch])
            with transaction(store.db):
                store.insert(batch, vectors, load_id=load_id)

        for _, record in read_turns(path):
            done_bytes += len(json.dumps(record))
            if record.get("id") is not None and record["id"] in known:
                skipped += 1
                continue
            turn = turns_per_session.get(record["session"], 0)
            turns_per_session[record["session"]] = turn + 1
            pending.append(turn_item(record, turn, source))
            if len(pending) >= BATCH:
                write(pending)
                imported += len(pending)
                pending = []
                if progress:
                    progress(min(done_bytes, total_bytes), total_bytes)
        if pending:
            write(pending)
            imported += len(pending)
        loads.publish(store.db, load_id)
    store.sync_index()
    store.save_index()
    if progress:
        progress(total_bytes, total_bytes)
    return ImportResult(imported, skipped)
