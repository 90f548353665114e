"""LLM-based extraction for users who run a capable model: the model is asked for JSON, the
JSON is validated against a schema, a bad answer is retried once with the error, then dropped.

Whatever the model says is checked against the text: an entity whose name is not in the text
is dropped (no hallucinated people), and so is a fact whose ends are not known entities.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from memory.generation import ChatMessage, GenerationParams, TextGenerator
from memory.graph.types import ENTITY_TYPES, SELF_NAME, EntityMention, Extraction, Fact, TextInput

log = logging.getLogger(__name__)

EntityType = Literal["PERSON", "ORG", "PLACE", "PRODUCT", "EVENT", "WORK", "GROUP", "LANGUAGE", "THING"]
PREDICATE = re.compile(r"^[a-z][a-z_]{1,40}$")

INSTRUCTIONS = f"""Extract named entities and facts from the text. Answer with JSON only, no prose:
{{"entities": [{{"name": "...", "type": "PERSON|ORG|PLACE|PRODUCT|EVENT|WORK|GROUP|LANGUAGE"}}],
  "facts": [{{"subject": "...", "predicate": "...", "object": "...", "current": true}}]}}
Rules: names exactly as written in the text. When the speaker says I/me/my, the subject is "{SELF_NAME}".
Predicates in snake_case: lives_in, works_at, studies_at, married_to, born_in, is_a, located_in, founded,
likes, owns, created, leads, has_sister, has_brother, has_friend (has_<role>), or a verb like visit.
"current": false when the text says the fact is over ("moved from", "used to", "left").
If there is nothing, answer {{"entities": [], "facts": []}}."""

EXAMPLE_IN = "Speaker: user\nText: My brother Tom moved from Oslo to Paris and works at Airbus."
EXAMPLE_OUT = json.dumps({
    "entities": [{"name": "Tom", "type": "PERSON"}, {"name": "Oslo", "type": "PLACE"},
                 {"name": "Paris", "type": "PLACE"}, {"name": "Airbus", "type": "ORG"}],
    "facts": [{"subject": SELF_NAME, "predicate": "has_brother", "object": "Tom", "current": True},
              {"subject": "Tom", "predicate": "lives_in", "object": "Oslo", "current": False},
              {"subject": "Tom", "predicate": "lives_in", "object": "Paris", "current": True},
              {"subject": "Tom", "predicate": "works_at", "object": "Airbus", "current": True}]})


class LlmEntity(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    type: EntityType


class LlmFact(BaseModel):
    subject: str = Field(min_length=1, max_length=80)
    predicate: str = Field(pattern=PREDICATE.pattern)
    object: str = Field(min_length=1, max_length=120)
    current: bool = True


class LlmOutput(BaseModel):
    entities: list[LlmEntity] = Field(default_factory=list, max_length=50)
    facts: list[LlmFact] = Field(default_factory=list, max_length=50)


class InvalidOutputError(ValueError):
    """The model's answer is not the JSON asked for."""


def parse_output(raw: str) -> LlmOutput:
    """The first JSON object in the model's answer, validated; InvalidOutputError otherwise."""
    start = raw.find("{")
    if start < 0:
        raise InvalidOutputError("no JSON object in the answer")
    try:
        value, _ = json.JSONDecoder().raw_decode(raw[start:])
        return LlmOutput.model_validate(value)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InvalidOutputError(str(exc).splitlines()[0][:300]) from exc


def grounded(output: LlmOutput, item: TextInput) -> Extraction:
    """Keep what the text supports: entities found in it (with their spans), facts between them."""
    lower = item.text.lower()
    result = Extraction()
    types: dict[str, str] = {}
    for entity in output.entities:
        name = entity.name.strip()
        at = lower.find(name.lower())
        if at < 0 or name.lower() in ("i", "me", "my", SELF_NAME.lower()):
            continue
        if name.lower() in types:
            continue  # the same name twice (small models repeat themselves)
        types[name.lower()] = entity.type
        result.entities.append(EntityMention(item.text[at : at + len(name)], entity.type, at, at + len(name)))
    for fact in output.facts:
        subject, obj = fact.subject.strip(), fact.object.strip()
        if subject == SELF_NAME and item.speaker == "user":
            subject_type = "PERSON"
        elif subject.lower() in types:
            subject_type = types[subject.lower()]
        else:
            continue
        if fact.predicate == "is_a":
            object_type = None
            if obj.lower() not in lower:
                continue
        elif obj.lower() in types:
            object_type = types[obj.lower()]
        else:
            continue
        result.facts.append(Fact(subject, fact.predicate, obj, subject_type, object_type, fact.current,
                                 confidence=0.6, evidence=item.text[:300]))
    return result


class LlmExtractor:
    """Extraction by the chat model itself (slow: one generation per text)."""

    name = "llm"

    def __init__(self, backend: TextGenerator, retries: int = 1, max_new_tokens: int = 384):
        self.backend = backend
        self.retries = retries
        self.params = GenerationParams(temperature=0.0, max_new_tokens=max_new_tokens, repetition_penalty=1.0,
                                       json_schema=json.dumps(LlmOutput.model_json_schema()))
        self.failures = 0  # texts whose every answer was invalid

    def extract_batch(self, inputs: Sequence[TextInput]) -> list[Extraction]:
        return [self.extract_one(item) for item in inputs]

    def extract_one(self, item: TextInput) -> Extraction:
        if not item.text.strip():
            return Extraction()
        messages: list[ChatMessage] = [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": EXAMPLE_IN},
            {"role": "assistant", "content": EXAMPLE_OUT},
            {"role": "user", "content": f"Speaker: {item.speaker or 'document'}\nText: {item.text[:4000]}"},
        ]
        for attempt in range(self.retries + 1):
            raw = "".join(self.backend.stream(messages, self.params))
            try:
                return grounded(parse_output(raw), item)
            except InvalidOutputError as exc:
                log.info("invalid extraction output (attempt %d): %s", attempt + 1, exc)
                messages = messages + [
                    {"role": "assistant", "content": raw[:2000]},
                    {"role": "user", "content": f"That was not valid ({exc}). Answer with the JSON object only."},
                ]
        self.failures += 1
        return Extraction()


def confirm_same(backend: TextGenerator):  # noqa: ANN201 - returns a Confirm
    """An LLM check for fuzzy entity matches: 'are these the same?' answered yes or no."""
    params = GenerationParams(temperature=0.0, max_new_tokens=3, repetition_penalty=1.0)

    def confirm(a: str, b: str) -> bool:
        answer = "".join(backend.stream([
            {"role": "system", "content": "Answer only yes or no."},
            {"role": "user", "content": f'Do "{a}" and "{b}" name the same real-world entity?'},
        ], params))
        return answer.strip().lower().startswith("yes")

    return confirm


assert set(EntityType.__args__) == set(ENTITY_TYPES)  # type: ignore[attr-defined]
