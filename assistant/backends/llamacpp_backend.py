"""llama.cpp backend (llama-cpp-python): the fast path for GGUF models on a CPU.

llama.cpp decodes the embedded Q4_1 SmolLM2 about 5x faster than transformers in fp32 on
a CPU (see bench/RESULTS.md), so ``--backend auto`` picks it for GGUF files unless a CUDA
GPU is there and llama.cpp was built without GPU offload.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from assistant.backends.base import Backend, ChatMessage, GenerationParams, LongContext, ModelInfo, common_prefix
from assistant.backends.model_source import ModelSource
from assistant.backends.templating import plain_chat_prompt
from assistant.errors import BackendError, ModelLoadError


def cpu_has_amx() -> bool:
    """True when the CPU advertises Intel AMX tiles (read from /proc/cpuinfo on Linux)."""
    try:
        return "amx_tile" in Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False


def _no_extra_bufts_params(original):
    def params_without_extra_bufts():
        params = original()
        params.use_extra_bufts = False
        return params

    return params_without_extra_bufts


@contextlib.contextmanager
def without_extra_buffer_types():
    """Load with llama.cpp's extra CPU buffer types (AMX, weight repacking) switched off.

    On CPUs that advertise AMX inside some VMs, llama.cpp's AMX matmul segfaults on the
    first decode (seen here with llama-cpp-python 0.3.36). The plain CPU kernels are safe
    and, for Q4_1 weights, as fast. llama-cpp-python has no flag for this, so its default
    model params are wrapped while ``Llama`` is constructed.
    """
    import llama_cpp.llama as llama_module

    with _PARAMS_PATCH_LOCK:
        original = llama_module.llama_cpp.llama_model_default_params
        llama_module.llama_cpp.llama_model_default_params = _no_extra_bufts_params(original)
        try:
            yield
        finally:
            llama_module.llama_cpp.llama_model_default_params = original


_PARAMS_PATCH_LOCK = threading.Lock()


def safe_llama(**kwargs):
    """``llama_cpp.Llama(**kwargs)``, avoiding the AMX kernels where the CPU advertises AMX."""
    from llama_cpp import Llama

    guard = without_extra_buffer_types() if cpu_has_amx() else contextlib.nullcontext()
    with guard:
        return Llama(**kwargs)


def llama_supports_gpu() -> bool:
    """True when this llama-cpp-python build can offload layers to a GPU."""
    try:
        import llama_cpp
    except ImportError:
        return False
    return bool(llama_cpp.llama_supports_gpu_offload())


def gguf_context_length(path: Path) -> int | None:
    """The context length a GGUF model was trained with, read from its metadata."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    for name, field in reader.fields.items():
        if name.endswith(".context_length") and field.data:
            return int(field.parts[field.data[0]][0])
    return None


KV_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}  # GGML type ids


def llama_long_context_kwargs(options: LongContext, requested_context: int | None) -> dict:
    """llama.cpp's settings for RoPE scaling and a quantized key/value cache."""
    import llama_cpp

    kwargs: dict = {}
    if options.rope_scaling != "none" and options.rope_factor > 1:
        kwargs["rope_scaling_type"] = (llama_cpp.LLAMA_ROPE_SCALING_TYPE_YARN if options.rope_scaling == "yarn"
                                       else llama_cpp.LLAMA_ROPE_SCALING_TYPE_LINEAR)
        kwargs["rope_freq_scale"] = 1.0 / options.rope_factor
    if options.kv_cache_type in KV_TYPES:
        kwargs["type_k"] = kwargs["type_v"] = KV_TYPES[options.kv_cache_type]
        if options.kv_cache_type != "f16":
            kwargs["flash_attn"] = True  # a quantized V cache needs flash attention in llama.cpp
    return kwargs


