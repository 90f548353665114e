"""Pick the torch device: CUDA, then Apple MPS, then CPU (for the embedding model and the backends)."""

from __future__ import annotations

from memory.errors import ModelLoadError


def autodetect_device() -> str:
    """The best available torch device type."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_device(requested: str) -> str:
    """``auto`` becomes the best device; an explicit one is checked to exist."""
    if requested == "auto":
        return autodetect_device()
    if requested == "cpu":
        return "cpu"
    import torch

    available = {
        "cuda": torch.cuda.is_available(),
        "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
    }
    if not available.get(requested, False):
        raise ModelLoadError(f"device '{requested}' is not available here; use --device auto or cpu")
    return requested


def cuda_available() -> bool:
    """True when torch sees a CUDA GPU (False if torch is missing)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
