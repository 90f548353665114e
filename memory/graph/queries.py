"""Reading the graph: an entity's facts (current first, with sources), its neighbourhood,
and the shortest path between two entities.

Statements of the same fact are grouped: one line per (subject, predicate, object), current
if any statement of it still holds, with every source item. Traversal is breadth-first over
indexed SQL lookups, one query per frontier, so it stays fast on a million relations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlite_utils

from memory.graph.graph import Entity, KnowledgeGraph

PREDICATE_WORDS = {
    "lives_in": "lives in", "works_at": "works at", "studies_at": "studies at", "married_to": "is married to",
    "born_in": "was born in", "is_a": "is a", "located_in": "is located in", "member_of": "is a member of",
}


def phrase(predicate: str, current: bool = True) -> str:
    """'has_sister' -> 'has sister'; 'lives_in' -> 'lives in' (or 'lived in' when over)."""
    if not current:
        past = {"lives_in": "lived in", "works_at": "worked at", "studies_at": "studied at",
                "married_to": "was married to", "is_a": "was a"}
        if predicate in past:
            return past[predicate]
    return PREDICATE_WORDS.get(predicate, predicate.replace("_", " "))


@dataclass(frozen=True)
class Source:
    item_id: int
    relation_id: int
    source: str  # "session:<id>" or the document path
    occurred_at: str
    kind: str
    excerpt: str


@dataclass
class FactView:
    """One fact about an entity, with all the statements that made it."""

    subject: str
    subject_id: int
    predicate: str
    object: str
    object_id: int | None
    current: bool
    valid_from: str | None
    valid_to: str | None
    confidence: float
    sources: list[Source] = field(default_factory=list)

    def text(self) -> str:
        return f"{self.subject} {phrase(self.predicate, self.current)} {self.object}"

    def as_dict(self) -> dict:
        return {
            "subject": self.subject, "predicate": self.predicate, "object": self.object, "current": self.current,
            "valid_from": self.valid_from, "valid_to": self.valid_to, "confidence": round(self.confidence, 3),
            "text": self.text(),
            "sources": [{"item_id": s.item_id, "source": s.source, "occurred_at": s.occurred_at, "kind": s.kind}
                        for s in self.sources],
        }


FACT_SQL = """
SELECT r.id, r.subject_id, s.name, r.predicate, r.object_id, COALESCE(o.name, r.object_value), r.valid_from,
       r.valid_to, r.confidence, r.item_id, i.source, i.occurred_at, i.kind, substr(i.text, 1, 200), r.stated_at
