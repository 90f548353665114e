"""The FAISS index alone at 100k and 1M vectors: size on disk and in RAM, recall@10 against
exact search, build, open and search time; memchat's index kinds side by side.

    python bench/bench_vector_index.py [--sizes 100000,1000000] [--kinds ivf-flat,ivf-sq8,ivf-sq8+exact]
                                       [--queries 200]

Vectors are drawn as in ``bench_memory_scale.py``: real MiniLM embeddings of 2,000 template
sentences plus noise (so the figures sit next to that benchmark's), without SQLite. Queries:
the ten real questions of ``bench_memory_scale.py`` and fresh noisy draws of the templates.
Exact top-10s come from brute force over the float32 vectors (``faiss.knn``).
``ivf-flat`` is the float32 IVF that memchat built before issue 14; ``ivf-sq8`` is today's
index alone; ``ivf-sq8+exact`` is how memchat searches it: 3 × k candidates by 8-bit scores,
re-ranked by their float32 vectors read from SQLite (a table like ``memory_items``: id, blob).
"RAM MB" is the resident memory that opening the saved file takes in a fresh process (VmRSS
before and after ``VectorIndex.load``), where the searches then run; "open s" includes the
file's checksum. Searches run one query at a time, single-threaded.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sqlite3
import sys
import subprocess
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.bench_memory_scale import OBJECTS, QUERIES, SUBJECTS, VERBS  # noqa: E402
from memory import vector_index  # noqa: E402
from memory.vector_index import VectorIndex  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def templates() -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of the 2,000 template sentences, and of the ten real questions."""
    from memory.embeddings import Embedder

    sentences = [f"{s} {v} {o}" for s in SUBJECTS for v in VERBS for o in OBJECTS]
    random.Random(0).shuffle(sentences)
    embedder = Embedder(runtime="torch")
    return embedder.encode(sentences[:2000]), embedder.encode(QUERIES)


