"""Evidence recall on real long conversations (LoCoMo dev set, issue 11).

    python bench/bench_locomo.py [--data ../shared/data/locomo-dev] [--budget 2048]
                                 [--conversations conv-26 conv-30] [--search] [--answers N]

Each conversation is imported into its own fresh data dir exactly as ``memchat import``
does it (knowledge extraction included; the stores are cached under ``bench/out/locomo``
and rebuilt when memchat's ingest code changes). Then every question is planned in a new,
empty chat with ``Assistant.prompt_for`` (what ``memchat prompt`` prints): a question's
evidence turn counts when the prompt holds it, as a retrieved memory or as the source of a
fact line. Reported per category: evidence recall (share of evidence turns present),
all-evidence (share of questions with every evidence turn present), prompt tokens and the
time to plan the prompt (retrieval + graph + assembly).

``--search`` also scores the retrieval modes alone (dense, lexical, hybrid) at k=10.
``--ttft N`` times the first N questions of each conversation from the message to the
model's first token (plan + prompt processing), to show what a bigger memory section costs.
``--answers N`` asks the model N questions whose evidence reached the prompt and checks
whether its answer contains the reference answer (slow on a CPU: about a question a second
or two with the embedded model), plus the built-in factual questions below.

The data is CC BY-NC 4.0 and stays in ``../shared``; when it is missing this says so and
exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "locomo-dev"
CACHE = ROOT / "bench" / "out" / "locomo"
CATEGORIES = ("single-hop", "multi-hop", "temporal", "open-domain")
SEARCH_K = 10

# simple factual questions with one-word answers: the model, not retrieval, is measured
FACTUAL = [
    ("What is the capital of France? Answer in one word.", "Paris"),
    ("What is the capital of Japan? Answer in one word.", "Tokyo"),
    ("What is the capital of Italy? Answer in one word.", "Rome"),
    ("What is the capital of Germany? Answer in one word.", "Berlin"),
    ("What is the capital of Spain? Answer in one word.", "Madrid"),
    ("How many days are in a week? Answer with a number.", "7"),
    ("How many legs does a spider have? Answer with a number.", "8"),
    ("What colour is the sky on a clear day? Answer in one word.", "blue"),
    ("What is the opposite of hot? Answer in one word.", "cold"),
    ("What is 2 plus 3? Answer with a number.", "5"),
    ("Which planet do we live on? Answer in one word.", "Earth"),
    ("What is frozen water called? Answer in one word.", "ice"),
]


def ingest_fingerprint() -> str:
    """Changes when the code that shapes stored memories changes (then the cache is rebuilt)."""
    import inspect

    from memory import transcripts

    digest = hashlib.sha256(inspect.getsource(transcripts.turn_item).encode())
    names = ("timeparse.py", "embeddings.py", "keys.py", "sentences.py")
    for path in [*(ROOT / "memory" / name for name in names), *sorted((ROOT / "memory" / "graph").glob("*.py"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def answer_once(assistant, question: str) -> str:  # noqa: ANN001 - Assistant
    """The model's answer to ``question`` in a new chat, from the same prompt, not stored."""
    from assistant.backends import generation_params

    plan = assistant.plan_prompt(question)
    return "".join(assistant.backend.stream(plan.messages, generation_params(assistant.settings),
                                            threading.Event())).strip()


