"""The FAISS index: a derived, rebuildable accelerator for the embeddings kept in SQLite.

Index type by size: below ``APPROX_THRESHOLD`` vectors an exact ``IndexFlatIP`` in an
``IndexIDMap2`` (brute force over 50k × 384 floats is a few milliseconds, perfect recall, no
training); above it an ``IndexIVFScalarQuantizer`` with 8-bit codes of the residuals
(``ivf-sq8``: inverted lists trained on the data, ``nprobe`` lists scanned per query, one byte
per dimension, so a million 384-d vectors take ~0.4 GB instead of 1.5 GB as float32), which
keeps search in milliseconds, supports removing ids and carries FAISS ids = SQLite row ids
itself. SQLite keeps the exact float32 vectors; the index is only an accelerator, and a
quantized one re-ranks its candidates by those exact vectors (``exact``), so recall@10
against exact search stays ~1 on near-duplicate-heavy data where 8-bit scores alone gave 0.96.

The file on disk may lag behind SQLite (it is saved after batches, not after every chat turn);
a sidecar JSON records what it holds (model, kind, ids, and the file's size and CRC-32), and
``sync`` catches up or rebuilds from SQLite. ``load`` refuses a file that is damaged, of an
older format, or built with another embedding model or quantization, and says why in
``problem``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import faiss
import numpy as np
from filelock import FileLock

log = logging.getLogger(__name__)

APPROX_THRESHOLD = 50_000
IVF_NPROBE = 24
TRAIN_POINTS_PER_LIST = 40  # FAISS wants >= 39 training points per inverted list
REFINE_FACTOR = 3  # ivf-sq8: fetch k × this many by 8-bit scores, re-rank them by the exact vectors
FORMAT = 2  # the sidecar's layout; 1 (no "format" key) was float32 IVF without checksums

FLAT = "flat"  # exact, float32
IVF_SQ8 = "ivf-sq8"  # inverted lists, 8-bit scalar-quantized residuals
KINDS = (FLAT, IVF_SQ8)


@dataclass(frozen=True)
class IndexState:
    """What the index holds, compared against SQLite to detect staleness."""

    model: str
    dim: int
    count: int
    max_id: int
    id_sum: int
    kind: str = FLAT


def kind_for(count: int) -> str:
    """The index kind memchat builds for ``count`` vectors."""
    return FLAT if count < APPROX_THRESHOLD else IVF_SQ8


def kind_of(index: faiss.Index) -> str:
    """Name the structure of a FAISS index ('flat', 'ivf-sq8', or a description of anything else)."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap):
        index = faiss.downcast_index(index.index)
    if isinstance(index, faiss.IndexFlat):
        return FLAT
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return IVF_SQ8 if index.sq.qtype == faiss.ScalarQuantizer.QT_8bit else f"ivf-sq(qtype {index.sq.qtype})"
    return type(index).__name__


