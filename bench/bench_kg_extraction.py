"""Knowledge-graph extraction quality on a hand-labelled gold set (bench/data/kg_gold.jsonl):
entity and relation precision/recall/F1 and throughput, per extractor and per text style.

    python -m bench.bench_kg_extraction [--extractor spacy|llm|both|oracle] [--limit N]
                                        [--json out.json] [--show-errors] [--by-predicate]
    python -m bench.bench_kg_extraction --validate     # check the gold file and exit

The gold set has one JSON object a line: id, style ("chat" | "document"), speaker ("user" | null),
text, entities [{text, type}], relations [{subject, predicate, object, current}]. Chat lines are
first person as typed to the assistant ("I", "my" -> subject "User"); document lines are prose.

Scoring (micro-averaged over sentences; every sentence's gold and predicted items are sets):
- entities: on normalised text (untyped), and on (normalised text, type) (typed);
- relations: on (normalised subject, predicate, normalised object) ("strict"), and on
  (subject, object) ignoring the predicate ("relaxed"); ``married_to`` is symmetric;
- ``current``: the share of strictly matched relations whose ``current`` flag agrees with gold.
Normalisation: NFKD without accents, casefold, curly quotes made straight, whitespace collapsed,
edge punctuation dropped, a leading "the " and a trailing "'s" dropped (and a leading "a "/"an "
for is_a values).

Labelling conventions of the gold set, beyond those in memory/graph/types.py:
- titles and honorifics are not part of a name ("Mr. Okafor" -> "Okafor"); a second, shorter
  mention of the same entity is its own mention ("Steve Jobs ... Jobs");
- programming languages are LANGUAGE; hospitals, universities, schools and sports teams are ORG;
  buildings, landmarks, rivers and streets are PLACE; awards are not labelled (and avoided);
- is_a only for copular statements ("is a", "was a", "works as", "is described as"), not for
  appositions ("Gabriel García Márquez, the Colombian novelist"); "CEO of"/"runs" -> leads + works_at;
- ``current`` is false for states stated as over: "moved from", "used to", "left", "retired from",
  and simple-past states ("studied at", "worked at", "was a pilot", "owned"); events whose result
  holds stay true ("moved to", "joined", "married", "was born in", "founded");
- relations are only labelled when both ends are named (an unnamed "my mum" yields none), and
  only for what the sentence states, not for what it implies ("visiting from Munich" is no lives_in).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

GOLD_PATH = ROOT / "bench" / "data" / "kg_gold.jsonl"
SELF_NAME = "User"  # memory.graph.types.SELF_NAME; repeated so scoring needs no project import
GOLD_ENTITY_TYPES = frozenset({"PERSON", "ORG", "PLACE", "PRODUCT", "EVENT", "WORK", "GROUP", "LANGUAGE"})
STYLES = ("chat", "document")
SYMMETRIC_PREDICATES = frozenset({"married_to"})

Record = Mapping[str, Any]  # one gold line, or a prediction in the same shape
Triple = tuple[str, str, str]

_EDGE_PUNCT = ".,;:!?\"()[]{}<>`*_"
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"'})


# --------------------------------------------------------------------------- normalisation


def normalize(text: str) -> str:
    """Text for matching: no accents, casefolded, single spaces, no leading "the ", no trailing "'s"."""
    text = unicodedata.normalize("NFKD", text.translate(_QUOTES))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"\s+", " ", text).strip().strip(_EDGE_PUNCT).strip()
    if text.startswith("the "):
        text = text[4:]
    if text.endswith("'s"):
        text = text[:-2]
    return text.strip()


def normalize_value(text: str) -> str:
    """An is_a value: ``normalize`` and no leading indefinite article ("a nurse" -> "nurse")."""
    text = normalize(text)
    for article in ("a ", "an "):
        if text.startswith(article):
            return text[len(article):]
    return text


def normalize_predicate(predicate: str) -> str:
    """Predicates compare casefolded, with spaces and hyphens as "_" ("Travel to" -> "travel_to")."""
    return re.sub(r"[\s\-]+", "_", predicate.strip().casefold())


def relation_key(relation: Record) -> Triple:
    """(subject, predicate, object) normalised for matching; symmetric predicates in sorted order."""
    predicate = normalize_predicate(str(relation["predicate"]))
    subject = normalize(str(relation["subject"]))
    obj = normalize_value(str(relation["object"])) if predicate == "is_a" else normalize(str(relation["object"]))
    if predicate in SYMMETRIC_PREDICATES and obj < subject:
        subject, obj = obj, subject
    return subject, predicate, obj


# --------------------------------------------------------------------------- scoring


@dataclass
class PRF:
    """Micro-averaged counts; precision/recall are 1.0 when there was nothing to get wrong."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        if self.tp + self.fp:
            return self.tp / (self.tp + self.fp)
        return 1.0 if self.fn == 0 else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, gold: set, predicted: set) -> None:
        self.tp += len(gold & predicted)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)

    def to_dict(self) -> dict[str, float | int]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


