"""What an extractor returns: entity mentions and facts (subject, predicate, object) for one text."""

from __future__ import annotations

from dataclasses import dataclass, field

# Entity types kept in the graph (spaCy labels are mapped onto these; numbers, money and
# bare dates are not entities: dates are attached to the facts they date instead).
ENTITY_TYPES = ("PERSON", "ORG", "PLACE", "PRODUCT", "EVENT", "WORK", "GROUP", "LANGUAGE", "THING")

# The speaker of a chat message ("I", "my", "me") is this entity.
SELF_NAME = "User"

# Role nouns that name a person through someone else ("my sister", "Alice's boss"). Family and
# social roles become "has_<role>": "my sister Carol" -> (User, has_sister, Carol).
ROLES = frozenset(
    "sister brother mother father mom dad son daughter wife husband partner girlfriend boyfriend friend "
    "colleague coworker boss manager cousin aunt uncle grandmother grandfather grandma grandpa neighbor "
    "neighbour roommate fiancé fiancée fiance fiancee niece nephew mentor mum mother-in-law father-in-law "
    "stepmother stepfather stepson stepdaughter grandson granddaughter".split()
)
ROLE_ALIASES = {"mom": "mother", "mum": "mother", "dad": "father", "grandma": "grandmother", "grandpa": "grandfather",
                "neighbour": "neighbor", "coworker": "colleague", "fiance": "fiancé", "fiancee": "fiancée"}

# Canonical predicates. A relation whose verb is not one of these keeps the verb's lemma,
# with its preposition joined by "_" ("travel_to", "acquire").
FUNCTIONAL_PREDICATES = frozenset({"lives_in", "works_at", "married_to", "studies_at"})
CANONICAL_PREDICATES = frozenset({
    "lives_in", "works_at", "studies_at", "married_to", "born_in", "is_a", "located_in", "founded",
    "member_of", "likes", "dislikes", "owns", "created", "leads",
})


@dataclass(frozen=True)
class TextInput:
    """One text to extract from. ``speaker`` "user" maps first person onto SELF_NAME;
    None (documents) leaves first person alone."""

    text: str
    speaker: str | None = None
    occurred_at: str | None = None  # ISO-8601: when it was said, to date relative phrases


@dataclass(frozen=True)
class EntityMention:
    text: str  # as written
    type: str  # one of ENTITY_TYPES
    start: int  # character span in the input text
    end: int


@dataclass(frozen=True)
class Fact:
    subject: str
    predicate: str
    object: str
    subject_type: str = "THING"
    object_type: str | None = None  # None: a value, not an entity ("a nurse")
    current: bool = True  # False: stated as over ("moved from Lyon", "used to work at")
    valid_from: str | None = None  # ISO date the fact started, when the text dates it
    confidence: float = 0.8
    evidence: str = ""  # the words it came from


@dataclass
class Extraction:
    entities: list[EntityMention] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