def time_to_first_token(assistant, question: str) -> tuple[float, int]:  # noqa: ANN001 - Assistant
    """Seconds from the message to the model's first token in a new chat, and the prompt's tokens."""
    from dataclasses import replace

    from assistant.backends import generation_params

    started = time.perf_counter()
    plan = assistant.plan_prompt(question)
    params = replace(generation_params(assistant.settings), max_new_tokens=1)
    for _ in assistant.backend.stream(plan.messages, params, threading.Event()):
        break
    return time.perf_counter() - started, plan.prompt_tokens


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def open_conversation(conv_dir: Path, overrides: dict):  # noqa: ANN201 - Assistant
    """An Assistant on a data dir holding the conversation (imported once, then cached)."""
    from assistant.app import Assistant
    from assistant.config import load_settings

    data_dir = CACHE / f"{conv_dir.name}-{ingest_fingerprint()}"
    ready = data_dir / ".imported"
    settings = load_settings(config_path=CACHE / "none.toml", data_dir=data_dir, **overrides)
    if not ready.exists():
        shutil.rmtree(data_dir, ignore_errors=True)
        started = time.perf_counter()
        with Assistant(settings) as assistant:
            result = assistant.import_transcript(conv_dir / "turns.jsonl")
        print(f"  {conv_dir.name}: imported {result.imported} turns in {time.perf_counter() - started:.1f}s",
              file=sys.stderr)
        ready.write_text("ok")
    return Assistant(settings)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(int(round(q * (len(ordered) - 1))), len(ordered) - 1)]


class Tally:
    """Evidence recall, all-evidence, tokens and latency by category."""

    def __init__(self) -> None:
        self.found: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # evidence present, evidence total
        self.complete: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # all present, questions
        self.tokens: list[int] = []
        self.latency: list[float] = []

    def add(self, category: str, evidence: list[str], present: set[str]) -> None:
        hit = sum(e in present for e in evidence)
        for key in (category, "all"):
            self.found[key][0] += hit
            self.found[key][1] += len(evidence)
            self.complete[key][0] += hit == len(evidence)
            self.complete[key][1] += 1

    def recall(self, key: str = "all") -> float:
        hit, total = self.found[key]
        return hit / total if total else float("nan")

    def all_evidence(self, key: str = "all") -> float:
        hit, total = self.complete[key]
        return hit / total if total else float("nan")


def prompt_sources(account: dict) -> set[str]:
    """The external ids (``D1:3``) of the turns a prompt's account holds."""
    return {source["external_id"] for source in account["sources"] if source.get("external_id")}


def run(args: argparse.Namespace) -> dict[str, Tally]:
    from memory.retrieval import SearchOptions, search

    overrides: dict = {"temperature": args.temperature} if args.temperature is not None else {}
    if args.budget:
        overrides |= {"context_length": args.budget + args.max_new_tokens, "max_new_tokens": args.max_new_tokens}
    if args.system_prompt is not None:
        overrides["system_prompt"] = args.system_prompt
    if args.memory_tokens is not None:
        overrides["memory_tokens"] = args.memory_tokens
    tallies: dict[str, Tally] = defaultdict(Tally)
    answers: list[tuple[str, str, str, bool]] = []
    ttft: list[tuple[float, int]] = []
    for name in args.conversations:
        conv_dir = args.data / name
        questions = load_jsonl(conv_dir / "questions.jsonl")
        if args.limit:
            questions = questions[: args.limit]
        with open_conversation(conv_dir, overrides) as assistant:
            store = assistant.memory
            assistant.prompt_for("warm-up question")  # load models before timing
            for question in questions:
                started = time.perf_counter()
                account = assistant.prompt_for(question["question"])
                elapsed = time.perf_counter() - started
                present = prompt_sources(account)
                tally = tallies["prompt"]
                tally.add(question["category"], question["evidence"], present)
                tally.tokens.append(account["prompt_tokens"])
                tally.latency.append(elapsed)
                if args.search:
                    for mode in ("dense", "lexical", "hybrid"):
                        started = time.perf_counter()
                        hits = search(store, question["question"], SearchOptions(k=SEARCH_K, mode=mode))
                        tallies[mode].latency.append(time.perf_counter() - started)
                        tallies[mode].add(question["category"], question["evidence"],
                                          {h.item.external_id for h in hits if h.item.external_id})
                if args.answers and len(answers) < args.answers and set(question["evidence"]) <= present:
                    text = answer_once(assistant, question["question"])
                    answers.append((question["question"], question["answer"], text,
                                    contains_answer(text, question["answer"])))
            for question in questions[: args.ttft]:
                ttft.append(time_to_first_token(assistant, question["question"]))
            if args.answers and name == args.conversations[-1]:
                for question, reference in FACTUAL:
                    text = answer_once(assistant, question)
                    answers.append((question, reference, text, contains_answer(text, reference)))
    if answers:
        report_answers(answers)
    if ttft:
        seconds = [t for t, _ in ttft]
        print(f"time to first token, new chat ({len(ttft)} questions, prompt tokens p50 "
              f"{statistics.median(n for _, n in ttft):.0f}): p50 {percentile(seconds, 0.5):.1f} s, "
              f"p95 {percentile(seconds, 0.95):.1f} s")
    return tallies