def entity_keys(entities: Iterable[Record], typed: bool = False) -> set:
    """The matchable set of one sentence's entities: normalised texts, or (text, type) pairs."""
    keys: set = set()
    for entity in entities:
        text = normalize(str(entity["text"]))
        if text:
            keys.add((text, str(entity["type"]).upper()) if typed else text)
    return keys


def relation_keys(relations: Iterable[Record], relaxed: bool = False) -> set:
    """The matchable set of one sentence's relations: triples, or (subject, object) when relaxed."""
    keys: set = set()
    for relation in relations:
        subject, predicate, obj = relation_key(relation)
        keys.add((subject, obj) if relaxed else (subject, predicate, obj))
    return keys


def score_entities(gold: Sequence[Sequence[Record]], predicted: Sequence[Sequence[Record]],
                   typed: bool = False) -> PRF:
    """Micro P/R/F1 of entities, one list of {text, type} per sentence, gold and predicted aligned."""
    return _micro_prf(gold, predicted, lambda entities: entity_keys(entities, typed))


def score_relations(gold: Sequence[Sequence[Record]], predicted: Sequence[Sequence[Record]],
                    relaxed: bool = False) -> PRF:
    """Micro P/R/F1 of relations, one list of {subject, predicate, object} per sentence, aligned."""
    return _micro_prf(gold, predicted, lambda relations: relation_keys(relations, relaxed))


def _micro_prf(gold: Sequence[Sequence[Record]], predicted: Sequence[Sequence[Record]],
               keys: Callable[[Sequence[Record]], set]) -> PRF:
    """Micro P/R/F1 over aligned sentences, each sentence's items matched as the sets ``keys`` makes."""
    _check_aligned(gold, predicted)
    result = PRF()
    for gold_items, predicted_items in zip(gold, predicted, strict=True):
        result.add(keys(gold_items), keys(predicted_items))
    return result


def score_current(gold: Sequence[Sequence[Record]], predicted: Sequence[Sequence[Record]]) -> tuple[int, int]:
    """(agreeing, matched): over strictly matched relations, how many have gold's ``current`` flag.
    A prediction missing the flag counts as current (the Fact default)."""
    _check_aligned(gold, predicted)
    agreeing = matched = 0
    for gold_relations, predicted_relations in zip(gold, predicted, strict=True):
        flags: dict[Triple, bool] = {}
        for relation in predicted_relations:
            flags.setdefault(relation_key(relation), bool(relation.get("current", True)))
        for relation in gold_relations:
            key = relation_key(relation)
            if key in flags:
                matched += 1
                agreeing += flags[key] == bool(relation["current"])
    return agreeing, matched


def score_records(gold: Sequence[Record], predicted: Sequence[Record]) -> dict[str, Any]:
    """All scores for aligned gold and predicted records ({entities, relations} each)."""
    gold_entities = [g["entities"] for g in gold]
    predicted_entities = [p["entities"] for p in predicted]
    gold_relations = [g["relations"] for g in gold]
    predicted_relations = [p["relations"] for p in predicted]
    agreeing, matched = score_current(gold_relations, predicted_relations)
    return {
        "n": len(gold),
        "entities": score_entities(gold_entities, predicted_entities).to_dict(),
        "entities_typed": score_entities(gold_entities, predicted_entities, typed=True).to_dict(),
        "relations": score_relations(gold_relations, predicted_relations).to_dict(),
        "relations_relaxed": score_relations(gold_relations, predicted_relations, relaxed=True).to_dict(),
        "current": {"agreeing": agreeing, "matched": matched,
                    "accuracy": round(agreeing / matched, 4) if matched else None},
    }


