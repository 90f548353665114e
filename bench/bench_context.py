"""Prompt assembly benchmarks (issue 5), on the embedded model and real memory.

    python bench/bench_context.py ttft [--lengths 10 100 1000 10000]
    python bench/bench_context.py recall [--sessions 300] [--turns 20] [--budgets 1024 2048 4096]
    python bench/bench_context.py evict [--rounds 200]

``ttft``: time to first token of the next answer in sessions of N rounds (user + answer),
with the key/value prefix cache reused and with it off, in one run; also the per-turn
overhead of retrieval + graph + assembly (``plan``) next to generation. Each measured
turn follows a warm-up turn in the same session (that is what fills the cache).

``evict``: the next turn's time to first token after another model call (what a background
summary or LLM extraction does to llama.cpp's live cache), with saved prompt states and without.

``recall``: on the synthetic long conversation (bench/longconv.py), whether a question's
evidence turn makes it into the assembled prompt at a given token budget, for memchat's
assembly (hybrid + graph retrieval, facts, MMR) against a plain "top-k dense chunks until the
budget is full" baseline. The question is asked in a fresh session.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.app import Assistant, memory_for_prompt  # noqa: E402
from assistant.backends.base import LongContext  # noqa: E402
from assistant.backends.llamacpp_backend import LlamaCppBackend  # noqa: E402
from assistant.backends.model_source import resolve_model  # noqa: E402
from assistant.config import load_settings  # noqa: E402
from assistant.prompt import ContextInputs, Fact, assemble  # noqa: E402

ANSWER_TOKENS = 16


def _fill_session(app: Assistant, rounds: int, tag: str) -> str:
    """A session of ``rounds`` varied exchanges, also stored as (embedded) memories."""
    from memory.chat_memory import Exchange, remember_exchange

    topics = ["the garden", "a trip to Porto", "my bike", "the budget", "a novel", "the kitchen", "work emails",
              "a concert", "the dentist", "a chess game", "the weather", "a new recipe", "my sister", "a film"]
    session = app.sessions.create(f"{tag}: {rounds} rounds")
    for turn in range(rounds):
        topic = topics[(turn * 7 + rounds) % len(topics)]
        user = (f"Round {turn}: let me tell you about {topic}, detail number {turn * 13 % 97} of it; "
                f"it was {['red', 'tall', 'noisy', 'quiet', 'old', 'new', 'odd'][turn % 7]} on day {turn % 31}.")
        app.sessions.add_message(session.id, "user", user, tokens=app.backend.count_tokens(user))
        text = f"Thanks for sharing about {topic} (round {turn}); I will remember detail {turn * 13 % 97}."
        answer = app.sessions.add_message(session.id, "assistant", text, tokens=app.backend.count_tokens(text))
        remember_exchange(app.db, Exchange(session.id, session.name, user, text, answer.created_at, answer.id, turn))
    return session.id


def _turn(app: Assistant, session_id: str, text: str) -> dict:
    started = time.perf_counter()
    reply = app.chat.send(session_id, text)
    planned = time.perf_counter() - started
    "".join(reply)
    reused = app.backend.last_reused_tokens
    app.background.submit(lambda: None).result()  # let a due summary finish before the next turn
    app.memory_writer.flush(120)  # and the exchange's extraction and embedding (they share the 2 cores)
    return {"plan_s": planned, "ttft_s": reply.stats.time_to_first_token_s, "prompt_tokens": reply.plan.prompt_tokens,
            "reused": reused, "total_s": reply.stats.total_s, "window_turns": reply.plan.kept_history,
            "memory_tokens": reply.plan.sections["memories"].tokens, "window_start": reply.plan.window_start}


def ttft(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), temperature=0.0, max_new_tokens=ANSWER_TOKENS)
        rows = []
        loader = LlamaCppBackend(resolve_model(None))
        loader.load()
        with Assistant(settings, backend=loader) as app:
            sessions = {n: _fill_session(app, n, "bench") for n in args.lengths}
            started = time.perf_counter()
            items = app.memory.count()  # embeds every round
            print(f"{items} memories embedded in {time.perf_counter() - started:.0f}s", flush=True)
        loader.close()
        for reuse in (True, False):
            backend = LlamaCppBackend(resolve_model(None), long_context=LongContext(prefix_cache=reuse))
            backend.load()
            with Assistant(settings, backend=backend) as app:
                app.memory.count()
                for n in args.lengths:
                    # warm-up: the first turn fills the cache, the second lets a due summary update land
                    for text in ("Hello again! Shall we go on?", "Good. Let's continue."):
                        _turn(app, sessions[n], text)
                    samples = [_turn(app, sessions[n], question) for question in (
                        "What did I tell you about the garden?", "And what about my bike?")]
                    row = {"rounds": n, "prefix_cache": reuse, "samples": samples,
                           **{k: statistics.median(s[k] for s in samples) for k in samples[0]}}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            backend.close()
    print("\n| session rounds | prefix cache | prompt tokens | window turns | memory tokens | reused tokens | "
          "plan (retrieval+graph+assembly) ms | time to first token s | answer total s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['rounds']:,} | {'on' if r['prefix_cache'] else 'off'} | {r['prompt_tokens']:,.0f} | "
              f"{r['window_turns']:.0f} | {r['memory_tokens']:,.0f} | {r['reused']:,.0f} | {r['plan_s'] * 1000:.0f} | "
              f"{r['ttft_s']:.2f} | {r['total_s']:.2f} |")


def evict(args: argparse.Namespace) -> None:
    """Time to first token of a chat turn that follows another model call (a summary of other
    text), with llama.cpp's saved prompt states on and off."""
    from assistant.backends.base import GenerationParams

    other = [{"role": "user", "content": "Summarise in one line: " + "The ferry leaves at nine; bring tickets. " * 40}]
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), temperature=0.0, max_new_tokens=ANSWER_TOKENS)
        rows = []
        for cache_mb in (256, 0):
            backend = LlamaCppBackend(resolve_model(None), long_context=LongContext(state_cache_mb=cache_mb))
            backend.load()
            with Assistant(settings, backend=backend) as app:
                session = _fill_session(app, args.rounds, f"evict {cache_mb}")
                app.memory.count()
                for text in ("Hello again! Shall we go on?", "Good. Let's continue."):
                    _turn(app, session, text)
                samples = []
                for question in ("What did I tell you about the garden?", "And what about my bike?",
                                 "What about the concert?"):
                    "".join(backend.stream(other, GenerationParams(temperature=0.0, max_new_tokens=16)))
                    samples.append(_turn(app, session, question))
                row = {"state_cache_mb": cache_mb, "samples": samples,
                       **{k: statistics.median(s[k] for s in samples) for k in samples[0]}}
                rows.append(row)
                print(json.dumps(row), flush=True)
            backend.close()
    print(f"\n{args.rounds}-round session; each measured turn follows a 16-token answer to another ~500-token prompt")
    print("| saved states (MB) | prompt tokens | reused tokens | time to first token s (median of 3) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['state_cache_mb'] or 'off'} | {r['prompt_tokens']:,.0f} | {r['reused']:,.0f} | {r['ttft_s']:.2f} |")


