"""What forgetting a memory also takes away: its text in the stored accounts of earlier answers.

Each answer keeps what its prompt held (``meta["context"]``: excerpts of the memories, the
fact lines, and in ``meta["support"]`` the sentences it drew on). Once memory items are
forgotten, those copies are blanked, so neither the context panel nor ``--explain`` shows
them again; the entry stays, marked forgotten, so the account still adds up.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlite_utils

from memory.db import transaction


FORGOTTEN = "(forgotten)"


def _answers_citing(db: sqlite_utils.Database, ids: list[int]) -> list[tuple[int, str]]:
    """(id, meta) of the messages whose recorded prompt held any of the memory items ``ids``."""
    marks = ", ".join("?" * len(ids))
    return db.execute(
        "SELECT m.id, m.meta FROM messages m, json_each(m.meta, '$.context.sections.memories.items') j "
        f"WHERE json_valid(m.meta) AND json_extract(j.value, '$.id') IN ({marks}) "
        "UNION SELECT m.id, m.meta FROM messages m, json_each(m.meta, '$.context.sections.facts.items') f, "
        f"json_each(f.value, '$.items') i WHERE json_valid(m.meta) AND i.value IN ({marks})",
        [*ids, *ids]).fetchall()


def _blanked(meta: dict[str, Any], ids: set[int]) -> dict[str, Any]:
    sections = meta.get("context", {}).get("sections", {})
    refs = set()
    for item in sections.get("memories", {}).get("items", []):
        if item.get("id") in ids:
            item["text"], item["forgotten"] = "", True
            refs.add(item.get("ref"))
    for fact in sections.get("facts", {}).get("items", []):
        if ids & set(fact.get("items", [])):
            fact["text"], fact["forgotten"] = FORGOTTEN, True
            refs.add(fact.get("ref"))
    for found in meta.get("support", []):
        if found.get("ref") in refs:
            found["words"], found["quotes"] = [], []
    return meta


def scrub_answers(db: sqlite_utils.Database, item_ids: Iterable[int]) -> int:
    """Blank the forgotten memory items in every stored answer's account; returns how many
    answers changed."""
    ids = sorted(set(item_ids))
    changed = 0
    with transaction(db):
        for start in range(0, len(ids), 400):
            part = ids[start:start + 400]
            for message_id, meta in _answers_citing(db, part):
                db.execute("UPDATE messages SET meta = ? WHERE id = ?",
                           [json.dumps(_blanked(json.loads(meta), set(part))), message_id])
                changed += 1
    return changed


def session_memory_ids(db: sqlite_utils.Database, keys: Iterable[str]) -> list[int]:
    """The memory items of these sessions: chat rounds (by session id, even once the session is
    deleted) and imported turns (by the transcript's session name)."""
    wanted = sorted(set(keys))
    if not wanted or not db["memory_items"].exists():
        return []
    marks = ", ".join("?" * len(wanted))
    sources = [f"session:{key}" for key in wanted]
    return [row[0] for row in db.execute(
        f"SELECT id FROM memory_items WHERE session_id IN ({marks}) OR source IN ({marks}) ORDER BY id",
        [*wanted, *sources]).fetchall()]


def compact(db: sqlite_utils.Database) -> None:
    """After forgetting: leave no copy of the deleted text in the data dir. Deleted rows are
    zeroed (``secure_delete``); here the keyword index drops the deleted entries it still keeps
    in older segments, and the write-ahead log, which holds earlier page images, is folded in
    and emptied."""
    if db["memory_items_fts"].exists():
        with transaction(db):
            db.execute("INSERT INTO memory_items_fts (memory_items_fts) VALUES ('optimize')")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
