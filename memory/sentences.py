"""Sentence vectors for said turns: a long turn is found by its best sentence.

One vector per turn dilutes a turn that says several things ("Thanks! ... BTW, last month
I got hurt and had to take a break from pottery"): a question about one of them matches
the whole weakly. Chat rounds and imported turns with more than one sentence also get a
vector per sentence (speaker named, as in their key), kept beside the item in SQLite
(float16) and removed with it. Search re-scores its candidates by their best sentence.
Documents are not split this way: their chunks are already passages of a few sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import sqlite_utils

from memory.chunking import _sentences
from memory.db import apply_migrations, transaction

KINDS = ("chat", "import")
_STAMP = re.compile(r"^\[[^\]]*\]\s*")
_SPEAKER = re.compile(r"^([\w][\w .'+-]{0,40}):\s+(.*)$", re.DOTALL)


def _create(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE memory_sentence_vectors (item_id INTEGER PRIMARY KEY "
        "REFERENCES memory_items(id) ON DELETE CASCADE, count INTEGER NOT NULL, vectors BLOB)")


MIGRATIONS = [_create]


def ensure_schema(db: sqlite_utils.Database) -> None:
    apply_migrations(db, "memory_sentences", MIGRATIONS)


def has_table(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'memory_sentence_vectors'").fetchone() is not None


def clear(db: sqlite_utils.Database) -> None:
    """Drop every sentence vector (after a re-embed with another model); they are computed anew."""
    if has_table(db):
        with transaction(db):
            db.execute("DELETE FROM memory_sentence_vectors")


def key_sentences(key_text: str) -> list[str]:
    """The sentences of an item's key, each with its speaker in front ("Caroline: ...");
    the date stamp, a chat's name line and the facts line are left out."""
    sentences: list[str] = []
    for line in key_text.splitlines():
        line = _STAMP.sub("", line).strip()
        if not line or line.startswith(("Facts: ", 'chat "')):
            continue
        match = _SPEAKER.match(line)
        speaker, body = (match.group(1), match.group(2)) if match else ("", line)
        for _, sentence in _sentences(body):
            if sentence.strip():
                sentences.append(f"{speaker}: {sentence.strip()}" if speaker else sentence.strip())
    return sentences


def index_pending(db: sqlite_utils.Database, encode, lock=None, batch: int = 256) -> int:  # noqa: ANN001
    """Compute the sentence vectors of turns that have none yet; returns how many turns."""
    from contextlib import nullcontext

    guard = lock if lock is not None else nullcontext()
    done = 0
    while True:
        with guard:
            rows = db.execute(
                "SELECT m.id, m.key_text FROM memory_items m WHERE m.kind IN ('chat', 'import') "
                "AND NOT EXISTS (SELECT 1 FROM memory_sentence_vectors s WHERE s.item_id = m.id) "
                "ORDER BY m.id LIMIT ?", [batch]).fetchall()
        if not rows:
            return done
        split = [key_sentences(row[1]) for row in rows]
        texts = [s for sentences in split if len(sentences) > 1 for s in sentences]
        vectors = encode(texts) if texts else np.zeros((0, 1), dtype=np.float32)
        records, at = [], 0
        for (item_id, _), sentences in zip(rows, split, strict=True):
            if len(sentences) > 1:
                block = vectors[at : at + len(sentences)].astype(np.float16)
                at += len(sentences)
                records.append((item_id, len(sentences), block.tobytes()))
            else:
                records.append((item_id, 0, None))
        with guard, transaction(db):
            db.conn.executemany(  # an item forgotten meanwhile is skipped by the join
                "INSERT OR IGNORE INTO memory_sentence_vectors (item_id, count, vectors) "
                "SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM memory_items WHERE id = ?)",
                [(i, c, v, i) for i, c, v in records])
        done += len(rows)


def best_sentence_scores(db: sqlite_utils.Database, item_ids: Sequence[int], query: np.ndarray) -> dict[int, float]:
    """For each item that has sentence vectors, its best sentence's cosine to ``query``."""
    scores: dict[int, float] = {}
    ids = list(item_ids)
    for start in range(0, len(ids), 900):
        part = ids[start : start + 900]
        marks = ", ".join("?" * len(part))
        rows = db.execute(f"SELECT item_id, count, vectors FROM memory_sentence_vectors "
                          f"WHERE item_id IN ({marks}) AND count > 0", part).fetchall()
        for item_id, count, blob in rows:
            matrix = np.frombuffer(blob, dtype=np.float16).reshape(count, -1).astype(np.float32)
            if matrix.shape[1] == query.shape[0]:
                scores[item_id] = float((matrix @ query).max())
    return scores
