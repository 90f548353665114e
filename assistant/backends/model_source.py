"""Turn the user's ``--model`` value into something a backend can load, offline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from assistant.backends.default_model import DEFAULT_MODEL_LABEL, default_gguf_path
from assistant.errors import ModelLoadError

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelSource:
    """Where a model's weights are: a GGUF file, a local directory, or a cached hub id."""

    kind: Literal["gguf", "directory", "hub_cache"]
    location: str
    label: str

    @property
    def path(self) -> Path:
        return Path(self.location)


def _is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def _in_hub_cache(model_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(model_id, "config.json")
    except Exception:  # an id that is not a valid repo name
        return False
    return isinstance(found, str)


def resolve_model(spec: str | None) -> ModelSource:
    """Find the model named by ``spec`` (None: the embedded default); never downloads."""
    if not spec:
        return ModelSource("gguf", str(default_gguf_path()), DEFAULT_MODEL_LABEL)
    path = Path(spec).expanduser()
    if path.is_file():
        if not _is_gguf(path):
            raise ModelLoadError(
                f"{path} is not a GGUF file; pass a GGUF file or a model directory with config.json"
            )
        return ModelSource("gguf", str(path.resolve()), path.name)
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSource("directory", str(path.resolve()), path.name)
        ggufs = sorted(p for p in path.glob("*.gguf") if _is_gguf(p))
        if len(ggufs) == 1:
            return ModelSource("gguf", str(ggufs[0].resolve()), ggufs[0].name)
        if len(ggufs) > 1:
            names = ", ".join(p.name for p in ggufs)
            raise ModelLoadError(f"{path} holds several GGUF files ({names}); pass one of them")
        raise ModelLoadError(f"{path} has no config.json and no .gguf file; it is not a model directory")
    if "/" in spec and not spec.startswith((".", "/", "~")) and _in_hub_cache(spec):
        return ModelSource("hub_cache", spec, spec)
    raise ModelLoadError(
        f"model '{spec}' not found: not a local GGUF file or model directory, nor a model id "
        "in the local Hugging Face cache (memchat never downloads weights)"
    )
