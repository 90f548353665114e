"""Embedding throughput by runtime (PyTorch, ONNX Runtime float32, ONNX Runtime int8), the
vectors' agreement with PyTorch's, and a document's ingest with each.

    python bench/bench_embedder.py [--mb 0.5] [--runtimes torch,onnx,onnx-int8] [--repeats 2]

Chunks are those ``memchat load`` makes of the Markdown book that ``bench_memory_scale.py
ingest`` generates (≤200 tokens). Each runtime embeds all chunks ``--repeats`` times, the
runtimes interleaved (the machine may be shared); the best pass counts. "cos" compares each
chunk's vector with PyTorch's; "top-10 overlap" is, for 200 chunk texts used as queries
against all chunks stored with PyTorch vectors, the share of PyTorch's own top 10 that the
runtime's query vectors also find (a store embedded with PyTorch, searched with this runtime).
Ingest: ``load_document`` of the same book into a fresh store with each runtime.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.bench_memory_scale import OBJECTS, SUBJECTS, VERBS  # noqa: E402
from memory.embeddings import Embedder  # noqa: E402


def write_book(path: Path, megabytes: float) -> None:
    """The generated book of ``bench_memory_scale.py ingest`` (same seed and vocabulary)."""
    rng = random.Random(1)
    with path.open("w") as handle:
        chapter = 0
        while handle.tell() < megabytes * 1e6:
            chapter += 1
            handle.write(f"\n## Chapter {chapter}\n\n")
            for _ in range(12):
                words = [rng.choice(SUBJECTS + VERBS + OBJECTS) for _ in range(rng.randint(25, 60))]
                handle.write(" ".join(words).capitalize() + ". " + " ".join(words[:10]) + ".\n\n")


def main() -> None:
    from memory.chunking import chunk_sections
    from memory.db import open_database
    from memory.documents import CHUNK_TOKENS, OVERLAP_TOKENS, load_document
    from memory.loaders import iter_sections
    from memory.store import MemoryStore

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=0.5)
    parser.add_argument("--runtimes", default="torch,onnx,onnx-int8")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-ingest", action="store_true")
    args = parser.parse_args()
    runtimes = args.runtimes.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        book = data / "book.md"
        write_book(book, args.mb)
        embedders = {}
        for runtime in runtimes:
            started = time.perf_counter()
            embedders[runtime] = Embedder(runtime=runtime, cache_dir=data / "cache")
            assert embedders[runtime].runtime == runtime, embedders[runtime].runtime
            print(f"{runtime}: ready in {time.perf_counter() - started:.1f} s (ONNX: export included)", flush=True)
        first = embedders[runtimes[0]]
        chunks = list(chunk_sections(iter_sections(book), first.count_tokens, CHUNK_TOKENS, OVERLAP_TOKENS))
        texts = [c.text for c in chunks]
        tokens = sum(c.tokens for c in chunks)
        print(f"book {args.mb} MB: {len(texts)} chunks, {tokens:,} tokens; load average {os.getloadavg()[0]:.1f}")
        best: dict[str, float] = {}
        vectors: dict[str, np.ndarray] = {}
        for runtime, embedder in embedders.items():
            embedder.encode(texts[:32])  # warm up
        for _ in range(args.repeats):
            for runtime, embedder in embedders.items():
                t0 = time.perf_counter()
                vectors[runtime] = embedder.encode(texts)
                best[runtime] = min(best.get(runtime, float("inf")), time.perf_counter() - t0)
        reference = vectors.get("torch")
        queries = random.Random(3).sample(range(len(texts)), min(200, len(texts)))
        truth = None if reference is None else np.argsort(-(reference[queries] @ reference.T), axis=1)[:, :10]
        ingest: dict[str, float] = {}
        if not args.no_ingest:
            for runtime, embedder in embedders.items():
                store_dir = data / f"store-{runtime}"
                store = MemoryStore(open_database(store_dir), store_dir, embedder)
                t0 = time.perf_counter()
                load_document(store, book)
                ingest[runtime] = time.perf_counter() - t0
                store.db.conn.close()
        base = best.get("torch")
        print("| runtime | seconds | chunks/s | tokens/s | × torch | cos to torch (mean / min) | top-10 overlap "
              "vs torch store | ingest s | ingest chunks/s |")
        print("|---|---|---|---|---|---|---|---|---|")
        for runtime in runtimes:
            seconds = best[runtime]
            if reference is not None:
                cos = (vectors[runtime] * reference).sum(axis=1)
                found = np.argsort(-(vectors[runtime][queries] @ reference.T), axis=1)[:, :10]
                overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
                agreement = f"{cos.mean():.4f} / {cos.min():.4f} | {overlap:.3f}"
            else:
                agreement = "— | —"
            speedup = f"{base / seconds:.2f}" if base else "—"
            load = f"{ingest[runtime]:.1f} | {len(texts) / ingest[runtime]:.0f}" if runtime in ingest else "— | —"
            print(f"| {runtime} | {seconds:.1f} | {len(texts) / seconds:.1f} | {tokens / seconds:,.0f} | {speedup} | "
                  f"{agreement} | {load} |", flush=True)
        print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
