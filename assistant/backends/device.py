"""The torch device choice, shared with the embedding model (it lives in ``memory.device``)."""

from memory.device import autodetect_device, cuda_available, resolve_device

__all__ = ["autodetect_device", "cuda_available", "resolve_device"]