def score_by_predicate(gold: Sequence[Record], predicted: Sequence[Record]) -> dict[str, dict[str, Any]]:
    """Strict relation P/R/F1 per predicate (gold's or predicted's), for debugging an extractor."""
    _check_aligned(gold, predicted)
    table: dict[str, PRF] = defaultdict(PRF)
    for g, p in zip(gold, predicted, strict=True):
        gold_keys, predicted_keys = relation_keys(g["relations"]), relation_keys(p["relations"])
        for predicate in {k[1] for k in gold_keys | predicted_keys}:
            table[predicate].add({k for k in gold_keys if k[1] == predicate},
                                 {k for k in predicted_keys if k[1] == predicate})
    return {name: table[name].to_dict() for name in sorted(table, key=lambda n: -(table[n].tp + table[n].fn))}


def sentence_errors(gold: Record, predicted: Record) -> dict[str, list]:
    """False positives and negatives of one sentence: typed entities, strict relations, ``current``."""
    gold_entities, predicted_entities = entity_keys(gold["entities"], True), entity_keys(predicted["entities"], True)
    gold_relations, predicted_relations = relation_keys(gold["relations"]), relation_keys(predicted["relations"])
    flags = {relation_key(r): bool(r.get("current", True)) for r in predicted["relations"]}
    wrong_current = [key for r in gold["relations"] if (key := relation_key(r)) in flags
                     and flags[key] != bool(r["current"])]
    return {
        "entity_fp": sorted(predicted_entities - gold_entities),
        "entity_fn": sorted(gold_entities - predicted_entities),
        "relation_fp": sorted(predicted_relations - gold_relations),
        "relation_fn": sorted(gold_relations - predicted_relations),
        "current_wrong": sorted(wrong_current),
    }


def _check_aligned(gold: Sequence, predicted: Sequence) -> None:
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predictions")


# --------------------------------------------------------------------------- gold set


