"""Search latency and index memory at 10k / 100k / 1M stored items, and ingestion throughput.

    python bench/bench_memory_scale.py latency [--sizes 10000,100000,1000000] [--queries 100]
    python bench/bench_memory_scale.py ingest [--mb 5]

latency: items are realistic-looking chat turns whose vectors are real MiniLM embeddings of
2,000 template sentences plus noise (embedding a million texts on 2 cores would take hours);
queries are real questions embedded at query time, timed end to end through hybrid search
(query embedding + FAISS + FTS5 + fusion + MMR), and FAISS alone.
ingest: a generated Markdown book is loaded through memchat's pipeline (parse, chunk, embed,
store, index) and compared with the bare embedding model on the same chunk texts, in one run.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memory.db import open_database  # noqa: E402
from memory.embeddings import Embedder  # noqa: E402
from memory.retrieval import SearchOptions, search  # noqa: E402
from memory.store import MemoryStore, NewItem  # noqa: E402

SUBJECTS = ["my sister", "Bob", "the landlord", "our team", "the dentist", "my neighbour", "Priya", "the client"]
VERBS = ["mentioned", "asked about", "complained about", "booked", "fixed", "cancelled", "recommended", "bought"]
OBJECTS = ["the flight to Lisbon", "a new laptop", "the leaking tap", "the quarterly report", "a pottery class",
           "the car insurance", "a birthday cake", "the server migration", "concert tickets", "a vet appointment",
           "the garden fence", "a chess tournament", "the tax return", "a hiking trip", "the wifi router"]
QUERIES = ["When is the flight to Lisbon?", "What happened with the leaking tap?", "Who recommended a pottery class?",
           "Did anyone fix the wifi router?", "What about the car insurance?", "Who bought concert tickets?",
           "Tell me about the server migration", "What did the dentist say?", "Any news on the tax return?",
           "Who cancelled the hiking trip?"]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(store: MemoryStore, size: int, rng: random.Random) -> None:
    sentences = [f"{s} {v} {o}" for s in SUBJECTS for v in VERBS for o in OBJECTS]
    rng.shuffle(sentences)
    sentences = sentences[:2000]
    base = store.embedder.encode(sentences)
    noise_rng = np.random.default_rng(0)
    batch = 20_000
    with store.db.conn:
        for start in range(0, size, batch):
            n = min(batch, size - start)
            picks = noise_rng.integers(0, len(sentences), n)
            vectors = base[picks] + 0.25 * noise_rng.standard_normal((n, base.shape[1])).astype(np.float32) / 20
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            items = [NewItem(kind="chat", text=f"User: {sentences[p]} (note {start + i})",
                             key_text=f"[2025-01-{1 + (start + i) % 28:02d}] User: {sentences[p]} (note {start + i})",
                             source="session:bench", occurred_at=f"2025-01-{1 + (start + i) % 28:02d}T10:00:00+00:00",
                             session_id=f"s{(start + i) // 20}") for i, p in enumerate(picks)]
            store.insert(items, vectors)


def latency(sizes: list[int], queries: int) -> None:
    embedder = Embedder()
    print("| items | index | build s | index MB | hybrid p50 ms | hybrid p95 ms | FAISS p50 ms | FAISS p95 ms | RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            data = Path(tmp)
            store = MemoryStore(open_database(data), data, embedder)
            started = time.perf_counter()
            build(store, size, random.Random(size))
            store.sync_index()
            store.save_index()
            built = time.perf_counter() - started
            index_mb = store.index.path.stat().st_size / 1e6
            hybrid, dense = [], []
            vectors = embedder.encode(QUERIES)
            for q in range(queries):
                text = QUERIES[q % len(QUERIES)]
                t0 = time.perf_counter()
                search(store, text, SearchOptions(k=10))
                hybrid.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                store.index.search(vectors[q % len(QUERIES)], 10)
                dense.append(time.perf_counter() - t0)
            kind = "IVF" if store.index.is_approximate else "flat"
            print(f"| {size:,} | {kind} | {built:.0f} | {index_mb:.0f} | {pct(hybrid, 50):.1f} | {pct(hybrid, 95):.1f} | "
                  f"{pct(dense, 50):.2f} | {pct(dense, 95):.2f} | {rss_mb():.0f} |", flush=True)
            store.db.conn.close()


def pct(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000


def ingest(megabytes: float) -> None:
    from memory.chunking import chunk_sections
    from memory.documents import CHUNK_TOKENS, OVERLAP_TOKENS, load_document
    from memory.loaders import iter_sections

    embedder = Embedder()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        book = data / "book.md"
        with book.open("w") as handle:
            chapter = 0
            while handle.tell() < megabytes * 1e6:
                chapter += 1
                handle.write(f"\n## Chapter {chapter}\n\n")
                for _ in range(12):
                    words = [rng.choice(SUBJECTS + VERBS + OBJECTS) for _ in range(rng.randint(25, 60))]
                    handle.write(" ".join(words).capitalize() + ". " + " ".join(words[:10]) + ".\n\n")
        chunks = list(chunk_sections(iter_sections(book), embedder.count_tokens, CHUNK_TOKENS, OVERLAP_TOKENS))
        texts = [c.text for c in chunks]
        tokens = sum(c.tokens for c in chunks)
        embedder.encode(texts[:64])  # warm up
        t0 = time.perf_counter()
        embedder.encode(texts)
        bare = time.perf_counter() - t0
        store = MemoryStore(open_database(data / "d"), data / "d", embedder)
        t0 = time.perf_counter()
        outcome = load_document(store, book)
        full = time.perf_counter() - t0
    size = book.stat().st_size if book.exists() else megabytes * 1e6
    print(f"document: {megabytes:.1f} MB Markdown, {outcome.chunks} chunks, {tokens:,} tokens")
    print("| pipeline | seconds | chunks/s | tokens/s | × bare |")
    print("|---|---|---|---|---|")
    print(f"| bare embedding model (same chunk texts) | {bare:.1f} | {len(texts) / bare:.0f} | {tokens / bare:,.0f} | 1.00 |")
    print(f"| memchat load (parse, chunk, embed, store, index) | {full:.1f} | {outcome.chunks / full:.0f} | "
          f"{tokens / full:,.0f} | {full / bare:.2f} |")
    del size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--sizes", default="10000,100000,1000000")
    lat.add_argument("--queries", type=int, default=100)
    ing = sub.add_parser("ingest")
    ing.add_argument("--mb", type=float, default=5.0)
    args = parser.parse_args()
    if args.what == "latency":
        latency([int(s) for s in args.sizes.split(",")], args.queries)
    else:
        ingest(args.mb)


if __name__ == "__main__":
    main()
