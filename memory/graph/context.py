"""The graph at question time: which known entities a message names (by name or alias, no
model needed: word n-grams looked up in the alias index), the current facts about them as
compact prompt lines with source ids, and the memory items that mention them for retrieval.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlite_utils

from memory.graph.graph import ENTITY_COLUMNS, Entity, KnowledgeGraph
from memory.graph.queries import FactView, facts_about
from memory.graph.resolve import canonical, normalize
from memory.graph.types import ROLE_ALIASES, ROLES
from memory.store import STOPWORDS

MAX_NGRAM = 5
WORD = re.compile(r"[\w][\w'’.&-]*")
SELF_WORDS = {"i", "me", "my", "myself", "mine", "user"}


def _ngrams(text: str) -> dict[str, bool]:
    """Candidate names in the text: norm -> whether it was written capitalised."""
    words = WORD.findall(text)
    found: dict[str, bool] = {}
    for size in range(MAX_NGRAM, 0, -1):
        for start in range(len(words) - size + 1):
            chunk = words[start : start + size]
            norm = normalize(" ".join(chunk))
            if not norm or (size == 1 and (norm in STOPWORDS or len(norm) < 2)):
                continue
            capitalised = any(w[:1].isupper() for w in chunk)
            found[norm] = found.get(norm, False) or capitalised
            found.setdefault(canonical(norm), capitalised)
    return found


def entities_in(db: sqlite_utils.Database, text: str, include_self: bool = False, limit: int = 10) -> list[Entity]:
    """Known entities the text names, longest names first ("Bob Smith" before "Bob")."""
    candidates = _ngrams(text)
    if not include_self:
        for word in SELF_WORDS:
            candidates.pop(word, None)
    if not candidates:
        return []
    norms = list(candidates)
    rows: list[tuple] = []
    for start in range(0, len(norms), 400):
        part = norms[start : start + 400]
        marks = ", ".join("?" * len(part))
        rows += db.execute(
            "SELECT e.id, e.name, e.type, e.mentions, e.first_seen, e.last_seen, e.is_self, a.norm "
            f"FROM kg_aliases a JOIN kg_entities e ON e.id = a.entity_id WHERE a.norm IN ({marks})", part).fetchall()
    chosen: dict[int, tuple[Entity, int]] = {}
    for row in rows:
        norm = row[7]
        if row[6] and not include_self:
            continue
        # a lower-case one-word match ("may", "bill") counts only when the name is not a common word
        if " " not in norm and not candidates.get(norm) and len(norm) < 4:
            continue
        entity = Entity(*row[:6], bool(row[6]))
        if entity.id not in chosen or len(norm) > chosen[entity.id][1]:
            chosen[entity.id] = (entity, len(norm))
    ordered = sorted(chosen.values(), key=lambda pair: (-pair[1], -pair[0].mentions))
    return [entity for entity, _ in ordered[:limit]]


_ROLE_WORDS = "|".join(re.escape(r) for r in sorted(ROLES, key=len, reverse=True))
ROLE_PHRASE = re.compile(rf"\b(?:(my|our)|([\w][\w .'-]{{0,40}}?)['’]s)\s+({_ROLE_WORDS})s?\b", re.IGNORECASE)


def entities_by_role(db: sqlite_utils.Database, text: str, limit: int = 10) -> list[Entity]:
    """The people the text names by a role: "my sister" is whoever the user's current
    ``has_sister`` relation points to, "Alice's boss" whoever Alice's ``has_boss`` does."""
    found: dict[int, Entity] = {}
    for match in ROLE_PHRASE.finditer(text):
        mine, owner, role = match.group(1), match.group(2), match.group(3).lower()
        role = ROLE_ALIASES.get(role, role)
        if mine:
            owners = [r[0] for r in db.execute("SELECT id FROM kg_entities WHERE is_self = 1").fetchall()]
        else:
            owners = [e.id for e in entities_in(db, owner, limit=3)]
        if not owners:
            continue
        marks = ", ".join("?" * len(owners))
        rows = db.execute(
            f"SELECT DISTINCT {ENTITY_COLUMNS} FROM kg_relations r JOIN kg_entities e ON e.id = r.object_id "
            f"WHERE r.subject_id IN ({marks}) AND r.predicate = ? AND r.valid_to IS NULL "
            "ORDER BY e.last_seen DESC LIMIT ?", [*owners, f"has_{role}", limit]).fetchall()
        for row in rows:
            found.setdefault(row[0], Entity(*row[:6], bool(row[6])))
    return list(found.values())[:limit]


def entities_named(db: sqlite_utils.Database, text: str) -> list[Entity]:
    """The entities the text names, by name or alias first, then by role ("my sister")."""
    entities = entities_in(db, text)
    known = {e.id for e in entities}
    return entities + [e for e in entities_by_role(db, text) if e.id not in known]


def has_graph(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'kg_aliases'").fetchone() is not None


def items_mentioning(db: sqlite_utils.Database, text: str, limit: int = 50) -> list[int]:
    """Memory items that mention an entity the text names, newest first (for retrieval)."""
    if not has_graph(db):
        return []
    entities = entities_named(db, text)
    if not entities:
        return []
    marks = ", ".join("?" * len(entities))
    rows = db.execute(
        f"SELECT item_id FROM kg_mentions WHERE entity_id IN ({marks}) GROUP BY item_id "
        "ORDER BY COUNT(DISTINCT entity_id) DESC, MAX(seen_at) DESC LIMIT ?", [*[e.id for e in entities], limit])
    return [r[0] for r in rows]


@dataclass(frozen=True)
class FactLine:
    """One fact for the prompt: ``text`` is what the model reads, ``ref`` the source id it can cite."""

    text: str
    ref: str
    entity_id: int
    item_ids: tuple[int, ...]
    current: bool


def source_ref(item_id: int) -> str:
    return f"m{item_id}"


def _line(fact: FactView) -> FactLine:
    when = ""
    if fact.current and fact.valid_from:
        when = f" (since {fact.valid_from[:10]})"
    elif not fact.current:
        when = f" (until {fact.valid_to[:10]})" if fact.valid_to else " (no longer)"
    items = tuple(s.item_id for s in fact.sources)
    ref = source_ref(items[0]) if items else "graph"
    return FactLine(f"{fact.text()}{when} [{ref}]", ref, fact.subject_id, items, fact.current)


def facts_for_prompt(graph: KnowledgeGraph, message: str, window: Sequence[str] = (), *, limit: int = 12,
                     per_entity: int = 6, include_past: bool = True) -> list[FactLine]:
    """Facts about the entities the message (first) and the recent window name: current facts
    first, a few past ones after ("lived in Lyon") so the model can tell old from new."""
    entities = entities_named(graph.db, message)
    seen = {e.id for e in entities}
    for text in reversed(window):  # the most recent turns first
        for entity in entities_in(graph.db, text):
            if entity.id not in seen:
                seen.add(entity.id)
                entities.append(entity)
    lines: list[FactLine] = []
    done: set[str] = set()
    for entity in entities:
        facts = facts_about(graph, entity.id, include_past=include_past, limit=per_entity * 2)
        current = [f for f in facts if f.current][:per_entity]
        past = [f for f in facts if not f.current][: max(per_entity - len(current), 2)]
        for fact in current + past:
            line = _line(fact)
            if line.text not in done:
                done.add(line.text)
                lines.append(line)
        if len(lines) >= limit:
            break
    return lines[:limit]