def load_gold(path: Path | str = GOLD_PATH) -> list[dict[str, Any]]:
    """The gold records; raises ValueError listing every problem ``validate_gold`` finds."""
    records = []
    problems = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            problems.append(f"line {number}: not JSON ({error})")
    problems += validate_gold(records)
    if problems:
        raise ValueError(f"{path}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return records


def validate_gold(records: Sequence[Record]) -> list[str]:
    """Problems in gold records: missing keys, duplicate ids, bad styles/types, entities not in
    the text, relation ends that are neither an entity, "User" (chat only) nor an is_a value."""
    problems: list[str] = []
    seen: set[str] = set()
    for record in records:
        rid = str(record.get("id", "?"))
        missing = {"id", "style", "speaker", "text", "entities", "relations"} - set(record)
        if missing:
            problems.append(f"{rid}: missing {sorted(missing)}")
            continue
        if rid in seen:
            problems.append(f"{rid}: duplicate id")
        seen.add(rid)
        style, speaker, text = record["style"], record["speaker"], record["text"]
        if style not in STYLES:
            problems.append(f"{rid}: style {style!r}")
        if speaker not in ("user", None):
            problems.append(f"{rid}: speaker {speaker!r}")
        names: set[str] = set()
        for entity in record["entities"]:
            if entity.get("type") not in GOLD_ENTITY_TYPES:
                problems.append(f"{rid}: entity {entity.get('text')!r} has type {entity.get('type')!r}")
            if entity.get("text", "") not in text:
                problems.append(f"{rid}: entity {entity.get('text')!r} is not in the text")
            key = normalize(entity.get("text", ""))
            if key in names:
                problems.append(f"{rid}: entity {entity.get('text')!r} listed twice")
            names.add(key)
        keys: set[Triple] = set()
        for relation in record["relations"]:
            if set(relation) != {"subject", "predicate", "object", "current"}:
                problems.append(f"{rid}: relation keys {sorted(relation)}")
                continue
            if not isinstance(relation["current"], bool):
                problems.append(f"{rid}: relation {relation} has a non-boolean current")
            predicate = relation["predicate"]
            if predicate != normalize_predicate(predicate):
                problems.append(f"{rid}: predicate {predicate!r} is not lower_snake_case")
            for end in ("subject", "object"):
                value = relation[end]
                if value == SELF_NAME:
                    if speaker != "user":
                        problems.append(f"{rid}: {SELF_NAME!r} in a text without a user speaker")
                elif end == "object" and predicate == "is_a":
                    if value != value.lower() or value.startswith(("a ", "an ", "the ")):
                        problems.append(f"{rid}: is_a value {value!r} should be lowercase, no article")
                elif normalize(value) not in names:
                    problems.append(f"{rid}: relation {end} {value!r} is not among the entities")
            key = relation_key(relation)
            if key in keys:
                problems.append(f"{rid}: relation {key} listed twice")
            keys.add(key)
    return problems


def select(records: Sequence[Record], limit: int | None) -> list[Record]:
    """The first ``limit`` records taking chat and document lines in turn (all when None)."""
    by_style = [[r for r in records if r["style"] == style] for style in STYLES]
    interleaved = [r for group in _zip_longest(*by_style) for r in group]
    return interleaved if limit is None else interleaved[:limit]


def _zip_longest(*groups: Sequence[Record]) -> Iterable[list[Record]]:
    for i in range(max((len(g) for g in groups), default=0)):
        yield [g[i] for g in groups if i < len(g)]


# --------------------------------------------------------------------------- running extractors


def extraction_to_record(extraction: Any) -> dict[str, list[dict[str, Any]]]:
    """An ``Extraction`` (entities: EntityMention, facts: Fact) in the gold record's shape."""
    return {
        "entities": [{"text": e.text, "type": e.type} for e in extraction.entities],
        "relations": [{"subject": f.subject, "predicate": f.predicate, "object": f.object,
                       "current": getattr(f, "current", True)} for f in extraction.facts],
    }


@dataclass
class Run:
    """One extractor's predictions over the selected gold records, with timings."""

    name: str
    predictions: list[dict[str, Any]]
    load_s: float
    batch_s: float

    @property
    def sentences_per_s(self) -> float:
        return len(self.predictions) / self.batch_s if self.batch_s > 0 else float("inf")


def make_extractor(name: str) -> tuple[Any, Any]:
    """(extractor, backend or None) for "spacy" or "llm"; the LLM one gets the configured backend."""
    from memory.graph.extract import LlmExtractor, SpacyExtractor

    if name == "spacy":
        return SpacyExtractor(), None
    from assistant.backends import create_backend
    from assistant.config import load_settings

    backend = create_backend(load_settings())
    backend.load()
    return LlmExtractor(backend), backend


def run_extractor(name: str, records: Sequence[Record]) -> Run:
    """Predictions of extractor ``name`` ("spacy", "llm" or "oracle": gold itself) for ``records``;
    the batch is timed as a whole after a one-sentence warm-up call."""
    if name == "oracle":
        predictions = [{"entities": list(r["entities"]), "relations": list(r["relations"])} for r in records]
        return Run(name, predictions, 0.0, 0.0)
    from memory.graph.types import TextInput

    started = time.perf_counter()
    extractor, backend = make_extractor(name)
    load_s = time.perf_counter() - started
    try:
        inputs = [TextInput(r["text"], speaker=r["speaker"]) for r in records]
        if inputs:
            extractor.extract_batch(inputs[:1])  # warm-up: lazy loads, caches, first-call costs
        started = time.perf_counter()
        extractions = extractor.extract_batch(inputs)
        batch_s = time.perf_counter() - started
    finally:
        if backend is not None:
            backend.close()
    if len(extractions) != len(inputs):
        raise RuntimeError(f"{name}: extract_batch returned {len(extractions)} results for {len(inputs)} inputs")
    return Run(name, [extraction_to_record(e) for e in extractions], load_s, batch_s)


# --------------------------------------------------------------------------- reporting


def evaluate(run: Run, records: Sequence[Record]) -> list[dict[str, Any]]:
    """Score rows for one run: all sentences, then each style."""
    rows = []
    for style in ("all", *STYLES):
        pairs = [(g, p) for g, p in zip(records, run.predictions, strict=True) if style in ("all", g["style"])]
        if not pairs:
            continue
        row = {"extractor": run.name, "style": style, **score_records([g for g, _ in pairs], [p for _, p in pairs])}
        if style == "all" and run.name != "oracle":
            row["load_s"] = round(run.load_s, 2)
            row["batch_s"] = round(run.batch_s, 3)
            row["sentences_per_s"] = round(run.sentences_per_s, 1)
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One Markdown row per extractor x style (P/R/F1 as 0.00; throughput on the "all" rows)."""
    header = ("| extractor | style | n | ent P | ent R | ent F1 | typed P | typed R | typed F1 "
              "| rel P | rel R | rel F1 | relaxed P | relaxed R | relaxed F1 | current acc | sent/s |")
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for row in rows:
        cells = [row["extractor"], row["style"], str(row["n"])]
        for part in ("entities", "entities_typed", "relations", "relations_relaxed"):
            cells += [f"{row[part][k]:.2f}" for k in ("precision", "recall", "f1")]
        current = row["current"]
        cells.append("—" if current["accuracy"] is None else f"{current['accuracy']:.2f} ({current['matched']})")
        cells.append(f"{row['sentences_per_s']:.1f}" if "sentences_per_s" in row else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_errors(run: Run, records: Sequence[Record]) -> None:
    """False positives/negatives per sentence (only sentences with any)."""
    print(f"\n## Errors: {run.name}")
    for gold, predicted in zip(records, run.predictions, strict=True):
        errors = sentence_errors(gold, predicted)
        if not any(errors.values()):
            continue
        print(f"\n[{gold['id']}] {gold['text']}")
        for label, items in errors.items():
            for item in items:
                print(f"  {label:13} {' | '.join(item)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extractor", choices=("spacy", "llm", "both", "oracle"), default="spacy")
    parser.add_argument("--limit", type=int, default=None, help="first N sentences, chat and document in turn")
    parser.add_argument("--gold", type=Path, default=GOLD_PATH)
    parser.add_argument("--json", type=Path, default=None, help="also write the scores here")
    parser.add_argument("--show-errors", action="store_true", help="false positives/negatives per sentence")
    parser.add_argument("--by-predicate", action="store_true", help="strict relation scores per predicate")
    parser.add_argument("--validate", action="store_true", help="only check the gold file")
    args = parser.parse_args(argv)

    records = load_gold(args.gold)
    if args.validate:
        print(f"{args.gold}: {len(records)} sentences, {sum(len(r['entities']) for r in records)} entities, "
              f"{sum(len(r['relations']) for r in records)} relations: OK")
        return 0
    records = select(records, args.limit)
    names = ["spacy", "llm"] if args.extractor == "both" else [args.extractor]
    rows: list[dict[str, Any]] = []
    by_predicate: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for name in names:
        print(f"running {name} on {len(records)} sentences ...", file=sys.stderr)
        try:
            run = run_extractor(name, records)
        except ModuleNotFoundError as error:
            if error.name not in ("memory.graph.extract", "spacy"):
                raise
            print(f"{name}: cannot run ({error}); --extractor oracle checks the scorer alone", file=sys.stderr)
            return 2
        rows += evaluate(run, records)
        by_predicate[name] = score_by_predicate(records, run.predictions)
        errors[name] = {g["id"]: sentence_errors(g, p) for g, p in zip(records, run.predictions, strict=True)}
        if args.show_errors:
            print_errors(run, records)
        if args.by_predicate:
            print(f"\n## Relations by predicate: {name}\n")
            print("| predicate | gold | pred | P | R | F1 |\n|---|---|---|---|---|---|")
            for predicate, s in by_predicate[name].items():
                print(f"| {predicate} | {s['tp'] + s['fn']} | {s['tp'] + s['fp']} | {s['precision']:.2f} "
                      f"| {s['recall']:.2f} | {s['f1']:.2f} |")
    print()
    print(markdown_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"gold": str(args.gold), "sentences": len(records), "rows": rows,
                                         "by_predicate": by_predicate, "errors": errors},
                                        indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
