"""The FAISS index with real FAISS: quantized above the threshold, recall against exact search,
and refusal (then a rebuild from SQLite, with a notice) of damaged or foreign index files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import faiss
import numpy as np
import pytest

from memory import vector_index
from memory.db import open_database
from memory.store import MemoryStore, NewItem, SearchFilters
from memory.vector_index import FLAT, IVF_SQ8, VectorIndex

DIM = 64


def clustered(n: int, seed: int = 0, clusters: int = 200) -> np.ndarray:
    """Unit vectors around random centres, like embeddings of texts on a few hundred topics."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, clusters, n)] + 0.35 * rng.standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build(path: Path, vectors: np.ndarray, model: str = "m") -> VectorIndex:
    index = VectorIndex(path, model, vectors.shape[1])
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)

    def batches():
        for start in range(0, len(ids), 5_000):
            yield ids[start : start + 5_000], vectors[start : start + 5_000]

    index.rebuild(len(ids), batches)
    return index


@pytest.fixture()
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vector_index, "APPROX_THRESHOLD", 3)


def test_large_index_is_8bit_quantized_with_recall_against_exact_search(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vector_index, "APPROX_THRESHOLD", 5_000)
    vectors = clustered(40_000)
    index = build(tmp_path / "v.faiss", vectors)
    assert index.kind == IVF_SQ8 and index.is_approximate
    queries = clustered(100, seed=1)
    _, exact = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    found = [{i - 1 for i, _ in index.search(q, 10)} for q in queries]
    recall = np.mean([len(f & set(e)) / 10 for f, e in zip(found, exact, strict=True)])
    assert recall >= 0.97
    index.save()
    flat = faiss.IndexFlatIP(DIM)
    flat.add(vectors)
    faiss.write_index(flat, str(tmp_path / "flat.faiss"))
    assert index.path.stat().st_size < 0.4 * (tmp_path / "flat.faiss").stat().st_size  # 1 byte/dim vs 4


