"""Retrieval quality on the synthetic long-conversation benchmark (bench/longconv.py):
recall@k of the evidence turns for dense-only, lexical-only and hybrid search, by question type.

    python bench/bench_retrieval.py [--sessions 300] [--turns 20] [--graph]

With --graph, the knowledge graph is then extracted from the same turns (its time is
reported next to the import's), every item re-embedded with its facts in its key, and
"hybrid+kg" (facts in keys, plus items that mention an entity the question names) is scored.

A question counts as recalled at k when any of its evidence turns is among the top k hits.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.longconv import generate  # noqa: E402
from memory.db import open_database  # noqa: E402
from memory.embeddings import Embedder  # noqa: E402
from memory.retrieval import SearchOptions, search  # noqa: E402
from memory.sentences import ensure_schema as ensure_sentences  # noqa: E402
from memory.sentences import index_pending as index_sentences  # noqa: E402
from memory.store import MemoryStore  # noqa: E402
from memory.transcripts import import_transcript  # noqa: E402

KS = (1, 5, 10)
MODES = ("dense", "lexical", "hybrid")
GRAPH_MODE = "hybrid+kg"


def _evaluate(store, questions, modes, now, table, latency, use_graph: bool) -> None:  # noqa: ANN001
    for question in questions:
        for mode in modes:
            search_mode = "hybrid" if mode == GRAPH_MODE else mode
            started = time.perf_counter()
            hits = search(store, question["question"],
                          SearchOptions(k=max(KS), mode=search_mode, use_graph=use_graph), now=now)
            latency[mode].append(time.perf_counter() - started)
            found = [h.item.external_id for h in hits]
            for kind in (question["type"], "all"):
                row = table[(mode, kind)]
                row[0] += 1
                for position, k in enumerate(KS, start=1):
                    row[position] += any(e in found[:k] for e in question["evidence"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--graph", action="store_true", help="also score hybrid search with the knowledge graph")
    args = parser.parse_args()
    import json

    lines, questions = generate(args.sessions, args.turns, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        transcript = data / "transcript.jsonl"
        transcript.write_text("".join(json.dumps(line) + "\n" for line in lines))
        store = MemoryStore(open_database(data / "d"), data / "d", Embedder())
        started = time.perf_counter()
        result = import_transcript(store, transcript)
        ensure_sentences(store.db)  # as `memchat import` does: said turns also by their best sentence
        index_sentences(store.db, store.embedder.encode, store.lock)
        import_s = time.perf_counter() - started
        print(f"imported {result.imported} turns in {import_s:.1f}s")
        now = datetime(2026, 1, 1, tzinfo=UTC)  # after the last session
        table: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        latency: dict[str, list[float]] = defaultdict(list)
        _evaluate(store, questions, MODES, now, table, latency, use_graph=False)
        modes = MODES
        if args.graph:
            from memory.graph.graph import KnowledgeGraph
            from memory.graph.pipeline import process_pending
            from memory.graph.spacy_extractor import SpacyExtractor, load_pipeline

            load_pipeline()
            graph = KnowledgeGraph(store.db, store.lock)
            started = time.perf_counter()
            process_pending(graph, SpacyExtractor())
            extract_s = time.perf_counter() - started
            print(f"knowledge extraction: {extract_s:.1f}s ({extract_s / (import_s + extract_s):.0%} of import + "
                  f"extraction); graph: {graph.counts()}")
            store.reembed()
            modes = (*MODES, GRAPH_MODE)
            _evaluate(store, questions, (GRAPH_MODE,), now, table, latency, use_graph=True)
    modes_shown = modes
    kinds = ["all", "single", "paraphrase", "updated", "previous", "temporal"]
    print(f"{len(lines)} turns, {args.sessions} sessions, {len(questions)} questions")
    print("| question type | n | " + " | ".join(f"{m} R@{k}" for m in modes_shown for k in KS) + " |")
    print("|---|---|" + "---|" * (len(modes_shown) * len(KS)))
    for kind in kinds:
        n = table[("hybrid", kind)][0]
        if not n:
            continue
        cells = [f"{table[(m, kind)][i] / n:.2f}" for m in modes_shown for i in range(1, len(KS) + 1)]
        print(f"| {kind} | {n} | " + " | ".join(cells) + " |")
    for mode in modes_shown:
        values = sorted(latency[mode])
        print(f"{mode}: p50 {values[len(values) // 2] * 1000:.1f} ms, p95 {values[int(len(values) * 0.95)] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
