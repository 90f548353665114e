"""Entity resolution: which stored entity a newly extracted name refers to.

In stages: the normalised name (case, accents, whitespace, possessives, "the", company
suffixes), a table of common aliases ("NYC" → "New York City"), a short name that matches the
first or last name of a person seen in the same source ("Bob" beside "Bob Smith"), then a fuzzy
match for longer names (candidates found by trigram full-text search, scored by edit
similarity), optionally confirmed by an LLM. A first name is
never merged with a full name from an unrelated source, and names the user deleted stay out.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

ORG_SUFFIXES = re.compile(r"\b(inc|ltd|llc|plc|corp|corporation|co|gmbh|ag|sa|s\.a|limited|company)\.?$")
ALIASES = {
    "nyc": "new york city", "new york": "new york city", "la": "los angeles", "sf": "san francisco",
    "us": "united states", "usa": "united states", "u.s.": "united states", "u.s": "united states",
    "united states of america": "united states", "america": "united states", "uk": "united kingdom",
    "u.k.": "united kingdom", "britain": "united kingdom", "great britain": "united kingdom",
    "eu": "european union", "un": "united nations", "dc": "washington dc", "washington d.c.": "washington dc",
    "mtl": "montreal", "nz": "new zealand", "uae": "united arab emirates", "prc": "china",
    "google llc": "google", "alphabet": "google", "meta platforms": "meta", "facebook": "meta",
    "mit": "massachusetts institute of technology", "nasa": "national aeronautics and space administration",
}
FUZZY_MIN_LENGTH = 5
FUZZY_THRESHOLD = 0.88  # edit similarity (difflib ratio) of two normalised names
PERSON_FUZZY_THRESHOLD = 0.93
# types that can be confused by a small NER model without being different things
SOFT_TYPES = {"ORG", "PRODUCT", "THING", "WORK", "EVENT", "GROUP"}

Confirm = Callable[[str, str], bool]


def normalize(name: str, type_: str = "THING") -> str:
    """The matching key of a name: no accents, case, extra spaces, possessive, article or suffix."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("’", "'")
    text = re.sub(r"'s$|'$", "", text.strip())
    text = re.sub(r"^(the)\s+", "", text)
    text = re.sub(r"[\s,;:!?\"()\[\]]+", " ", text).strip(" .-")
    if type_ in ("ORG", "THING"):
        text = ORG_SUFFIXES.sub("", text).strip(" ,.-")
    return text


def canonical(norm: str) -> str:
    return ALIASES.get(norm, norm)


def trigrams(text: str) -> set[str]:
    padded = f"  {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def similarity(a: str, b: str) -> float:
    """Edit similarity in [0, 1]: a typo in a long name barely lowers it."""
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def compatible(type_a: str, type_b: str) -> bool:
    return type_a == type_b or (type_a in SOFT_TYPES and type_b in SOFT_TYPES)


@dataclass(frozen=True)
class Candidate:
    id: int
    name: str
    type: str
    mentions: int