def draw(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` noisy unit vectors around the templates (bench_memory_scale's distribution)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        vectors = base[rng.integers(0, len(base), m)] + 0.25 * rng.standard_normal((m, base.shape[1])).astype(
            np.float32) / 20
        out[start : start + m] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return out


def build_old_ivf_flat(dim: int, n: int) -> faiss.Index:
    """The float32 IVF memchat built before (IndexIDMap2 over IndexIVFFlat, 4·√n lists, nprobe 24)."""
    nlist = int(4 * np.sqrt(n))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.nprobe = vector_index.IVF_NPROBE
    return faiss.IndexIDMap2(ivf)


def measure(kind: str, vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, tmp: Path,
            built: dict[str, tuple[float, float]]) -> str:
    """Build (or reuse: ``ivf-sq8+exact`` searches the ``ivf-sq8`` file) and save, then probe."""
    n, dim = vectors.shape
    ids = np.arange(1, n + 1, dtype=np.int64)
    file_kind = kind.removesuffix("+exact")
    if file_kind not in built:
        index = VectorIndex(tmp / f"{file_kind}.faiss", "bench", dim)

        def batches():
            for start in range(0, n, 50_000):
                yield ids[start : start + 50_000], vectors[start : start + 50_000]

        started = time.perf_counter()
        if kind == "ivf-flat":
            index.index = build_old_ivf_flat(dim, n)
            index.index.train(vector_index._training_sample(batches(), vector_index.TRAIN_POINTS_PER_LIST
                                                            * faiss.downcast_index(index.index.index).nlist))
            index.state = vector_index.IndexState("bench", dim, 0, 0, 0, "ivf-flat")
            for batch_ids, batch in batches():
                index.add(batch_ids, batch)
        else:
            index.rebuild(n, batches)
            assert index.kind == file_kind, index.kind
        seconds = time.perf_counter() - started
        index.save()
        built[file_kind] = (seconds, index.path.stat().st_size / 1e6)
        del index
        gc.collect()
    seconds, disk_mb = built[file_kind]
    np.save(tmp / "queries.npy", queries)
    np.save(tmp / "exact.npy", exact + 1)  # row i is id i + 1
    # open and search in a fresh process, so that RSS counts only what opening the file takes
    result = json.loads(subprocess.run([sys.executable, __file__, "--probe", str(tmp), kind], check=True,
                                       capture_output=True, text=True).stdout.splitlines()[-1])
    opened_s, ram_mb, recall, p50, p95 = (result[k] for k in ("open_s", "ram_mb", "recall", "p50", "p95"))
    return (f"| {n:,} | {kind} | {build_label(kind)} | {seconds:.0f} | {disk_mb:.0f} | {ram_mb:.0f} | "
            f"{opened_s:.2f} | {recall:.3f} | {p50:.2f} | {p95:.2f} |")


def probe(tmp: Path, kind: str) -> None:
    """In a fresh process: open the saved index, then search it; prints one JSON line."""
    queries, exact = np.load(tmp / "queries.npy"), np.load(tmp / "exact.npy")
    faiss.omp_set_num_threads(1)  # one query at a time; on a shared 2-core box OpenMP's waits dominate
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    if kind == "ivf-flat":  # not a kind memchat opens any more: read it plainly
        index = faiss.read_index(str(tmp / "ivf-flat.faiss"))

        def search(q: np.ndarray) -> list[int]:
            return index.search(q.reshape(1, -1), 10)[1][0].tolist()
    else:
        db = sqlite3.connect(tmp / "vectors.db")
        opened = VectorIndex(tmp / f"{kind.removesuffix('+exact')}.faiss", "bench", queries.shape[1],
                             exact=(lambda ids: exact_vectors(db, ids)) if kind.endswith("+exact") else None)
        assert opened.load(), opened.problem

        def search(q: np.ndarray) -> list[int]:
            return [i for i, _ in opened.search(q, 10)]
    opened_s = time.perf_counter() - started
    ram_mb = rss_mb() - before
    times, hits = [], 0
    for q, truth in zip(queries, exact, strict=True):
        t0 = time.perf_counter()
        found = search(q)
        times.append(time.perf_counter() - t0)
        hits += len(set(found) & set(truth.tolist()))
    times.sort()
    print(json.dumps({"open_s": opened_s, "ram_mb": ram_mb, "recall": hits / exact.size,
                      "p50": times[len(times) // 2] * 1000, "p95": times[int(len(times) * 0.95)] * 1000}))


def exact_vectors(db: sqlite3.Connection, ids: list[int]) -> dict[int, np.ndarray]:
    """What ``MemoryStore.embeddings`` does: the float32 blobs of ``ids`` by primary key."""
    rows = db.execute(f"SELECT id, embedding FROM items WHERE id IN ({', '.join('?' * len(ids))})", ids)
    return {row[0]: np.frombuffer(row[1], dtype=np.float32) for row in rows}


def write_sqlite(path: Path, vectors: np.ndarray) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, embedding BLOB)")
    with db:
        for start in range(0, len(vectors), 50_000):
            db.executemany("INSERT INTO items VALUES (?, ?)",
                           ((start + i + 1, v.tobytes()) for i, v in enumerate(vectors[start : start + 50_000])))
    db.close()


def build_label(kind: str) -> str:
    return {"ivf-flat": "float32 (before)", "ivf-sq8": "8-bit codes alone"}.get(kind, "8-bit + exact re-rank")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--kinds", default="ivf-flat,ivf-sq8,ivf-sq8+exact")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(Path(args.probe[0]), args.probe[1])
        return
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    base, real_queries = templates()
    print(f"nprobe {vector_index.IVF_NPROBE}; load average at start {os.getloadavg()[0]:.1f}")
    print("| vectors | index | codes | build s | disk MB | RAM MB | open s | recall@10 vs exact | search p50 ms | "
          "search p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        vectors = draw(base, size, seed=size)
        queries = np.concatenate([real_queries, draw(base, args.queries - len(real_queries), seed=1)])
        _, exact = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            write_sqlite(Path(tmp) / "vectors.db", vectors)
            built: dict[str, tuple[float, float]] = {}
            for kind in args.kinds.split(","):
                print(measure(kind, vectors, queries, exact, Path(tmp), built), flush=True)
        del vectors
        gc.collect()
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
