"""The knowledge graph: stores what extractors found, keeps facts current, and edits entities.

Every statement is its own relation row (so each fact lists its sources, and forgetting one
source keeps the others). A new statement of a one-at-a-time fact ("lives in", "works at") ends
the current one it contradicts: the old row gets ``valid_to`` and ``superseded_by`` instead of
being deleted or left equally current. Statements arriving out of order (an old document loaded
late) are slotted in as already over.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import sqlite_utils

from memory.clock import utc_now
from memory.errors import MemchatError
from memory.graph.resolve import Confirm, Resolver, canonical, normalize
from memory.graph.schema import ensure_schema
from memory.graph.types import FUNCTIONAL_PREDICATES, SELF_NAME, EntityMention, Extraction, Fact
from memory.db import connection_lock, transaction

SELF_ALIASES = ("User", "me", "myself", "I")


class EntityNotFoundError(MemchatError):
    """No entity by that name or id."""


@dataclass(frozen=True)
class Entity:
    id: int
    name: str
    type: str
    mentions: int
    first_seen: str | None
    last_seen: str | None
    is_self: bool


ENTITY_COLUMNS = "e.id, e.name, e.type, e.mentions, e.first_seen, e.last_seen, e.is_self"


def _entity(row: Sequence) -> Entity:
    values = list(row)
    values[6] = bool(values[6])
    return Entity(*values)


@dataclass(frozen=True)
class StoredItem:
    """What the graph needs to know about the memory item an extraction came from."""

    id: int
    source: str
    occurred_at: str


class KnowledgeGraph:
    """Entities and dated relations in the data directory's database."""

    def __init__(self, db: sqlite_utils.Database, lock: threading.RLock | None = None,
                 confirm: Confirm | None = None):
        self.db = db
        self.lock = lock or connection_lock(db)  # one lock per connection: no lock-order deadlock
        ensure_schema(db)
        self.resolver = Resolver(db, confirm)
        self._self_id: int | None = None

    # -- writing ------------------------------------------------------------------------------------
    def add_extraction(self, item: StoredItem, extraction: Extraction, extractor: str) -> list[int]:
        """Store one item's entities and facts (in the caller's transaction). Returns the relation ids."""
        ids: dict[tuple[str, str], int | None] = {}
        for mention in extraction.entities:
            entity_id = self._entity_for(mention.text, mention.type, item, ids)
            if entity_id is not None:
                self._mention(entity_id, item, mention)
        relation_ids = []
        for fact in extraction.facts:
            subject = self._entity_for(fact.subject, fact.subject_type, item, ids)
            if subject is None:
                continue
            obj = None
            if fact.object_type is not None:
                obj = self._entity_for(fact.object, fact.object_type, item, ids)
                if obj is None:
                    continue
            if fact.predicate == "located_in" and self._type_of(subject) == "PERSON":
                fact = replace(fact, predicate="lives_in")  # NER took a known person for a company
            relation_ids.append(self._relation(subject, fact, obj, item, extractor))
        return relation_ids

    def _type_of(self, entity_id: int) -> str | None:
        row = self.db.execute("SELECT type FROM kg_entities WHERE id = ?", [entity_id]).fetchone()
        return row[0] if row else None

    def _entity_for(self, name: str, type_: str, item: StoredItem,
                    cache: dict[tuple[str, str], int | None]) -> int | None:
        key = (name, type_)
        if key in cache:
            return cache[key]
        if name == SELF_NAME and type_ == "PERSON":
            cache[key] = self.self_id()
            return cache[key]
        norm = canonical(normalize(name, type_))
        if not norm or self.db.execute("SELECT 1 FROM kg_blocked WHERE norm = ?", [norm]).fetchone():
            cache[key] = None
            return None
        entity_id = self.resolver.resolve(name, type_, item.source)
        if entity_id is None and type_ == "PERSON":
            short = self.resolver.short_name_in_source(norm, item.source)
            if short is not None:  # "Bob" seen earlier here, now "Bob Smith": Bob becomes Bob Smith
                self._rename(short, name)
                entity_id = short
        if entity_id is None:
            entity_id = self._create(name, type_, item.occurred_at)
        else:
            self._add_alias(entity_id, name, type_)
        cache[key] = entity_id
        return entity_id

    def _create(self, name: str, type_: str, now: str, is_self: bool = False) -> int:
        norm = canonical(normalize(name, type_))
        cursor = self.db.conn.execute(
            "INSERT INTO kg_entities (name, type, norm, is_self, created_at) VALUES (?, ?, ?, ?, ?)",
            [name, type_, norm, int(is_self), now])
        entity_id = int(cursor.lastrowid)
        self._add_alias(entity_id, name, type_)
        return entity_id

    def _add_alias(self, entity_id: int, name: str, type_: str) -> None:
        for norm in {normalize(name, type_), canonical(normalize(name, type_))}:
            if norm:
                self.db.conn.execute("INSERT OR IGNORE INTO kg_aliases (entity_id, alias, norm) VALUES (?, ?, ?)",
                                     [entity_id, name, norm])

    def self_id(self) -> int:
        """The entity standing for the user (created on first use)."""
        if self._self_id is None:
            row = self.db.execute("SELECT id FROM kg_entities WHERE is_self = 1").fetchone()
            if row:
                self._self_id = int(row[0])
            else:
                with self.lock:
                    self._self_id = self._create(SELF_NAME, "PERSON", utc_now(), is_self=True)
                    for alias in SELF_ALIASES[1:]:
                        self._add_alias(self._self_id, alias, "PERSON")
        return self._self_id

    def _mention(self, entity_id: int, item: StoredItem, mention: EntityMention) -> None:
        self.db.conn.execute(
            "INSERT INTO kg_mentions (entity_id, item_id, start, end, text, seen_at) VALUES (?, ?, ?, ?, ?, ?)",
            [entity_id, item.id, mention.start, mention.end, mention.text, item.occurred_at])

    def _relation(self, subject: int, fact: Fact, obj: int | None, item: StoredItem, extractor: str) -> int:
        when = fact.valid_from or item.occurred_at
        valid_from, valid_to = (fact.valid_from, None) if fact.current else (None, when)
        cursor = self.db.conn.execute(
            "INSERT INTO kg_relations (subject_id, predicate, object_id, object_value, item_id, confidence, "
            "stated_at, valid_from, valid_to, evidence, extractor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [subject, fact.predicate, obj, fact.object, item.id, fact.confidence, item.occurred_at, valid_from,
             valid_to, fact.evidence, extractor])
        relation_id = int(cursor.lastrowid)
        self._keep_current(relation_id, subject, fact, obj, when)
        return relation_id

    def _keep_current(self, relation_id: int, subject: int, fact: Fact, obj: int | None, when: str) -> None:
        """End the statements this one contradicts (or end this one, if a newer statement already
        contradicts it)."""
        same_object = "object_id IS ?" if obj is not None else "object_id IS NULL AND object_value = ?"
        target = obj if obj is not None else fact.object
        if not fact.current:  # "moved from Lyon": the Lyon statements end now
            self.db.conn.execute(
                f"UPDATE kg_relations SET valid_to = ?, superseded_by = ? WHERE subject_id = ? AND predicate = ? "
                f"AND {same_object} AND valid_to IS NULL AND id != ? AND COALESCE(valid_from, stated_at) <= ?",
                [when, relation_id, subject, fact.predicate, target, relation_id, when])
            return
        if fact.predicate not in FUNCTIONAL_PREDICATES:
            return
        rows = self.db.execute(
            f"SELECT id, COALESCE(valid_from, stated_at) FROM kg_relations WHERE subject_id = ? AND predicate = ? "
            f"AND NOT ({same_object}) AND valid_to IS NULL AND id != ?",
            [subject, fact.predicate, target, relation_id]).fetchall()
        newer = [(rid, start) for rid, start in rows if start > when]
        if newer:  # a later statement already says otherwise: this one is history
            rid, start = min(newer, key=lambda r: r[1])
            self.db.conn.execute("UPDATE kg_relations SET valid_to = ?, superseded_by = ? WHERE id = ?",
                                 [start, rid, relation_id])
        older = [rid for rid, start in rows if start <= when]
        if older:
            marks = ", ".join("?" * len(older))
            self.db.conn.execute(
                f"UPDATE kg_relations SET valid_to = ?, superseded_by = ? WHERE id IN ({marks})",
                [when, relation_id, *older])

    # -- finding entities -------------------------------------------------------------------------------
    def find(self, name: str, limit: int = 10) -> list[Entity]:
        """Entities called ``name`` (or an alias of it), else those whose names contain it or are
        close to it, most mentioned first. An id ("#12" or "12") finds that entity."""
        key = name.strip().lstrip("#")
        if key.isdigit():
            row = self.db.execute(f"SELECT {ENTITY_COLUMNS} FROM kg_entities e WHERE e.id = ?", [int(key)]).fetchone()
            if row:
                return [_entity(row)]
        norms = {normalize(name), canonical(normalize(name)), normalize(name, "ORG")}
        marks = ", ".join("?" * len(norms))
        rows = self.db.execute(
            f"SELECT DISTINCT {ENTITY_COLUMNS} FROM kg_aliases a JOIN kg_entities e ON e.id = a.entity_id "
            f"WHERE a.norm IN ({marks}) ORDER BY e.mentions DESC LIMIT ?", [*norms, limit]).fetchall()
        if rows:
            return [_entity(r) for r in rows]
        norm = normalize(name)
        if len(norm) < 3:
            return []
        rows = self.db.execute(
            f"SELECT DISTINCT {ENTITY_COLUMNS} FROM kg_aliases_fts f JOIN kg_aliases a ON a.rowid = f.rowid "
            f"JOIN kg_entities e ON e.id = a.entity_id WHERE kg_aliases_fts MATCH ? "
            f"ORDER BY e.mentions DESC LIMIT ?", ['"' + norm.replace('"', '""') + '"', limit]).fetchall()
        return [_entity(r) for r in rows]

    def get(self, name_or_id: str | int) -> Entity:
        """The entity a user means by a name or id; a clear error when there is none."""
        found = self.find(str(name_or_id), limit=1)
        if not found:
            raise EntityNotFoundError(f"no entity '{name_or_id}' in the knowledge graph; see `memchat kg list`")
        return found[0]

    def entity(self, entity_id: int) -> Entity:
        row = self.db.execute(f"SELECT {ENTITY_COLUMNS} FROM kg_entities e WHERE e.id = ?", [entity_id]).fetchone()
        if row is None:
            raise EntityNotFoundError(f"no entity #{entity_id}")
        return _entity(row)

    def aliases(self, entity_id: int) -> list[str]:
        rows = self.db.execute("SELECT DISTINCT alias FROM kg_aliases WHERE entity_id = ? ORDER BY alias", [entity_id])
        return [r[0] for r in rows]

    def entities(self, type_: str | None = None, limit: int = 50, offset: int = 0,
                 include_self: bool = False) -> list[Entity]:
        """Entities by how often they are mentioned, optionally of one type."""
        clauses, params = [], []
        if type_:
            clauses.append("e.type = ?")
            params.append(type_.upper())
        if not include_self:
            clauses.append("e.is_self = 0")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.execute(f"SELECT {ENTITY_COLUMNS} FROM kg_entities e {where} "
                               "ORDER BY e.mentions DESC, e.name LIMIT ? OFFSET ?", [*params, limit, offset])
        return [_entity(r) for r in rows]

    def counts(self) -> dict[str, int]:
        one = lambda sql: int(self.db.execute(sql).fetchone()[0])  # noqa: E731
        return {
            "entities": one("SELECT COUNT(*) FROM kg_entities WHERE is_self = 0"),
            "relations": one("SELECT COUNT(*) FROM kg_relations"),
            "current relations": one("SELECT COUNT(*) FROM kg_relations WHERE valid_to IS NULL"),
            "mentions": one("SELECT COUNT(*) FROM kg_mentions"),
            "items processed": one("SELECT COUNT(*) FROM kg_processed"),
        }

    # -- editing --------------------------------------------------------------------------------------
    def rename(self, entity_id: int, new_name: str) -> None:
        """Give the entity a new canonical name (the old one stays as an alias)."""
        if not new_name.strip():
            raise MemchatError("the new name is empty")
        with self.lock, transaction(self.db):
            self._rename(entity_id, new_name.strip())

    def _rename(self, entity_id: int, new_name: str) -> None:
        entity = self.entity(entity_id)
        self.db.conn.execute("UPDATE kg_entities SET name = ?, norm = ? WHERE id = ?",
                             [new_name, canonical(normalize(new_name, entity.type)), entity_id])
        self._add_alias(entity_id, new_name, entity.type)

    def merge(self, keep_id: int, other_id: int) -> None:
        """Fold ``other`` into ``keep``: its mentions, facts and aliases move over."""
        if keep_id == other_id:
            raise MemchatError("cannot merge an entity with itself")
        keep, other = self.entity(keep_id), self.entity(other_id)
        if other.is_self:
            keep, other = other, keep
        with self.lock, transaction(self.db):
            for column in ("subject_id", "object_id"):
                self.db.conn.execute(f"UPDATE kg_relations SET {column} = ? WHERE {column} = ?", [keep.id, other.id])
            self.db.conn.execute("UPDATE OR IGNORE kg_aliases SET entity_id = ? WHERE entity_id = ?",
                                 [keep.id, other.id])
            moved = self.db.conn.execute("UPDATE kg_mentions SET entity_id = ? WHERE entity_id = ?",
                                         [keep.id, other.id]).rowcount
            self.db.conn.execute(
                "UPDATE kg_entities SET mentions = mentions + ?, first_seen = MIN(COALESCE(first_seen, ?), ?), "
                "last_seen = MAX(COALESCE(last_seen, ?), ?) WHERE id = ?",
                [moved, other.first_seen or "", other.first_seen or "9999", other.last_seen or "",
                 other.last_seen or "", keep.id])
            self.db.conn.execute("DELETE FROM kg_entities WHERE id = ?", [other.id])

    def split(self, entity_id: int, source: str, new_name: str | None = None) -> int:
        """Move what was said about the entity in one source (a session or document) to a new
        entity: for two different people who share a name. Returns the new entity's id."""
        entity = self.entity(entity_id)
        with self.lock, transaction(self.db):
            items = [r[0] for r in self.db.execute(
                "SELECT DISTINCT m.item_id FROM kg_mentions m JOIN memory_items i ON i.id = m.item_id "
                "WHERE m.entity_id = ? AND i.source = ?", [entity_id, source])]
            if not items:
                raise MemchatError(f"{entity.name} is not mentioned in {source}")
            new_id = self._create(new_name or entity.name, entity.type, entity.first_seen or "")
            marks = ", ".join("?" * len(items))
            for column in ("subject_id", "object_id"):
                self.db.conn.execute(f"UPDATE kg_relations SET {column} = ? WHERE {column} = ? "
                                     f"AND item_id IN ({marks})", [new_id, entity_id, *items])
            moved = self.db.conn.execute(f"DELETE FROM kg_mentions WHERE entity_id = ? AND item_id IN ({marks}) "
                                         "RETURNING item_id, start, end, text, seen_at", [entity_id, *items]).fetchall()
            self.db.conn.executemany(
                "INSERT INTO kg_mentions (entity_id, item_id, start, end, text, seen_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(new_id, *row) for row in moved])
        return new_id

    def delete(self, entity_id: int, block: bool = True) -> None:
        """Delete the entity with its facts; with ``block`` its names are not extracted again."""
        entity = self.entity(entity_id)
        if entity.is_self:
            raise MemchatError("the user's own entity cannot be deleted; delete its facts' sources instead")
        with self.lock, transaction(self.db):
            if block:
                for alias in self.db.execute("SELECT alias, norm FROM kg_aliases WHERE entity_id = ?", [entity_id]):
                    self.db.conn.execute("INSERT OR IGNORE INTO kg_blocked (norm, name, blocked_at) VALUES (?, ?, ?)",
                                         [alias[1], alias[0], utc_now()])
            self.db.conn.execute("DELETE FROM kg_entities WHERE id = ?", [entity_id])

    def clear(self) -> None:
        """Forget everything extracted (entities, facts, facts in retrieval keys), to extract again.
        Names the user deleted stay blocked."""
        with self.lock, transaction(self.db):
            for table in ("kg_relations", "kg_mentions", "kg_processed"):
                self.db.conn.execute(f"DELETE FROM {table}")
            self.db.conn.execute("DELETE FROM kg_entities WHERE is_self = 0")
            self.db.conn.execute(
                "UPDATE memory_items SET key_text = substr(key_text, 1, instr(key_text, char(10) || 'Facts: ') - 1) "
                "WHERE instr(key_text, char(10) || 'Facts: ') > 0")

    def unblock(self, name: str) -> bool:
        with self.lock, transaction(self.db):
            return self.db.conn.execute("DELETE FROM kg_blocked WHERE norm = ?", [normalize(name)]).rowcount > 0

    # -- provenance -------------------------------------------------------------------------------------
    def items_of(self, entity_ids: Iterable[int], limit: int = 50) -> list[int]:
        """Memory items that mention the entities, newest first."""
        ids = list(entity_ids)
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT item_id FROM kg_mentions WHERE entity_id IN ({marks}) GROUP BY item_id "
            "ORDER BY MAX(seen_at) DESC LIMIT ?", [*ids, limit])
        return [r[0] for r in rows]
