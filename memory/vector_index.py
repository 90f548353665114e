"""The FAISS index: a derived, rebuildable accelerator for the embeddings kept in SQLite.

Index type by size: below ``APPROX_THRESHOLD`` vectors an exact ``IndexFlatIP`` (brute force
over 50k × 384 floats is a few milliseconds, perfect recall, no training); above it an
``IndexIVFFlat`` (inverted lists, trained on the data, ``nprobe`` lists scanned per query),
which keeps search in milliseconds at a million items and, unlike HNSW, supports removing ids.
Both sit in an ``IndexIDMap2`` so FAISS ids are SQLite row ids.

The file on disk may lag behind SQLite (it is saved after batches, not after every chat turn);
a sidecar JSON records what it holds, and ``sync`` catches up or rebuilds from SQLite.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np
from filelock import FileLock

APPROX_THRESHOLD = 50_000
IVF_NPROBE = 24
TRAIN_POINTS_PER_LIST = 40  # FAISS wants >= 39 training points per inverted list


@dataclass(frozen=True)
class IndexState:
    """What the index holds, compared against SQLite to detect staleness."""

    model: str
    dim: int
    count: int
    max_id: int
    id_sum: int


def _build(dim: int, expected: int) -> faiss.Index:
    if expected < APPROX_THRESHOLD:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    nlist = int(4 * math.sqrt(expected))
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.nprobe = IVF_NPROBE
    return faiss.IndexIDMap2(ivf)


class VectorIndex:
    """An id-mapped FAISS index persisted at ``path`` (+ ``path.json`` for its state)."""

    def __init__(self, path: Path, model: str, dim: int):
        self.path = path
        self.meta_path = path.with_suffix(path.suffix + ".json")
        self.lock = FileLock(str(path) + ".lock")
        self.model, self.dim = model, dim
        self.index: faiss.Index = _build(dim, 0)
        self.state = IndexState(model, dim, 0, 0, 0)

    @property
    def is_approximate(self) -> bool:
        return not isinstance(faiss.downcast_index(self.index.index), faiss.IndexFlat)

    def load(self) -> bool:
        """Read the saved index; False (and an empty index) when missing, unreadable or foreign."""
        try:
            state = IndexState(**json.loads(self.meta_path.read_text()))
            index = faiss.read_index(str(self.path))
        except (OSError, ValueError, TypeError, RuntimeError):
            return False
        if (state.model, state.dim) != (self.model, self.dim) or index.d != self.dim or index.ntotal != state.count:
            return False
        self.index, self.state = index, state
        return True

    def save(self) -> None:
        """Write atomically (temp file + rename) under a file lock, then the state sidecar."""
        with self.lock:
            tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
            faiss.write_index(self.index, str(tmp))
            os.replace(tmp, self.path)
            meta_tmp = self.meta_path.with_name(self.meta_path.name + f".tmp{os.getpid()}")
            meta_tmp.write_text(json.dumps(asdict(self.state)))
            os.replace(meta_tmp, self.meta_path)

    def rebuild(self, total: int, batches: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]) -> None:
        """Build a fresh index of the right type from (ids, vectors) batches."""
        index = _build(self.dim, total)
        if not isinstance(faiss.downcast_index(index.index), faiss.IndexFlat):
            nlist = faiss.downcast_index(index.index).nlist
            sample = _training_sample(batches(), TRAIN_POINTS_PER_LIST * nlist)
            index.train(sample)
        self.index = index
        self.state = IndexState(self.model, self.dim, 0, 0, 0)
        for ids, vectors in batches():
            self.add(ids, vectors)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
        self.state = IndexState(
            self.model, self.dim, self.state.count + len(ids), max(self.state.max_id, int(ids.max())),
            self.state.id_sum + int(ids.sum()),
        )

    def remove(self, ids: list[int]) -> None:
        if not ids:
            return
        removed = self.index.remove_ids(np.asarray(ids, dtype=np.int64))
        # an id that was not there leaves the sum unknowable: -1 makes the next sync rebuild
        id_sum = self.state.id_sum - sum(ids) if removed == len(ids) else -1
        self.state = IndexState(self.model, self.dim, self.index.ntotal, self.state.max_id, id_sum)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top-k (id, cosine) pairs for one query vector."""
        if self.index.ntotal == 0 or k <= 0:
            return []
        scores, ids = self.index.search(np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32),
                                        min(k, self.index.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def needs_retype(self) -> bool:
        """True when the index type no longer suits its size (crossed the threshold, or grew 4× past training)."""
        if not self.is_approximate:
            return self.state.count >= APPROX_THRESHOLD
        nlist = faiss.downcast_index(self.index.index).nlist
        return self.state.count > (nlist / 4) ** 2 * 4


def _training_sample(batches: Iterator[tuple[np.ndarray, np.ndarray]], limit: int) -> np.ndarray:
    parts, have = [], 0
    for _, vectors in batches:
        parts.append(vectors[: limit - have])
        have += len(parts[-1])
        if have >= limit:
            break
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
