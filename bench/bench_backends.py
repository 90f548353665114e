"""Decoder backends on the embedded model: load time, time to first token, decode tokens/s.

Every memchat backend is measured in one run next to the reference, llama.cpp itself
(llama-cpp-python's ``Llama`` on the same GGUF, same threads), and reported as ratios to it.

    python bench/bench_backends.py [--runs 3] [--max-tokens 128] [--backends llamacpp,transformers,openai]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.backends.base import Backend, GenerationParams  # noqa: E402
from assistant.backends.default_model import default_gguf_path  # noqa: E402
from assistant.backends.llamacpp_backend import LlamaCppBackend, safe_llama  # noqa: E402
from assistant.backends.model_source import resolve_model  # noqa: E402
from assistant.backends.openai_backend import OpenAIBackend  # noqa: E402
from assistant.backends.transformers_backend import TransformersBackend  # noqa: E402
from assistant.config import DEFAULT_SYSTEM_PROMPT  # noqa: E402

def messages(run: int) -> list[dict[str, str]]:
    """A prompt that starts differently in each run, so no run reuses another's KV cache."""
    return [
        {"role": "system", "content": f"Session {run}. {DEFAULT_SYSTEM_PROMPT}"},
        {"role": "user", "content": "Write a long, detailed story about a lighthouse keeper and a storm."},
    ]


@dataclass
class Result:
    name: str
    load_s: float
    ttft_s: float
    decode_tok_s: float
    tokens: int


def time_stream(chunks: Iterator[str], count_tokens: Callable[[str], int]) -> tuple[float, float, int]:
    """(time to first chunk, decode tokens/s after it, tokens) for one streamed answer."""
    start = time.perf_counter()
    first = None
    parts = []
    for chunk in chunks:
        if first is None:
            first = time.perf_counter()
        parts.append(chunk)
    end = time.perf_counter()
    tokens = count_tokens("".join(parts))
    assert first is not None, "no output"
    return first - start, (tokens - 1) / (end - first), tokens


def bench_reference(runs: int, params: GenerationParams, threads: int, prompts: list[str]) -> Result:
    start = time.perf_counter()
    llm = safe_llama(model_path=str(default_gguf_path()), n_ctx=0, n_threads=threads,
                     n_threads_batch=threads, verbose=False)
    load = time.perf_counter() - start

    def count(text: str) -> int:
        return len(llm.tokenize(text.encode(), add_bos=False, special=True))

    def chunks(prompt: str) -> Iterator[str]:
        for chunk in llm.create_completion(prompt, max_tokens=params.max_new_tokens, temperature=0.0,
                                           repeat_penalty=params.repetition_penalty, stop=["<|im_end|>"],
                                           stream=True):
            yield chunk["choices"][0]["text"]

    samples = [time_stream(chunks(prompts[run]), count) for run in range(runs)]
    llm.close()
    return _result("llama.cpp (reference)", load, samples)


def bench_backend(name: str, factory: Callable[[], Backend], runs: int, params: GenerationParams) -> Result:
    start = time.perf_counter()
    backend = factory()
    backend.load()
    load = time.perf_counter() - start
    samples = [time_stream(backend.stream(messages(run), params, threading.Event()), backend.count_tokens)
               for run in range(runs)]
    backend.close()
    return _result(name, load, samples)


def _result(name: str, load: float, samples: list[tuple[float, float, int]]) -> Result:
    return Result(
        name,
        load,
        statistics.median(s[0] for s in samples),
        statistics.median(s[1] for s in samples),
        int(statistics.median(s[2] for s in samples)),
    )


def start_server(threads: int) -> tuple[subprocess.Popen, str]:
    sys.path.insert(0, str(ROOT / "tests"))
    from tests.conftest import free_port, wait_for_http

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "llama_server.py"), "--model", str(default_gguf_path()),
         "--port", str(port), "--n_ctx", "8192", "--n_threads", str(threads), "--verbose", "False"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    wait_for_http(f"{url}/models", process)
    return process, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--backends", default="llamacpp,transformers,openai")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    params = GenerationParams(temperature=0.0, max_new_tokens=args.max_tokens)
    wanted = args.backends.split(",")

    probe = LlamaCppBackend(resolve_model(None))
    probe.load()
    prompts = [probe.apply_chat_template(messages(run)) for run in range(args.runs)]
    probe.close()

    results = [bench_reference(args.runs, params, threads, prompts)]
    if "llamacpp" in wanted:
        results.append(bench_backend("memchat llamacpp", lambda: LlamaCppBackend(resolve_model(None)),
                                     args.runs, params))
    if "transformers" in wanted:
        results.append(bench_backend("memchat transformers (fp32)",
                                     lambda: TransformersBackend(resolve_model(None)), args.runs, params))
    if "openai" in wanted:
        process, url = start_server(threads)
        try:
            results.append(bench_backend("memchat openai → llama-cpp-python server",
                                         lambda: OpenAIBackend(url), args.runs, params))
        finally:
            process.terminate()
            process.wait(timeout=30)

    ref = results[0]
    print(f"machine: {platform.machine()}, {threads} CPU threads; runs={args.runs}, "
          f"max_new_tokens={args.max_tokens}, greedy")
    print("| backend | load s | TTFT s | decode tok/s | tokens | load × ref | TTFT × ref | speed × ref |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.name} | {r.load_s:.2f} | {r.ttft_s:.3f} | {r.decode_tok_s:.1f} | {r.tokens} | "
              f"{r.load_s / ref.load_s:.2f} | {r.ttft_s / ref.ttft_s:.2f} | {r.decode_tok_s / ref.decode_tok_s:.2f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
