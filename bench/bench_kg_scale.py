"""Knowledge-graph query latency at scale: 100k entities and 1M relations (default), built
straight into SQLite with memchat's schema, then the queries the CLI, retrieval and prompt
assembly run, each timed over many random entities (p50/p95).

    python bench/bench_kg_scale.py [--entities 100000] [--relations 1000000] [--queries 200]

Subjects follow a Zipf-like law (a few hubs with thousands of facts, a long tail), as in
real conversation and document graphs; a fifth of the statements are superseded ones.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from memory.db import open_database  # noqa: E402
from memory.graph.context import entities_in, facts_for_prompt, items_mentioning  # noqa: E402
from memory.graph.graph import KnowledgeGraph  # noqa: E402
from memory.graph.queries import facts_about, neighbourhood, shortest_path  # noqa: E402
from memory.graph.resolve import normalize  # noqa: E402

SYLLABLES = "ka lo mi ra ne to su vi an el or is ur ba de fi go hu ja ke li mo nu pa re si ta ve wo ya ze".split()
TYPES = ["PERSON"] * 5 + ["ORG"] * 2 + ["PLACE"] * 2 + ["PRODUCT"]
PREDICATES = ["lives_in", "works_at", "has_friend", "has_sister", "likes", "visit", "created", "located_in",
              "member_of", "owns", "studies_at", "founded", "leads", "met", "has_colleague"]


def name_for(rng: random.Random, index: int) -> str:
    first = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    last = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()
    return f"{first} {last}{index % 97 if index >= 97 * 97 else ''}".strip()


def build(graph: KnowledgeGraph, entities: int, relations: int, items: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    db = graph.db
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < entities:
        name = name_for(rng, len(names))
        if normalize(name) not in seen:
            seen.add(normalize(name))
            names.append(name)
    when = "2026-01-01T00:00:00+00:00"
    with db.conn:
        db.conn.executemany(
            "INSERT INTO memory_items (id, kind, text, key_text, source, created_at, occurred_at) "
            "VALUES (?, 'chat', 'x', 'x', ?, ?, ?)", ((i, f"session:{i % 500}", when, when) for i in range(1, items + 1)))
        db.conn.executemany(
            "INSERT INTO kg_entities (id, name, type, norm, created_at, mentions) VALUES (?, ?, ?, ?, ?, 0)",
            ((i + 1, n, TYPES[i % len(TYPES)], normalize(n), when) for i, n in enumerate(names)))
        db.conn.executemany("INSERT INTO kg_aliases (entity_id, alias, norm) VALUES (?, ?, ?)",
                            ((i + 1, n, normalize(n)) for i, n in enumerate(names)))
        weights = [1.0 / (rank + 1) ** 0.8 for rank in range(entities)]
        subjects = rng.choices(range(1, entities + 1), weights=weights, k=relations)

        def rows():
            for index, subject in enumerate(subjects):
                obj = rng.randint(1, entities)
                day = f"2025-{1 + index % 12:02d}-{1 + index % 28:02d}"
                ended = f"2026-{1 + index % 12:02d}-01" if index % 5 == 0 else None
                yield (subject, rng.choice(PREDICATES), obj, names[obj - 1], rng.randint(1, items), 0.8, day, day,
                       ended, "", "bench")

        db.conn.executemany(
            "INSERT INTO kg_relations (subject_id, predicate, object_id, object_value, item_id, confidence, "
            "stated_at, valid_from, valid_to, evidence, extractor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
        db.conn.executemany(
            "INSERT INTO kg_mentions (entity_id, item_id, start, end, text, seen_at) VALUES (?, ?, 0, 1, 'x', ?)",
            ((subject, rng.randint(1, items), when) for subject in subjects[: relations // 2]))
    db.execute("ANALYZE")
    return names


def timed(label: str, runs: list[Callable[[], object]]) -> None:
    samples = []
    for run in runs:
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    print(f"| {label} | {len(samples)} | {statistics.median(samples):.2f} | {p95:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--relations", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(Path(tmp))
        graph = KnowledgeGraph(db)
        started = time.perf_counter()
        names = build(graph, args.entities, args.relations, args.items)
        print(f"built {args.entities} entities, {args.relations} relations, {args.relations // 2} mentions in "
              f"{time.perf_counter() - started:.0f}s; database {Path(tmp, 'memchat.db').stat().st_size / 1e6:.0f} MB")
        ids = [rng.randint(1, args.entities) for _ in range(args.queries)]
        hubs = list(range(1, 21))
        pairs = [(rng.randint(1, args.entities), rng.randint(1, args.entities)) for _ in range(args.queries // 4)]
        print("| query | n | p50 ms | p95 ms |")
        print("|---|---|---|---|")
        timed("find by exact name", [lambda i=i: graph.find(names[i - 1]) for i in ids])
        timed("find by misspelt name (trigram FTS)", [lambda i=i: graph.find(names[i - 1][:-1]) for i in ids])
        timed("facts about a random entity", [lambda i=i: facts_about(graph, i) for i in ids])
        timed("facts about a hub (top-20 entity)", [lambda i=i: facts_about(graph, i) for i in hubs * 5])
        timed("neighbourhood depth 1", [lambda i=i: neighbourhood(graph, i, 1) for i in ids])
        timed("neighbourhood depth 2 (max 200 nodes)", [lambda i=i: neighbourhood(graph, i, 2) for i in ids])
        timed("shortest path (max depth 4)", [lambda a=a, b=b: shortest_path(graph, a, b) for a, b in pairs])
        timed("entities by type (top 50)", [lambda t=t: graph.entities(t, 50) for t in TYPES * 10])
        questions = [f"what do you know about {names[i - 1]} and where they work?" for i in ids]
        timed("entities named in a question", [lambda q=q: entities_in(db, q) for q in questions])
        timed("items mentioning them (retrieval)", [lambda q=q: items_mentioning(db, q) for q in questions])
        timed("facts for the prompt", [lambda q=q: facts_for_prompt(graph, q) for q in questions])
        db.conn.close()


if __name__ == "__main__":
    main()
