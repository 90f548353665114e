"""Export the graph: JSON (everything, with provenance) or GraphML (for Gephi, yEd, networkx)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from memory.graph.graph import KnowledgeGraph

FORMATS = ("json", "graphml")


def _entities(graph: KnowledgeGraph) -> Iterator[dict[str, Any]]:
    aliases: dict[int, list[str]] = {}
    for entity_id, alias in graph.db.execute("SELECT DISTINCT entity_id, alias FROM kg_aliases ORDER BY alias"):
        aliases.setdefault(entity_id, []).append(alias)
    for row in graph.db.execute("SELECT id, name, type, mentions, first_seen, last_seen, is_self FROM kg_entities "
                                "ORDER BY id"):
        yield {"id": row[0], "name": row[1], "type": row[2], "mentions": row[3], "first_seen": row[4],
               "last_seen": row[5], "is_self": bool(row[6]), "aliases": aliases.get(row[0], [])}


def _relations(graph: KnowledgeGraph) -> Iterator[dict[str, Any]]:
    rows = graph.db.execute(
        "SELECT id, subject_id, predicate, object_id, object_value, valid_to IS NULL, valid_from, valid_to, "
        "stated_at, item_id, confidence, extractor FROM kg_relations ORDER BY id")
    for row in rows:
        yield {"id": row[0], "subject": row[1], "predicate": row[2], "object": row[3], "object_value": row[4],
               "current": bool(row[5]), "valid_from": row[6], "valid_to": row[7], "stated_at": row[8],
               "item_id": row[9], "confidence": row[10], "extractor": row[11]}


def export_json(graph: KnowledgeGraph, out: IO[str]) -> None:
    json.dump({"entities": list(_entities(graph)), "relations": list(_relations(graph))}, out, indent=1,
              ensure_ascii=False)
    out.write("\n")


def export_graphml(graph: KnowledgeGraph, path: Path | IO[bytes]) -> None:
    """Entities as nodes, relations as edges (values that are not entities become 'value' nodes)."""
    import networkx as nx

    g = nx.MultiDiGraph()
    for entity in _entities(graph):
        g.add_node(f"e{entity['id']}", name=entity["name"], type=entity["type"], mentions=entity["mentions"],
                   aliases="; ".join(entity["aliases"]))
    for relation in _relations(graph):
        target = f"e{relation['object']}" if relation["object"] is not None else f"v:{relation['object_value']}"
        if relation["object"] is None and target not in g:
            g.add_node(target, name=relation["object_value"], type="VALUE", mentions=0, aliases="")
        g.add_edge(f"e{relation['subject']}", target, key=relation["id"], predicate=relation["predicate"],
                   current=relation["current"], valid_from=relation["valid_from"] or "",
                   valid_to=relation["valid_to"] or "", item_id=relation["item_id"] or 0,
                   confidence=relation["confidence"])
    nx.write_graphml(g, path)
