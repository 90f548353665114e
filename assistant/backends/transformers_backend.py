"""transformers backend: any causal LM from a directory, a GGUF file or the local HF cache.

Runs on CUDA (bf16, SDPA or FlashAttention-2 when installed), Apple MPS (fp16) or CPU (fp32).
``generate`` runs in a background thread and feeds a fresh ``TextIteratorStreamer`` per
request; a ``StoppingCriteria`` watching the cancel event stops it at the next token.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Iterator
from typing import Any

from assistant.backends.base import Backend, ChatMessage, GenerationParams, LongContext, ModelInfo, common_prefix
from assistant.backends.device import resolve_device
from assistant.backends.model_source import ModelSource
from assistant.backends.templating import plain_chat_prompt
from assistant.errors import BackendError, ModelLoadError

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 2048  # only when the config names no context length at all
CAUSAL_ARCHITECTURE_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")


def _context_length(config: Any) -> int:
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_CONTEXT


def apply_rope_scaling(config: Any, options: LongContext) -> None:
    """Stretch the model's RoPE to ``rope_factor`` × its trained context (linear or YaRN)."""
    if options.rope_scaling == "none" or options.rope_factor <= 1:
        return
    original = _context_length(config)
    settings = {"rope_type": options.rope_scaling, "factor": options.rope_factor,
                "original_max_position_embeddings": original}
    if hasattr(config, "rope_parameters"):  # transformers 5
        config.rope_parameters = {**(config.rope_parameters or {}), **settings}
    else:
        config.rope_scaling = settings
    config.max_position_embeddings = int(original * options.rope_factor)


def _fp8_cache_available() -> bool:
    """Whether this transformers has the 8-bit (fp8, per-tensor) quantized cache."""
    import transformers.cache_utils

    return hasattr(transformers.cache_utils, "Fp8QuantizedLayer")


def quantized_cache_config(kv_cache_type: str) -> dict[str, Any] | None:
    """transformers' ``cache_config`` for a quantized key/value cache (None: a plain one).

    optimum-quanto quantizes the cache to 2 or 4 bits only, so ``q4_0`` is quanto's 4 bits and
    ``q8_0`` is an 8-bit cache: transformers' own fp8 one, else HQQ's 8 bits; with neither it is
    refused in one line rather than failing every answer."""
    if kv_cache_type == "q4_0":
        if importlib.util.find_spec("optimum") is None or importlib.util.find_spec("optimum.quanto") is None:
            raise ModelLoadError("kv_cache_type q4_0 with the transformers backend needs the optimum-quanto "
                                 "package (`pip install optimum-quanto`), or use llama.cpp")
        return {"backend": "quanto", "nbits": 4}
    if kv_cache_type == "q8_0":
        if _fp8_cache_available():
            return {"backend": "fp8"}
        if importlib.util.find_spec("hqq") is not None:
            return {"backend": "hqq", "nbits": 8}
        raise ModelLoadError("kv_cache_type q8_0 needs an 8-bit cache, which this transformers lacks (optimum-quanto "
                             "quantizes to 2 or 4 bits only): upgrade transformers, install hqq "
                             "(`pip install hqq`), set kv_cache_type = \"q4_0\", or use llama.cpp")
    return None