def recall(args: argparse.Namespace) -> None:
    from bench.longconv import generate
    from memory.db import open_database
    from memory.embeddings import Embedder
    from memory.graph.context import facts_for_prompt
    from memory.graph.graph import KnowledgeGraph
    from memory.graph.pipeline import process_pending
    from memory.graph.spacy_extractor import SpacyExtractor
    from memory.retrieval import SearchOptions, search
    from memory.store import MemoryStore
    from memory.transcripts import import_transcript

    lines, questions = generate(args.sessions, args.turns, seed=7)
    backend = LlamaCppBackend(resolve_model(None))
    backend.load()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        transcript = data / "transcript.jsonl"
        transcript.write_text("".join(json.dumps(line) + "\n" for line in lines))
        store = MemoryStore(open_database(data / "d"), data / "d", Embedder())
        import_transcript(store, transcript)
        graph = KnowledgeGraph(store.db, store.lock)
        process_pending(graph, SpacyExtractor())
        store.reembed()
        external = dict(store.db.execute("SELECT external_id, id FROM memory_items WHERE external_id IS NOT NULL"))
        found = {(name, budget): 0 for name in ("memchat", "dense top-k") for budget in args.budgets}
        tokens = {key: [] for key in found}
        for question in questions:
            evidence = {external[e] for e in question["evidence"] if e in external}
            hybrid = search(store, question["question"], SearchOptions(k=20), now=now)
            dense = search(store, question["question"], SearchOptions(k=40, mode="dense", mmr_lambda=1.0,
                                                                      use_graph=False, use_dates=False), now=now)
            facts = [Fact(f.text, f.ref, f.item_ids) for f in facts_for_prompt(graph, question["question"])]
            for budget in args.budgets:
                for name, hits, fact_lines in (("memchat", hybrid, facts), ("dense top-k", dense, [])):
                    inputs = ContextInputs("You are a helpful assistant.", question["question"],
                                           memories=[memory_for_prompt(h.item, h.score) for h in hits],
                                           facts=fact_lines)
                    plan = assemble(backend, inputs, 256, context_length=budget + 256)
                    in_prompt = {i["id"] for i in plan.sections["memories"].items}
                    in_prompt |= {i for f in plan.sections["facts"].items for i in f["items"]}
                    found[(name, budget)] += bool(evidence & in_prompt)
                    tokens[(name, budget)].append(plan.prompt_tokens)
        print(f"{len(questions)} questions over {len(lines)} turns")
        print("| budget (prompt tokens) | " + " | ".join(f"{n} evidence recall" for n in ("memchat", "dense top-k"))
              + " | memchat median prompt tokens |")
        print("|---|---|---|---|")
        for budget in args.budgets:
            cells = [f"{found[(n, budget)] / len(questions):.2f}" for n in ("memchat", "dense top-k")]
            print(f"| {budget:,} | " + " | ".join(cells) + f" | {statistics.median(tokens[('memchat', budget)]):.0f} |")
    backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    one = sub.add_parser("ttft")
    one.add_argument("--lengths", type=int, nargs="+", default=[10, 100, 1000, 10000])
    three = sub.add_parser("evict")
    three.add_argument("--rounds", type=int, default=200)
    two = sub.add_parser("recall")
    two.add_argument("--sessions", type=int, default=300)
    two.add_argument("--turns", type=int, default=20)
    two.add_argument("--budgets", type=int, nargs="+", default=[1024, 2048, 4096])
    args = parser.parse_args()
    {"ttft": ttft, "recall": recall, "evict": evict}[args.what](args)


if __name__ == "__main__":
    main()
