"""Decoder backends behind one interface, chosen from the settings."""

from __future__ import annotations

from assistant.backends.base import Backend, ChatMessage, GenerationParams, LongContext, ModelInfo
from assistant.config import Settings
from assistant.errors import ConfigError

BACKENDS = ("llamacpp", "transformers", "openai")


def choose_backend(settings: Settings, is_gguf: bool) -> str:
    """``auto``: the server when a base URL is set; llama.cpp for GGUF unless a CUDA GPU
    can't be used by this llama.cpp build; transformers for everything else."""
    if settings.backend != "auto":
        return settings.backend
    if settings.base_url:
        return "openai"
    if not is_gguf:
        return "transformers"
    from assistant.backends.device import cuda_available
    from assistant.backends.llamacpp_backend import llama_supports_gpu

    if settings.device in ("auto", "cuda") and cuda_available() and not llama_supports_gpu():
        return "transformers"
    return "llamacpp"


def create_backend(settings: Settings) -> Backend:
    """An unloaded backend for the configured model; call ``load()`` on it."""
    if settings.backend == "openai" or (settings.backend == "auto" and settings.base_url):
        from assistant.backends.openai_backend import OpenAIBackend

        if not settings.base_url:
            raise ConfigError("--backend openai needs --base-url (e.g. http://localhost:8000/v1)")
        return OpenAIBackend(
            settings.base_url,
            model=settings.model,
            api_key=settings.api_key,
            context_length=settings.context_length,
            timeout=settings.request_timeout,
        )
    from assistant.backends.model_source import resolve_model

    source = resolve_model(settings.model)
    name = choose_backend(settings, source.kind == "gguf")
    if name == "llamacpp":
        from assistant.backends.llamacpp_backend import LlamaCppBackend

        return LlamaCppBackend(source, context_length=settings.context_length, threads=settings.threads,
                               long_context=long_context(settings))
    from assistant.backends.transformers_backend import TransformersBackend

    return TransformersBackend(
        source, device=settings.device, context_length=settings.context_length, threads=settings.threads,
        long_context=long_context(settings),
    )


def long_context(settings: Settings) -> LongContext:
    return LongContext(settings.prefix_cache, settings.rope_scaling, settings.rope_factor, settings.kv_cache_type,
                       settings.state_cache_mb)


def generation_params(settings: Settings) -> GenerationParams:
    """Sampling settings for one answer, from the user's settings."""
    return GenerationParams(
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_new_tokens=settings.max_new_tokens,
        repetition_penalty=settings.repetition_penalty,
        seed=settings.seed,
    )


__all__ = [
    "BACKENDS",
    "Backend",
    "ChatMessage",
    "GenerationParams",
    "ModelInfo",
    "choose_backend",
    "create_backend",
    "generation_params",
]