FROM kg_relations r JOIN kg_entities s ON s.id = r.subject_id LEFT JOIN kg_entities o ON o.id = r.object_id
LEFT JOIN memory_items i ON i.id = r.item_id
"""


def _group(rows: Iterable[tuple]) -> list[FactView]:
    grouped: dict[tuple[int, str, str], FactView] = {}
    for (rid, sid, sname, predicate, oid, oname, vfrom, vto, conf, item_id, source, occurred, kind,
         excerpt, stated) in rows:
        key = (sid, predicate, str(oid) if oid is not None else oname.lower())
        view = grouped.get(key)
        current = vto is None
        if view is None:
            view = grouped[key] = FactView(sname, sid, predicate, oname, oid, current, vfrom, vto, conf)
        else:
            view.current = view.current or current
            view.valid_to = None if view.current else max(filter(None, [view.valid_to, vto]), default=None)
            view.valid_from = min(filter(None, [view.valid_from, vfrom]), default=None)
            view.confidence = max(view.confidence, conf)
        if item_id is not None:
            view.sources.append(Source(item_id, rid, source or "", occurred or stated, kind or "", excerpt or ""))
    facts = list(grouped.values())
    for fact in facts:
        fact.sources.sort(key=lambda s: s.occurred_at, reverse=True)
    facts.sort(key=lambda f: (not f.current, -max((len(f.sources), 1)), f.predicate))
    return facts


def facts_about(graph: KnowledgeGraph, entity_id: int, *, include_past: bool = True,
                limit: int = 200) -> list[FactView]:
    """Facts with the entity as subject or object: current first, then past; most stated first."""
    past = "" if include_past else "AND r.valid_to IS NULL"
    rows = graph.db.execute(
        f"{FACT_SQL} WHERE r.id IN (SELECT id FROM kg_relations WHERE subject_id = ? "
        f"UNION SELECT id FROM kg_relations WHERE object_id = ?) {past} "
        f"ORDER BY r.valid_to IS NOT NULL, r.stated_at DESC LIMIT ?",
        [entity_id, entity_id, limit * 5]).fetchall()
    return _group(rows)[:limit]


@dataclass(frozen=True)
class Edge:
    relation_id: int
    subject_id: int
    predicate: str
    object_id: int
    current: bool


def _edges(db: sqlite_utils.Database, nodes: list[int], current_only: bool) -> list[Edge]:
    edges: list[Edge] = []
    extra = "AND valid_to IS NULL" if current_only else ""
    for start in range(0, len(nodes), 500):
        part = nodes[start : start + 500]
        marks = ", ".join("?" * len(part))
        rows = db.execute(
            f"SELECT id, subject_id, predicate, object_id, valid_to IS NULL FROM kg_relations "
            f"WHERE subject_id IN ({marks}) AND object_id IS NOT NULL {extra} UNION ALL "
            f"SELECT id, subject_id, predicate, object_id, valid_to IS NULL FROM kg_relations "
            f"WHERE object_id IN ({marks}) {extra}", [*part, *part]).fetchall()
        edges += [Edge(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]
    return edges


@dataclass
class Neighbourhood:
    center: Entity
    entities: dict[int, Entity]
    distance: dict[int, int]
    edges: list[Edge]


def neighbourhood(graph: KnowledgeGraph, entity_id: int, depth: int = 1, *, current_only: bool = False,
                  max_nodes: int = 200) -> Neighbourhood:
    """Entities within ``depth`` hops (either direction), with the edges between them."""
    distance = {entity_id: 0}
    frontier = [entity_id]
    edges: dict[int, Edge] = {}
    for hop in range(1, depth + 1):
        found = []
        for edge in _edges(graph.db, frontier, current_only):
            edges[edge.relation_id] = edge
            for node in (edge.subject_id, edge.object_id):
                if node not in distance and len(distance) < max_nodes:
                    distance[node] = hop
                    found.append(node)
        frontier = found
        if not frontier:
            break
    entities = {e: graph.entity(e) for e in distance}
    kept = [e for e in edges.values() if e.subject_id in distance and e.object_id in distance]
    return Neighbourhood(entities[entity_id], entities, distance, kept)


def shortest_path(graph: KnowledgeGraph, source: int, target: int, max_depth: int = 4,
                  current_only: bool = False) -> list[Edge] | None:
    """The fewest relations linking two entities (either direction), or None within ``max_depth``.
    Searches from both ends at once, expanding the smaller frontier."""
    if source == target:
        return []
    parents: list[dict[int, Edge | None]] = [{source: None}, {target: None}]
    frontiers = [[source], [target]]
    for _ in range(max_depth):
        side = 0 if len(frontiers[0]) <= len(frontiers[1]) else 1
        next_frontier = []
        for edge in _edges(graph.db, frontiers[side], current_only):
            for here, there in ((edge.subject_id, edge.object_id), (edge.object_id, edge.subject_id)):
                if here in parents[side] and there not in parents[side]:
                    parents[side][there] = edge
                    next_frontier.append(there)
                    if there in parents[1 - side]:
                        return _join(parents, there, source, target)
        frontiers[side] = next_frontier
        if not next_frontier:
            return None
    return None


def _join(parents: list[dict[int, Edge | None]], meet: int, source: int, target: int) -> list[Edge]:
    def walk(side: int, node: int, end: int) -> list[Edge]:
        path = []
        while node != end:
            edge = parents[side][node]
            assert edge is not None
            path.append(edge)
            node = edge.subject_id if edge.object_id == node else edge.object_id
        return path

    return list(reversed(walk(0, meet, source))) + walk(1, meet, target)
