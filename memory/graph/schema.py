"""The knowledge graph's tables, beside the memory items in the same SQLite database.

Entities have a canonical name, a type, aliases (searchable by trigram FTS, so typos still
find them) and mention counts; mentions tie an entity to the memory item and character span
it was seen in; relations are dated triples that remember which item stated them and when
they stopped being true. Everything extracted from an item goes when the item goes (foreign
keys cascade), a relation that had ended only because of a forgotten one becomes current
again, and an entity left with no mentions is dropped: all by triggers, so it holds whichever
process or command deletes the item.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

from memory.db import apply_migrations

SCHEMA = """
CREATE TABLE kg_entities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    norm TEXT NOT NULL,
    is_self INTEGER NOT NULL DEFAULT 0,
    mentions INTEGER NOT NULL DEFAULT 0,
    first_seen TEXT,
    last_seen TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX kg_entities_norm ON kg_entities (norm);
CREATE INDEX kg_entities_type ON kg_entities (type, mentions);
CREATE INDEX kg_entities_mentions ON kg_entities (mentions);

CREATE TABLE kg_aliases (
    entity_id INTEGER NOT NULL REFERENCES kg_entities (id) ON DELETE CASCADE,
    alias TEXT NOT NULL,
    norm TEXT NOT NULL,
    PRIMARY KEY (entity_id, norm)
);
CREATE INDEX kg_aliases_norm ON kg_aliases (norm);
CREATE VIRTUAL TABLE kg_aliases_fts USING fts5 (norm, content='kg_aliases', tokenize='trigram');
CREATE TRIGGER kg_aliases_ai AFTER INSERT ON kg_aliases BEGIN
    INSERT INTO kg_aliases_fts (rowid, norm) VALUES (new.rowid, new.norm);
END;
CREATE TRIGGER kg_aliases_ad AFTER DELETE ON kg_aliases BEGIN
    INSERT INTO kg_aliases_fts (kg_aliases_fts, rowid, norm) VALUES ('delete', old.rowid, old.norm);
END;

CREATE TABLE kg_mentions (
    id INTEGER PRIMARY KEY,
    entity_id INTEGER NOT NULL REFERENCES kg_entities (id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL REFERENCES memory_items (id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
CREATE INDEX kg_mentions_entity ON kg_mentions (entity_id, seen_at);
CREATE INDEX kg_mentions_item ON kg_mentions (item_id);
CREATE TRIGGER kg_mentions_ai AFTER INSERT ON kg_mentions BEGIN
    UPDATE kg_entities SET mentions = mentions + 1,
        first_seen = MIN(COALESCE(first_seen, new.seen_at), new.seen_at),
        last_seen = MAX(COALESCE(last_seen, new.seen_at), new.seen_at)
    WHERE id = new.entity_id;
END;
CREATE TRIGGER kg_mentions_ad AFTER DELETE ON kg_mentions BEGIN
    UPDATE kg_entities SET mentions = MAX(mentions - 1, 0) WHERE id = old.entity_id;
    DELETE FROM kg_entities WHERE id = old.entity_id AND is_self = 0
        AND NOT EXISTS (SELECT 1 FROM kg_mentions WHERE entity_id = old.entity_id);
END;

CREATE TABLE kg_relations (
    id INTEGER PRIMARY KEY,
    subject_id INTEGER NOT NULL REFERENCES kg_entities (id) ON DELETE CASCADE,
    predicate TEXT NOT NULL,
    object_id INTEGER REFERENCES kg_entities (id) ON DELETE CASCADE,
    object_value TEXT NOT NULL,
    item_id INTEGER REFERENCES memory_items (id) ON DELETE CASCADE,
    confidence REAL NOT NULL,
    stated_at TEXT NOT NULL,
    valid_from TEXT,
    valid_to TEXT,
    superseded_by INTEGER,
    evidence TEXT NOT NULL DEFAULT '',
    extractor TEXT NOT NULL
);
CREATE INDEX kg_relations_subject ON kg_relations (subject_id, predicate);
CREATE INDEX kg_relations_object ON kg_relations (object_id);
CREATE INDEX kg_relations_item ON kg_relations (item_id);
CREATE INDEX kg_relations_superseded ON kg_relations (superseded_by);
CREATE TRIGGER kg_relations_ad AFTER DELETE ON kg_relations BEGIN
    UPDATE kg_relations SET valid_to = NULL, superseded_by = NULL WHERE superseded_by = old.id;
END;

CREATE TABLE kg_processed (
    item_id INTEGER PRIMARY KEY REFERENCES memory_items (id) ON DELETE CASCADE,
    extractor TEXT NOT NULL,
    processed_at TEXT NOT NULL,
    error TEXT
);
CREATE TABLE kg_blocked (norm TEXT PRIMARY KEY, name TEXT NOT NULL, blocked_at TEXT NOT NULL);
"""


def statements(script: str) -> list[str]:
    """Split a SQL script into whole statements (trigger bodies hold semicolons too)."""
    found, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            found.append(current.strip())
            current = ""
    return found


def _create(db: sqlite_utils.Database) -> None:
    for statement in statements(SCHEMA):  # inside apply_migrations' transaction, unlike executescript
        db.conn.execute(statement)


MIGRATIONS = [_create]


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create or upgrade the graph tables (the memory tables must exist first)."""
    from memory.store import MIGRATIONS as MEMORY_MIGRATIONS

    apply_migrations(db, "memory", MEMORY_MIGRATIONS)
    apply_migrations(db, "graph", MIGRATIONS)