class LlamaCppBackend(Backend):
    """A GGUF model run in-process by llama.cpp."""

    name = "llamacpp"

    def __init__(self, source: ModelSource, *, context_length: int | None = None, threads: int | None = None,
                 long_context: LongContext | None = None):
        if source.kind != "gguf":
            raise ModelLoadError(
                f"the llamacpp backend needs a GGUF file, got {source.location}; use --backend transformers"
            )
        self._source = source
        self._long = long_context or LongContext()
        self._requested_context = context_length
        self._threads = threads or os.cpu_count() or 1
        self._llm = None
        self._formatter = None
        self._stop: list[str] = []
        self._info: ModelInfo | None = None
        self._lock = threading.Lock()
        self._grammars: dict[str, object] = {}

    def _context_to_request(self) -> int:
        """The requested context; with RoPE scaling and none requested, the trained one stretched;
        else 0 (llama.cpp's: the trained context)."""
        if self._requested_context:
            return self._requested_context
        if self._long.rope_scaling != "none" and self._long.rope_factor > 1:
            trained = gguf_context_length(self._source.path)
            if trained:
                return int(trained * self._long.rope_factor)
        return 0

    def load(self) -> ModelInfo:
        try:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            raise ModelLoadError("llama-cpp-python is not installed; `pip install llama-cpp-python`") from exc
        gpu = llama_supports_gpu()
        try:
            llm = safe_llama(
                model_path=self._source.location,
                n_ctx=self._context_to_request(),
                n_threads=self._threads,
                n_threads_batch=self._threads,
                n_gpu_layers=-1 if gpu else 0,
                verbose=False,
                **llama_long_context_kwargs(self._long, self._requested_context),
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(f"llama.cpp cannot load {self._source.location}: {exc}") from exc
        template = llm.metadata.get("tokenizer.chat_template")
        if template:
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=self._token_text(llm, llm.token_eos()),
                bos_token=self._token_text(llm, llm.token_bos()),
                add_generation_prompt=True,
            )
        if self._long.prefix_cache and self._long.state_cache_mb > 0:
            from llama_cpp import LlamaRAMCache

            # states saved after each call: another prompt (a summary) in between no longer
            # throws away the chat's cached prefix; the longest matching one is restored
            llm.set_cache(LlamaRAMCache(capacity_bytes=self._long.state_cache_mb << 20))
        self._llm = llm
        self._info = ModelInfo(self.name, self._source.label, "cuda" if gpu else "cpu", llm.n_ctx())
        return self._info

    @staticmethod
    def _token_text(llm, token: int) -> str:
        if token < 0:
            return ""
        return llm.detokenize([token], special=True).decode("utf-8", errors="ignore")

    def count_tokens(self, text: str) -> int:
        return len(self._require().tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def apply_chat_template(self, messages: list[ChatMessage]) -> str:
        self._require()
        if self._formatter is None:
            return plain_chat_prompt(messages)
        response = self._formatter(messages=list(messages))
        stop = response.stop
        self._stop = [stop] if isinstance(stop, str) else list(stop or [])
        return response.prompt

    def stream(
        self,
        messages: list[ChatMessage],
        params: GenerationParams,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        llm = self._require()
        prompt = self.apply_chat_template(messages)
        prompt_tokens = self.count_tokens(prompt)
        room = llm.n_ctx() - prompt_tokens
        if room <= 0:
            raise BackendError(f"prompt of {prompt_tokens} tokens leaves no room in a {llm.n_ctx()}-token context")
        with self._lock:  # one generation at a time per loaded model
            if params.seed is not None:
                llm.set_seed(params.seed)
            if not self._long.prefix_cache:
                llm.reset()  # evaluate the whole prompt again (for comparison; slower)
            self.last_reused_tokens = self._reusable(llm, llm.tokenize(prompt.encode("utf-8"), add_bos=False,
                                                                       special=True))
            chunks = llm.create_completion(
                prompt,
                max_tokens=min(params.max_new_tokens, room),
                temperature=params.temperature,
                top_p=params.top_p,
                repeat_penalty=params.repetition_penalty,
                stop=self._stop or None,
                stream=True,
                grammar=self._grammar(params.json_schema),
            )
            try:
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        break
                    text = chunk["choices"][0]["text"]
                    if text:
                        yield text
            finally:
                chunks.close()

    @staticmethod
    def _reusable(llm, tokens: list[int]) -> int:  # noqa: ANN001 - llama_cpp.Llama
        """How many leading tokens of the prompt need no computing: those the live context
        holds, or the longest saved state's (llama.cpp restores that one when it is longer)."""
        live = common_prefix(llm._input_ids.tolist(), tokens)
        if llm.cache is None:
            return live
        try:
            saved = common_prefix(llm.cache[tokens].input_ids.tolist(), tokens)
        except KeyError:
            saved = 0
        return max(live, saved)

    def _grammar(self, schema: str | None):  # noqa: ANN202 - llama_cpp.LlamaGrammar
        """A grammar that only lets the model write JSON of ``schema`` (built once per schema)."""
        if schema is None:
            return None
        if schema not in self._grammars:
            from llama_cpp import LlamaGrammar

            self._grammars[schema] = LlamaGrammar.from_json_schema(schema, verbose=False)
        return self._grammars[schema]

    def _require(self):
        if self._llm is None:
            raise BackendError("model not loaded yet")
        return self._llm

    def close(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()
