"""Extraction over memory items: each item not yet processed is read, extracted, stored in the
graph, and its retrieval key gains the facts found in it ("text + facts" keys find more).

Runs in batches, each in one transaction, in the background after every exchange and after
each loaded document. Chat rounds are split by speaker: facts come from what the user said
(first person is the user); the assistant's answers give entities but no facts, since a small
model's guesses should not become "what memchat knows".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from memory.clock import utc_now
from memory.graph.graph import KnowledgeGraph, StoredItem
from memory.graph.queries import phrase
from memory.graph.types import EntityMention, Extraction, TextInput
from memory.db import transaction
from memory.loads import VISIBLE

log = logging.getLogger(__name__)

BATCH = 64
MAX_FACTS_IN_KEY = 12
CHAT_PARTS = re.compile(r"^(User|Assistant): ", re.M)


class Extractor:
    """What the pipeline needs of an extractor (``SpacyExtractor``, ``LlmExtractor``)."""

    name: str

    def extract_batch(self, inputs: Sequence[TextInput]) -> list[Extraction]:  # pragma: no cover - protocol
        raise NotImplementedError


@dataclass(frozen=True)
class _Part:
    item_index: int
    offset: int
    facts: bool


def _parts(kind: str, speaker: str | None, text: str) -> list[tuple[int, str, str | None, bool]]:
    """(offset, text, speaker, keep facts) pieces of one item."""
    if kind == "chat" or (kind == "import" and CHAT_PARTS.match(text)):
        marks = list(CHAT_PARTS.finditer(text))
        pieces = []
        for index, mark in enumerate(marks):
            end = marks[index + 1].start() if index + 1 < len(marks) else len(text)
            who = mark.group(1).lower()
            pieces.append((mark.end(), text[mark.end() : end], who, who == "user"))
        if pieces:
            return pieces
    if kind == "import":
        return [(0, text, speaker if speaker in ("user", "assistant") else None, speaker != "assistant")]
    return [(0, text, None, True)]


def extract_items(extractor: Extractor, rows: Sequence[tuple[int, str, str | None, str, str]]
                  ) -> list[Extraction]:
    """Extractions for (id, kind, speaker, text, occurred_at) rows, spans relative to each item's text."""
    inputs: list[TextInput] = []
    parts: list[_Part] = []
    for index, (_, kind, speaker, text, occurred_at) in enumerate(rows):
        for offset, piece, who, keep_facts in _parts(kind, speaker, text):
            inputs.append(TextInput(piece, who, occurred_at))
            parts.append(_Part(index, offset, keep_facts))
    merged = [Extraction() for _ in rows]
    for part, extraction in zip(parts, extractor.extract_batch(inputs), strict=True):
        target = merged[part.item_index]
        target.entities += [EntityMention(e.text, e.type, e.start + part.offset, e.end + part.offset)
                            for e in extraction.entities]
        if part.facts:
            target.facts += extraction.facts
    return merged


def facts_key(extraction: Extraction) -> str:
    """The line added to an item's retrieval key: 'Facts: Carol lives in Montreal; ...'."""
    lines = [f"{f.subject} {phrase(f.predicate, f.current)} {f.object}" for f in extraction.facts[:MAX_FACTS_IN_KEY]]
    return "Facts: " + "; ".join(lines) if lines else ""


def pending_count(graph: KnowledgeGraph) -> int:
    with graph.lock:
        return int(graph.db.execute(
            f"SELECT COUNT(*) FROM memory_items m WHERE m.duplicate_of IS NULL AND m.kind != 'summary' AND {VISIBLE} "
            "AND NOT EXISTS (SELECT 1 FROM kg_processed p WHERE p.item_id = m.id)").fetchone()[0])


def process_pending(graph: KnowledgeGraph, extractor: Extractor, *, batch_size: int = BATCH,
                    limit: int | None = None, progress: Callable[[int, int], None] | None = None,
                    cancel: Callable[[], bool] | None = None) -> int:
    """Extract from every memory item not yet processed; returns how many were processed.
    An item whose extraction fails is marked with the error and skipped, never retried forever."""
    total = pending_count(graph) if progress else 0
    done = 0
    while limit is None or done < limit:
        if cancel is not None and cancel():
            break
        size = batch_size if limit is None else min(batch_size, limit - done)
        with graph.lock:  # the connection may be shared with the memory store's threads
            rows = graph.db.execute(
                "SELECT m.id, m.kind, m.speaker, m.text, m.occurred_at, m.source, m.key_text FROM memory_items m "
                f"WHERE m.duplicate_of IS NULL AND m.kind != 'summary' AND {VISIBLE} "
                "AND NOT EXISTS (SELECT 1 FROM kg_processed p WHERE p.item_id = m.id) ORDER BY m.id LIMIT ?",
                [size]).fetchall()
        if not rows:
            break
        try:
            extractions = extract_items(extractor, [r[:5] for r in rows])
            errors = [None] * len(rows)
        except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the graph for good
            log.warning("knowledge extraction failed for items %s-%s: %s", rows[0][0], rows[-1][0], exc)
            extractions, errors = [Extraction() for _ in rows], [str(exc)[:500]] * len(rows)
        now = utc_now()
        with graph.lock, transaction(graph.db):
            for row, extraction, error in zip(rows, extractions, errors, strict=True):
                item_id, _, _, _, occurred_at, source, key_text = row
                exists = graph.db.execute("SELECT 1 FROM memory_items WHERE id = ?", [item_id]).fetchone()
                taken = graph.db.execute("SELECT 1 FROM kg_processed WHERE item_id = ?", [item_id]).fetchone()
                if not exists or taken:  # forgotten meanwhile, or another worker got there first
                    continue
                graph.add_extraction(StoredItem(item_id, source, occurred_at), extraction, extractor.name)
                key = facts_key(extraction)
                if key and "\nFacts: " not in key_text:
                    graph.db.conn.execute("UPDATE memory_items SET key_text = ? WHERE id = ?",
                                          [f"{key_text}\n{key}", item_id])
                graph.db.conn.execute(
                    "INSERT OR REPLACE INTO kg_processed (item_id, extractor, processed_at, error) VALUES (?, ?, ?, ?)",
                    [item_id, extractor.name, now, error])
        done += len(rows)
        if progress:
            progress(done, max(total, done))
    return done