def _nlist(count: int) -> int:
    """Inverted lists for ``count`` vectors: 4·√n, fewer when there are too few to train them."""
    return max(1, min(int(4 * math.sqrt(count)), count // TRAIN_POINTS_PER_LIST))


def _build(dim: int, expected: int) -> faiss.Index:
    if kind_for(expected) == FLAT:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    nlist = _nlist(expected)
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                        faiss.METRIC_INNER_PRODUCT)
    ivf.nprobe = IVF_NPROBE
    return ivf


def _file_crc(path: Path) -> int:
    crc = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            crc = zlib.crc32(block, crc)
    return crc


class VectorIndex:
    """An id-carrying FAISS index persisted at ``path`` (+ ``path.json`` for its state)."""

    def __init__(self, path: Path, model: str, dim: int,
                 exact: Callable[[list[int]], dict[int, np.ndarray]] | None = None):
        """``exact``: the float32 vectors of given ids (from SQLite), to re-rank quantized hits."""
        self.path = path
        self.exact = exact
        self.meta_path = path.with_suffix(path.suffix + ".json")
        self.lock = FileLock(str(path) + ".lock")
        self.model, self.dim = model, dim
        self.index: faiss.Index = _build(dim, 0)
        self.state = IndexState(model, dim, 0, 0, 0)
        self.problem: str | None = None  # why the last ``load`` refused the saved index

    @property
    def kind(self) -> str:
        return kind_of(self.index)

    @property
    def is_approximate(self) -> bool:
        return self.kind != FLAT

    def load(self) -> bool:
        """Read the saved index. False (and an empty index) when it is missing, damaged, of an
        older format, or built with another model or quantization; ``problem`` then says which,
        in the one-line warning logged too (None when there was simply nothing saved). The
        store then rebuilds it from SQLite."""
        self.problem = None
        if not self.path.exists() and not self.meta_path.exists():
            return False
        with self.lock:
            problem, loaded = self._read()
        if problem is not None:
            self.problem = problem
            log.warning("the memory index %s %s; it is rebuilt from SQLite", self.path, problem)
            return False
        self.index, self.state = loaded
        return True

    def _read(self) -> tuple[str | None, tuple[faiss.Index, IndexState] | None]:
        try:
            meta = json.loads(self.meta_path.read_text())
        except (OSError, ValueError) as exc:
            return f"has an unreadable state file ({type(exc).__name__})", None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            return f"is from an older memchat (format {meta.get('format', 1) if isinstance(meta, dict) else '?'})", None
        try:
            state = IndexState(**{f.name: meta[f.name] for f in fields(IndexState)})
        except (KeyError, TypeError):
            return "has a damaged state file", None
        if state.model != self.model or state.dim != self.dim:
            return f"was built with another embedding model ({state.model}, {state.dim}-d)", None
        if state.kind not in KINDS:
            return f"was built with another quantization ({state.kind})", None
        try:
            size = self.path.stat().st_size
        except OSError:
            return "is missing", None
        if size != meta.get("file_bytes") or _file_crc(self.path) != meta.get("file_crc32"):
            return "is damaged (its size or checksum does not match)", None
        try:
            index = faiss.read_index(str(self.path))
        except RuntimeError:
            return "is damaged (FAISS cannot read it)", None
        if kind_of(index) != state.kind:
            return f"was built with another quantization ({kind_of(index)}, recorded as {state.kind})", None
        if index.d != self.dim or index.ntotal != state.count:
            return "is damaged (its size does not match its state)", None
        if state.kind == IVF_SQ8:
            faiss.downcast_index(index).nprobe = IVF_NPROBE
        return None, (index, state)

    def save(self) -> None:
        """Write atomically (temp file + rename) under a file lock, then the state sidecar."""
        with self.lock:
            tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
            faiss.write_index(self.index, str(tmp))
            meta = {**asdict(self.state), "format": FORMAT, "file_bytes": tmp.stat().st_size,
                    "file_crc32": _file_crc(tmp)}
            os.replace(tmp, self.path)
            meta_tmp = self.meta_path.with_name(self.meta_path.name + f".tmp{os.getpid()}")
            meta_tmp.write_text(json.dumps(meta))
            os.replace(meta_tmp, self.meta_path)

    def rebuild(self, total: int, batches: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]) -> None:
        """Build a fresh index of the right kind from (ids, vectors) batches."""
        index = _build(self.dim, total)
        if isinstance(index, faiss.IndexIVF):
            sample = _training_sample(batches(), TRAIN_POINTS_PER_LIST * index.nlist)
            index.train(sample)
        self.index = index
        self.state = IndexState(self.model, self.dim, 0, 0, 0, kind_of(index))
        for ids, vectors in batches():
            self.add(ids, vectors)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
        self.state = IndexState(
            self.model, self.dim, self.state.count + len(ids), max(self.state.max_id, int(ids.max())),
            self.state.id_sum + int(ids.sum()), self.state.kind,
        )

    def remove(self, ids: list[int]) -> None:
        if not ids:
            return
        removed = self.index.remove_ids(np.asarray(ids, dtype=np.int64))
        # an id that was not there leaves the sum unknowable: -1 makes the next sync rebuild
        id_sum = self.state.id_sum - sum(ids) if removed == len(ids) else -1
        self.state = IndexState(self.model, self.dim, self.index.ntotal, self.state.max_id, id_sum, self.state.kind)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top-k (id, cosine) pairs for one query vector. A quantized index fetches ``REFINE_FACTOR``
        × k by its 8-bit scores and, given ``exact``, re-ranks them by the exact cosines (near-ties
        between near-duplicates are where 8 bits alone lose recall)."""
        if self.index.ntotal == 0 or k <= 0:
            return []
        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        refine = self.exact is not None and self.is_approximate
        scores, ids = self.index.search(query, min(k * REFINE_FACTOR if refine else k, self.index.ntotal))
        hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        if not refine or not hits:
            return hits
        vectors = self.exact([i for i, _ in hits])
        rescored = [(i, float(vectors[i] @ query[0])) for i, _ in hits if i in vectors]
        rescored.sort(key=lambda hit: -hit[1])
        return rescored[:k]

    def needs_retype(self) -> bool:
        """True when the index kind no longer suits its size (crossed the threshold, or grew ~4× past
        what its lists were trained for)."""
        if not self.is_approximate:
            return self.state.count >= APPROX_THRESHOLD
        return _nlist(self.state.count) > 2 * faiss.downcast_index(self.index).nlist


def _training_sample(batches: Iterator[tuple[np.ndarray, np.ndarray]], limit: int) -> np.ndarray:
    parts, have = [], 0
    for _, vectors in batches:
        parts.append(vectors[: limit - have])
        have += len(parts[-1])
        if have >= limit:
            break
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