class Resolver:
    """Finds the entity a (name, type) refers to, within a source (session or document)."""

    def __init__(self, db: sqlite_utils.Database, confirm: Confirm | None = None):
        self.db = db
        self.confirm = confirm  # optional: an LLM asked "are these the same?"

    def resolve(self, name: str, type_: str, source: str | None) -> int | None:
        """An existing entity's id, or None when the name is new."""
        norm = canonical(normalize(name, type_))
        if type_ == "PERSON" and " " not in norm:
            return self._first_name(norm, source)
        exact = self._by_norm(norm)
        same_type = [c for c in exact if compatible(c.type, type_)]
        if same_type:
            return max(same_type, key=lambda c: c.mentions).id
        # the small NER model labels one name differently from sentence to sentence: the same
        # name is the same entity, except a person and a place ("Jordan", "Paris")
        other_type = [c for c in exact if {c.type, type_} != {"PERSON", "PLACE"}]
        if other_type:
            return max(other_type, key=lambda c: c.mentions).id
        if type_ == "PERSON" and source:
            found = self._person_in_source(norm, source)
            if found is not None:
                return found
        return self._fuzzy(norm, type_)

    def _first_name(self, norm: str, source: str | None) -> int | None:
        """A one-word person name: the full name it shortens in this source, else a person
        called just that; never a namesake's full name from another source."""
        if source:
            found = self._person_in_source(norm, source)
            if found is not None:
                return found
        named = [c for c in self._by_norm(norm) if c.type != "PLACE"]
        exact = [c for c in named if normalize(c.name, c.type) == norm or c.type != "PERSON"]
        if exact:
            return max(exact, key=lambda c: c.mentions).id
        if source:  # an alias ("Bob" of "Bob Smith") counts only where that person was named
            for candidate in named:
                if self.db.execute(
                        "SELECT 1 FROM kg_mentions m JOIN memory_items i ON i.id = m.item_id "
                        "WHERE m.entity_id = ? AND i.source = ? LIMIT 1", [candidate.id, source]).fetchone():
                    return candidate.id
        return None

    def _by_norm(self, norm: str) -> list[Candidate]:
        rows = self.db.execute(
            "SELECT e.id, e.name, e.type, e.mentions FROM kg_aliases a JOIN kg_entities e ON e.id = a.entity_id "
            "WHERE a.norm = ? ORDER BY e.mentions DESC LIMIT 20", [norm]).fetchall()
        return [Candidate(*row) for row in rows]

    def _person_in_source(self, norm: str, source: str) -> int | None:
        """"Bob" → "Bob Smith" (and "Smith" → "Bob Smith") when that person is named in the same source."""
        words = norm.split()
        rows = self.db.execute(
            "SELECT DISTINCT e.id, e.norm FROM kg_mentions m JOIN memory_items i ON i.id = m.item_id "
            "JOIN kg_entities e ON e.id = m.entity_id WHERE i.source = ? AND e.type = 'PERSON' "
            "ORDER BY m.id DESC LIMIT 300", [source]).fetchall()
        matches = set()
        for entity_id, entity_norm in rows:
            parts = entity_norm.split()
            if len(words) == 1 and len(parts) > 1 and words[0] in (parts[0], parts[-1]):
                matches.add(entity_id)
        return matches.pop() if len(matches) == 1 else None  # two Bobs here: don't guess

    def short_name_in_source(self, norm: str, source: str) -> int | None:
        """A one-word person entity ("Bob") seen only in this source, that a full name ("Bob Smith")
        just introduced there should absorb."""
        words = norm.split()
        if len(words) < 2:
            return None
        for word in {words[0], words[-1]}:
            rows = self.db.execute(
                "SELECT e.id FROM kg_entities e WHERE e.norm = ? AND e.type = 'PERSON' AND e.is_self = 0 "
                "AND NOT EXISTS (SELECT 1 FROM kg_mentions m JOIN memory_items i ON i.id = m.item_id "
                "WHERE m.entity_id = e.id AND i.source != ?)", [word, source]).fetchall()
            if len(rows) == 1:
                return int(rows[0][0])
        return None

    def _fuzzy(self, norm: str, type_: str) -> int | None:
        if len(norm) < FUZZY_MIN_LENGTH:
            return None
        grams = [g.strip() for g in trigrams(norm) if len(g.strip()) == 3]
        if not grams:
            return None
        query = " OR ".join('"' + g.replace('"', '""') + '"' for g in sorted(set(grams)))
        rows = self.db.execute(
            "SELECT e.id, e.name, e.type, e.mentions, a.norm FROM kg_aliases_fts f "
            "JOIN kg_aliases a ON a.rowid = f.rowid JOIN kg_entities e ON e.id = a.entity_id "
            "WHERE kg_aliases_fts MATCH ? ORDER BY bm25(kg_aliases_fts) LIMIT 20", [query]).fetchall()
        best: tuple[float, Candidate] | None = None
        for entity_id, name, entity_type, mentions, alias_norm in rows:
            if {entity_type, type_} == {"PERSON", "PLACE"}:
                continue
            threshold = FUZZY_THRESHOLD
            if "PERSON" in (type_, entity_type) or not compatible(entity_type, type_):
                # persons (or a type mix-up): only multi-word names, and very close ("Jon Smith" / "John Smith")
                if len(norm.split()) < 2 or len(alias_norm.split()) < 2:
                    continue
                threshold = PERSON_FUZZY_THRESHOLD
            score = similarity(norm, alias_norm)
            if score >= threshold and (best is None or score > best[0]):
                best = (score, Candidate(entity_id, name, entity_type, mentions))
        if best is None:
            return None
        if self.confirm is not None and not self.confirm(norm, best[1].name):
            return None
        return best[1].id