class TransformersBackend(Backend):
    """A Hugging Face causal LM run with PyTorch."""

    name = "transformers"

    def __init__(
        self,
        source: ModelSource,
        *,
        device: str = "auto",
        context_length: int | None = None,
        threads: int | None = None,
        long_context: LongContext | None = None,
    ):
        self._source = source
        self._long = long_context or LongContext()
        self._cache: Any = None  # the key/value cache of the last prompt (+ answer), for prefix reuse
        self._quantized: dict[str, Any] | None = None  # the quantized cache's config, when one is asked for
        self._cache_ids: list[int] = []
        self._device_request = device
        self._requested_context = context_length
        self._threads = threads
        self._model = None
        self._tokenizer = None
        self._info: ModelInfo | None = None
        self._lock = threading.Lock()

    @property
    def prefix_reuse(self) -> bool:
        """Whether the key/value cache of a prompt's shared prefix is reused from turn to turn
        (not with a quantized cache: transformers cannot cut one back)."""
        return self._long.prefix_cache and self._quantized is None

    def _load_kwargs(self) -> tuple[str, dict[str, Any]]:
        if self._source.kind == "gguf":
            path = self._source.path
            return str(path.parent), {"gguf_file": path.name}
        return self._source.location, {}

    def load(self) -> ModelInfo:
        import torch
        import transformers
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        self._quantized = quantized_cache_config(self._long.kv_cache_type)  # refused before any weight loads
        if self._quantized is not None and self._long.prefix_cache:
            log.warning("kv_cache_type %s on transformers: a quantized cache cannot be cut back to a shared "
                        "prefix, so each prompt is computed whole (prefix reuse is off)", self._long.kv_cache_type)
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        if self._threads:
            torch.set_num_threads(self._threads)
        device = resolve_device(self._device_request)
        dtype = {"cuda": torch.bfloat16, "mps": torch.float16}.get(device, torch.float32)
        where, extra = self._load_kwargs()
        common = {"local_files_only": True, **extra}
        try:
            config = AutoConfig.from_pretrained(where, **common)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read the model config at {self._source.location}: {exc}") from exc
        trained_context = _context_length(config)
        apply_rope_scaling(config, self._long)
        architectures = list(getattr(config, "architectures", None) or [])
        if architectures and not any(a.endswith(CAUSAL_ARCHITECTURE_SUFFIXES) for a in architectures):
            raise self._not_causal(architectures)
        model_kwargs: dict[str, Any] = {"dtype": dtype}
        if device == "cuda":
            flash = importlib.util.find_spec("flash_attn") is not None
            model_kwargs["attn_implementation"] = "flash_attention_2" if flash else "sdpa"
        try:
            model = AutoModelForCausalLM.from_pretrained(where, config=config, **common, **model_kwargs)
        except ValueError as exc:
            raise self._not_causal(architectures or [type(config).__name__]) from exc
        except OSError as exc:
            raise ModelLoadError(f"cannot load weights from {self._source.location}: {exc}") from exc
        try:
            tokenizer = AutoTokenizer.from_pretrained(where, **common)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the tokenizer of {self._source.label}: {exc}") from exc
        model.to(device)
        model.eval()
        self._model, self._tokenizer = model, tokenizer
        stretched = int(trained_context * self._long.rope_factor) if self._long.rope_scaling != "none" else None
        context = self._requested_context or stretched or _context_length(model.config)
        self._info = ModelInfo(self.name, self._source.label, device, context)
        return self._info

    def _not_causal(self, architectures: list[str]) -> ModelLoadError:
        return ModelLoadError(
            f"{self._source.label} is not a causal language model ({', '.join(architectures)}); "
            "pass a decoder model such as a *ForCausalLM checkpoint"
        )

    def count_tokens(self, text: str) -> int:
        return len(self._require()[1].encode(text, add_special_tokens=False))

    def apply_chat_template(self, messages: list[ChatMessage]) -> str:
        tokenizer = self._require()[1]
        if not getattr(tokenizer, "chat_template", None):
            return plain_chat_prompt(messages)
        return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def stream(
        self,
        messages: list[ChatMessage],
        params: GenerationParams,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        model, tokenizer = self._require()
        abandoned = threading.Event()  # set when the consumer stops reading early

        def stopped() -> bool:
            return abandoned.is_set() or (cancel is not None and cancel.is_set())

        class StopOnCancel(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):  # noqa: ANN001
                return stopped()

        prompt = self.apply_chat_template(messages)
        encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
        room = self.info.context_length - encoded["input_ids"].shape[1]
        if room <= 0:
            raise BackendError(
                f"prompt of {encoded['input_ids'].shape[1]} tokens leaves no room in a "
                f"{self.info.context_length}-token context"
            )
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        sampling = params.temperature > 0
        kwargs: dict[str, Any] = {
            **encoded,
            "streamer": streamer,
            "max_new_tokens": min(params.max_new_tokens, room),
            "do_sample": sampling,
            "repetition_penalty": params.repetition_penalty,
            "stopping_criteria": StoppingCriteriaList([StopOnCancel()]),
            "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        }
        if sampling:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        failure: list[BaseException] = []
        ids = encoded["input_ids"][0].tolist()

        def run() -> None:
            try:
                with torch.inference_mode():
                    if params.seed is not None:
                        torch.manual_seed(params.seed)
                    kwargs.update(self._cache_for(ids))
                    output = model.generate(**kwargs)
                    self._keep_cache(kwargs.get("past_key_values"), output[0].tolist())
            except BaseException as exc:  # surfaced to the caller below
                self._cache, self._cache_ids = None, []
                failure.append(exc)
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=run, name="memchat-generate", daemon=True)
            worker.start()
            finished = False
            try:
                for text in streamer:
                    if text:
                        yield text
                    if stopped():
                        break
                else:
                    finished = True
            finally:
                if not finished:
                    _drain(streamer, abandoned)
                worker.join()
        if failure:
            raise BackendError(f"generation failed: {failure[0]}") from failure[0]

    def _cache_for(self, ids: list[int]) -> dict[str, Any]:
        """generate() arguments for the cache: the last one cut back to what this prompt shares
        with it (its prefix is not computed again), or the kind of new cache the options ask for."""
        from transformers import DynamicCache

        self.last_reused_tokens = 0
        if self._quantized is not None:  # a quantized cache cannot be cut back: no prefix reuse
            return {"cache_implementation": "quantized", "cache_config": dict(self._quantized)}
        if not self._long.prefix_cache:
            return {}
        cache = self._cache
        shared = min(common_prefix(self._cache_ids, ids), len(ids) - 1)  # at least one token to compute
        if isinstance(cache, DynamicCache) and shared > 0:
            surplus = cache.get_seq_length() - shared
            if surplus > 0:
                cache.crop(-surplus)  # negative: remove this many (the form every version accepts)
            self.last_reused_tokens = shared
            return {"past_key_values": cache}
        return {"past_key_values": DynamicCache(config=self._model.config)}

    def _keep_cache(self, cache: Any, sequence: list[int]) -> None:
        if cache is None or not self._long.prefix_cache:
            self._cache, self._cache_ids = None, []
            return
        self._cache, self._cache_ids = cache, sequence[: cache.get_seq_length()]

    def _require(self):
        if self._model is None or self._tokenizer is None:
            raise BackendError("model not loaded yet")
        return self._model, self._tokenizer

    def close(self) -> None:
        self._model = self._tokenizer = self._cache = None


def _drain(streamer: Any, abandoned: threading.Event) -> None:
    """The consumer left early: stop generation and read the streamer to its end."""
    abandoned.set()
    for _ in streamer:  # generate() ends the stream after the stopping criterion fires
        pass