def test_near_duplicates_are_re_ranked_by_the_exact_vectors(tmp_path: Path, small_threshold: None) -> None:
    rng = np.random.default_rng(2)
    topics = clustered(100, seed=3)
    vectors = topics[rng.integers(0, 100, 20_000)] + 0.01 * rng.standard_normal((20_000, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # 200 near-identical items per topic
    queries = topics[:50] + 0.01 * rng.standard_normal((50, DIM)).astype(np.float32)
    _, exact = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    index = build(tmp_path / "v.faiss", vectors)
    assert index.kind == IVF_SQ8

    def recall() -> float:
        return float(np.mean([len({i - 1 for i, _ in index.search(q, 10)} & set(e)) / 10
                              for q, e in zip(queries, exact, strict=True)]))

    alone = recall()
    index.exact = lambda ids: {i: vectors[i - 1] for i in ids}
    refined = recall()
    assert refined >= 0.99 and refined > alone
    hits = index.search(queries[0], 10)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert abs(hits[0][1] - float(vectors[hits[0][0] - 1] @ queries[0])) < 1e-5  # exact cosines come back


def test_a_saved_quantized_index_loads_back_and_removes_ids(tmp_path: Path, small_threshold: None) -> None:
    vectors = clustered(2_000)
    build(tmp_path / "v.faiss", vectors).save()
    again = VectorIndex(tmp_path / "v.faiss", "m", DIM)
    assert again.load() and again.problem is None and again.kind == IVF_SQ8
    assert again.search(vectors[123], 1)[0][0] == 124
    again.remove([124])
    assert again.search(vectors[123], 1)[0][0] != 124 and again.state.count == 1_999


def test_small_indexes_stay_exact(tmp_path: Path) -> None:
    index = build(tmp_path / "v.faiss", clustered(500))
    assert index.kind == FLAT and not index.is_approximate


def _meta(index: VectorIndex) -> dict:
    return json.loads(index.meta_path.read_text())


@pytest.mark.parametrize("damage", ["flipped-bytes", "truncated", "another-model", "another-quantization",
                                    "mislabelled-quantization", "older-format"])
def test_a_damaged_or_foreign_index_file_is_refused_with_a_reason(tmp_path: Path, small_threshold: None,
                                                                  damage: str) -> None:
    vectors = clustered(2_000)
    index = build(tmp_path / "v.faiss", vectors)
    index.save()
    data = bytearray(index.path.read_bytes())
    meta = _meta(index)
    if damage == "flipped-bytes":  # same size, a few code bytes changed
        data[len(data) // 2 : len(data) // 2 + 16] = bytes(255 - b for b in data[len(data) // 2 : len(data) // 2 + 16])
        index.path.write_bytes(bytes(data))
    elif damage == "truncated":
        index.path.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "another-model":
        index.meta_path.write_text(json.dumps({**meta, "model": "another-model"}))
    elif damage in ("another-quantization", "mislabelled-quantization"):
        # a float32 IVF index as earlier memchat versions built, with a sidecar that is otherwise valid
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, 16, faiss.METRIC_INNER_PRODUCT)
        ivf.train(vectors)
        ivf.add_with_ids(vectors, np.arange(1, len(vectors) + 1, dtype=np.int64))
        faiss.write_index(ivf, str(index.path))
        meta.update(file_bytes=index.path.stat().st_size, file_crc32=vector_index._file_crc(index.path))
        if damage == "another-quantization":
            meta["kind"] = "ivf-flat"
        index.meta_path.write_text(json.dumps(meta))
    else:
        meta.pop("format")
        index.meta_path.write_text(json.dumps(meta))
    again = VectorIndex(tmp_path / "v.faiss", "m", DIM)
    assert not again.load()
    assert again.index.ntotal == 0
    expected = {"flipped-bytes": "damaged", "truncated": "damaged", "another-model": "another embedding model",
                "another-quantization": "another quantization", "mislabelled-quantization": "another quantization",
                "older-format": "older memchat"}[damage]
    assert expected in (again.problem or "")


def test_nothing_saved_is_not_a_problem(tmp_path: Path) -> None:
    index = VectorIndex(tmp_path / "v.faiss", "m", DIM)
    assert not index.load() and index.problem is None


FACTS = ["Alice adopted a grey cat called Miso in March.", "Bob is training for the Berlin marathon.",
         "The staging server runs PostgreSQL 15 on port 5433.", "Carol's favourite dessert is pistachio ice cream.",
         "The quarterly budget review moved to Thursday afternoon."]


@pytest.mark.parametrize("damage", ["flipped-bytes", "another-quantization", "another-model"])
def test_the_store_rebuilds_a_refused_index_from_sqlite_with_one_notice(
        memory_store: MemoryStore, small_threshold: None, caplog: pytest.LogCaptureFixture, damage: str) -> None:
    ids = memory_store.add([NewItem(kind="chat", text=t, key_text=t, source="session:s",
                                    occurred_at="2026-05-01T10:00:00+00:00") for t in FACTS])
    memory_store.save_index()
    index = memory_store.index
    assert index.kind == IVF_SQ8
    if damage == "flipped-bytes":
        data = bytearray(index.path.read_bytes())
        data[-40:-20] = bytes(255 - b for b in data[-40:-20])
        index.path.write_bytes(bytes(data))
    else:
        meta = _meta(index)
        meta["kind" if damage == "another-quantization" else "model"] = "ivf-pq16" if damage == \
            "another-quantization" else "paraphrase-MiniLM-L3-v2"
        index.meta_path.write_text(json.dumps(meta))
    data_dir = index.path.parent
    with caplog.at_level(logging.WARNING, logger="memory.vector_index"):
        again = MemoryStore(open_database(data_dir), data_dir, memory_store.embedder)
    notices = [r.getMessage() for r in caplog.records if r.name == "memory.vector_index"]
    assert len(notices) == 1 and "rebuilt from SQLite" in notices[0] and "\n" not in notices[0]
    assert again.index.problem is not None and again.index.problem in notices[0]
    assert again.index.index.ntotal == 5 and again.index.kind == IVF_SQ8
    query = again.embedder.encode(["Which pet does Alice have?"])[0]
    top, score = again.dense(query, 1, SearchFilters())[0]
    assert top == ids[0]
    assert abs(score - float(again.embeddings([top])[top] @ query)) < 1e-5  # re-ranked by the exact vector
    again.save_index()
    caplog.clear()
    third = MemoryStore(open_database(data_dir), data_dir, memory_store.embedder)  # the rebuilt file is good
    assert third.index.problem is None and third.sync_index() == "ok"
    assert not [r for r in caplog.records if r.name == "memory.vector_index"]