def contains_answer(text: str, reference: str) -> bool:
    """Whether the answer holds the reference (case and punctuation aside; for a multi-word
    reference, most of its content words)."""
    def words(s: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", s.lower())

    said = set(words(text))
    wanted = [w for w in words(reference) if w not in {"a", "an", "the", "and", "or", "of", "in", "on", "to"}]
    if not wanted:
        return False
    return sum(w in said for w in wanted) / len(wanted) >= 0.5


def report_answers(answers: list[tuple[str, str, str, bool]]) -> None:
    factual = {q for q, _ in FACTUAL}
    for label, rows in (("conversation questions (evidence in the prompt)", [a for a in answers if a[0] not in factual]),
                        ("simple factual questions", [a for a in answers if a[0] in factual])):
        if rows:
            share = sum(r[3] for r in rows) / len(rows)
            print(f"answer contains the reference, {label}: {share:.2f} ({sum(r[3] for r in rows)}/{len(rows)})")
    for question, reference, text, ok in answers[:8]:
        print(f"  {'ok ' if ok else 'no '} {question[:60]!r} -> {text[:80]!r} (ref {reference!r})")


def print_table(tallies: dict[str, Tally]) -> None:
    header = ("| mode | evidence recall | all evidence | multi-hop all | temporal | single-hop | open-domain "
              "| prompt tokens p50 | latency p50 ms | p95 ms |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for mode in ("dense", "lexical", "hybrid", "prompt"):
        if mode not in tallies:
            continue
        t = tallies[mode]
        label = f"{mode} @{SEARCH_K}" if mode != "prompt" else "memchat prompt"
        tokens = f"{statistics.median(t.tokens):.0f}" if t.tokens else "-"
        print(f"| {label} | {t.recall():.3f} | {t.all_evidence():.3f} | {t.all_evidence('multi-hop'):.3f} "
              f"| {t.recall('temporal'):.3f} | {t.recall('single-hop'):.3f} | {t.recall('open-domain'):.3f} "
              f"| {tokens} | {1000 * percentile(t.latency, 0.5):.0f} | {1000 * percentile(t.latency, 0.95):.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("MEMCHAT_LOCOMO", DEFAULT_DATA)))
    parser.add_argument("--conversations", nargs="*", default=None)
    parser.add_argument("--budget", type=int, default=None, help="prompt budget in tokens (default: the model's)")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--memory-tokens", type=int, default=None, help="cap of the memory section, in tokens")
    parser.add_argument("--search", action="store_true", help="also score dense, lexical and hybrid search alone")
    parser.add_argument("--answers", type=int, default=0, help="check the model's answers to N questions")
    parser.add_argument("--ttft", type=int, default=0, help="time the first token of N questions per conversation")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions of each conversation")
    parser.add_argument("--temperature", type=float, default=None, help="sampling temperature for --answers")
    parser.add_argument("--system-prompt", default=None, help="another system prompt for --answers")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"bench_locomo: no LoCoMo data at {args.data}; nothing to measure (set --data or MEMCHAT_LOCOMO)")
        return
    args.conversations = args.conversations or sorted(p.name for p in args.data.iterdir() if p.is_dir())
    started = time.perf_counter()
    tallies = run(args)
    print(f"conversations: {', '.join(args.conversations)}; budget: {args.budget or 'model default'}; "
          f"memory cap: {args.memory_tokens if args.memory_tokens is not None else 'default'}; "
          f"{time.perf_counter() - started:.0f}s")
    print_table(tallies)


if __name__ == "__main__":
    main()
