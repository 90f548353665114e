"""One data dir, two processes: does a big load lock anyone out, and does a killed load or
import ever leave a partial document behind? (issue 12)

    python bench/bench_concurrency.py contend [--doc-mb 5] [--probes 3]
    python bench/bench_concurrency.py crash [--kills 20] [--doc-kb 150] [--turns 1500]

``contend``: loads a ~5 MB document alone (its time), then again while a second process runs
``sessions list``, ``search river`` and ``ask`` (with ``--stats``: time to first token) over
and over; the same probes are also timed on the idle data dir. Each probe is a whole
command (process start, imports, models) so idle vs. during-load is the comparison that
matters. A third party, a thread that takes the write lock every 5 ms, records the longest
it waited for it; the loading process records its longest write transaction.

``crash``: ``--kills`` SIGKILLs at random moments of ``load`` and of ``import``, each in a
fresh data dir, each followed by ``PRAGMA integrity_check``, a check that nothing partial is
visible, and a re-run that must complete with the whole document or transcript.

Graph extraction is off (``MEMCHAT_GRAPH_EXTRACTOR=off``): it is the load's storage that
is measured. Prints Markdown tables; times in seconds unless marked ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_tui_responsiveness import write_document  # noqa: E402
from memory.loads import DOCUMENT_VISIBLE, VISIBLE  # noqa: E402

MEMCHAT = [sys.executable, "-m", "assistant.cli"]
# the loading process, with its longest write transaction recorded (outermost ones only)
TIMED_LOADER = """
import atexit, json, sys, time
from contextlib import contextmanager
import memory.db as db
original, longest = db.transaction, [0.0]
@contextmanager
def timed(database):
    outer = not database.conn.in_transaction
    started = time.perf_counter()
    with original(database):
        yield
    if outer:
        longest[0] = max(longest[0], time.perf_counter() - started)
db.transaction = timed
stats_path = sys.argv[1]
atexit.register(lambda: open(stats_path, "w").write(json.dumps({"longest_transaction_s": longest[0]})))
sys.argv = ["memchat"] + sys.argv[2:]
from assistant.cli import main
main()
"""


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMCHAT_")}
    env.update(MEMCHAT_DATA_DIR=str(data_dir), MEMCHAT_CONFIG=str(data_dir / "none.toml"), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", MEMCHAT_GRAPH_EXTRACTOR="off")
    return env


def memchat(data_dir: Path, *args: str, timeout: float = 1800) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    result = subprocess.run([*MEMCHAT, *args], capture_output=True, text=True, timeout=timeout, env=env_for(data_dir))
    return result, time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class LockProber(threading.Thread):
    """Takes the write lock (BEGIN IMMEDIATE) every 5 ms; records how long each wait was."""

    def __init__(self, db_path: Path) -> None:
        super().__init__(daemon=True)
        self.db_path, self.waits, self.failures, self.stop = db_path, [], 0, threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                conn.execute("BEGIN IMMEDIATE")
                self.waits.append(time.perf_counter() - started)
                conn.execute("ROLLBACK")
            except sqlite3.OperationalError:
                self.failures += 1
            time.sleep(0.005)
        conn.close()


def probe_round(data_dir: Path, samples: dict[str, list[float]], errors: list[str]) -> None:
    for name, args in (("sessions list", ("sessions", "list")), ("search", ("search", "river")),
                       ("ask", ("--max-new-tokens", "8", "ask", "--stats", "What is a river?"))):
        result, elapsed = memchat(data_dir, *args, timeout=600)
        if result.returncode != 0:
            errors.append(f"{name}: {result.stderr.strip()[-200:]}")
            continue
        samples[name].append(elapsed)
        if name == "ask":
            found = re.search(r"first token ([\d.]+)s", result.stderr)
            if found:
                samples["ask: time to first token"].append(float(found.group(1)))


def contend(doc_mb: float, probes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        document = write_document(tmp_path / "book.md", doc_mb)
        size_mb = document.stat().st_size / 1e6
        alone_dir = tmp_path / "alone"
        result, alone_s = memchat(alone_dir, "load", str(document))
        assert result.returncode == 0, result.stderr
        print(f"load alone: {alone_s:.1f} s", flush=True)

        data_dir = tmp_path / "shared"
        seed = tmp_path / "river.md"
        seed.write_text("# Rivers\n\nA river is a natural stream of water flowing toward an ocean or a lake.\n")
        assert memchat(data_dir, "load", str(seed))[0].returncode == 0
        assert memchat(data_dir, "--max-new-tokens", "8", "ask", "Hello")[0].returncode == 0
        idle: dict[str, list[float]] = {k: [] for k in ("sessions list", "search", "ask", "ask: time to first token")}
        busy: dict[str, list[float]] = {k: [] for k in idle}
        errors: list[str] = []
        for _ in range(probes):
            probe_round(data_dir, idle, errors)

        stats_file = tmp_path / "loader.json"
        prober = LockProber(data_dir / "memchat.db")
        prober.start()
        started = time.perf_counter()
        loader = subprocess.Popen([sys.executable, "-c", TIMED_LOADER, str(stats_file), "load", str(document)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(data_dir),
                                  cwd=ROOT)
        rounds = 0
        while loader.poll() is None:
            probe_round(data_dir, busy, errors)
            rounds += 1
        loaded_s = time.perf_counter() - started
        prober.stop.set()
        prober.join()
        out, err = loader.communicate()
        assert loader.returncode == 0, err
        longest = json.loads(stats_file.read_text())["longest_transaction_s"]

    print(f"\n{size_mb:.1f} MB document; load alone {alone_s:.1f} s, with a second process probing "
          f"{loaded_s:.1f} s ({rounds} probe rounds during it)\n")
    print("| command (whole process) | idle: n | p50 | p95 | max | during the load: n | p50 | p95 | max |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in idle:
        a, b = idle[name], busy[name]
        cells = [f"{len(a)}", *(f"{f(a):.2f}" for f in (lambda v: pct(v, .5), lambda v: pct(v, .95), max))] if a \
            else ["0", "-", "-", "-"]
        cells += [f"{len(b)}", *(f"{f(b):.2f}" for f in (lambda v: pct(v, .5), lambda v: pct(v, .95), max))] if b \
            else ["0", "-", "-", "-"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    waits = prober.waits
    print(f"\nwrite lock: the loader's longest write transaction {longest * 1000:.0f} ms; a third connection "
          f"taking it every 5 ms waited p50 {pct(waits, .5) * 1000:.1f} ms, p99 {pct(waits, .99) * 1000:.1f} ms, "
          f"max {max(waits) * 1000:.0f} ms over {len(waits)} takes, {prober.failures} failures")
    print(f"probe errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))


def transcript(path: Path, turns: int) -> Path:
    with path.open("w") as handle:
        for i in range(turns):
            handle.write(json.dumps({"id": f"t{i}", "speaker": "Ann" if i % 2 else "Bob", "session": "trip",
                                     "timestamp": f"2025-05-01T10:{i % 60:02d}:00Z",
                                     "text": f"Turn {i}: we talked about the ferry to island {i % 37}."}) + "\n")
    return path


def check_after_kill(db_path: Path, kind: str, expected: int) -> str | None:
    """None when the store is sound and nothing partial is visible; else what is wrong."""
    if not db_path.exists():
        return None
    conn = sqlite3.connect(db_path)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            return "integrity_check failed"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "memory_items" not in tables or "loads" not in tables:
            return None  # killed before the store was created
        if kind == "load":
            for doc_id, chunks in conn.execute(f"SELECT d.id, d.chunks FROM documents d WHERE {DOCUMENT_VISIBLE}"):
                items = conn.execute(f"SELECT COUNT(*) FROM memory_items m WHERE m.document_id = ? AND {VISIBLE}",
                                     [doc_id]).fetchone()[0]
                if items != chunks or chunks != expected:
                    return f"partial document visible: {items} of {chunks} (whole: {expected})"
            stray = conn.execute(f"SELECT COUNT(*) FROM memory_items m WHERE m.document_id IS NOT NULL AND {VISIBLE} "
                                 f"AND m.document_id NOT IN (SELECT d.id FROM documents d WHERE {DOCUMENT_VISIBLE})"
                                 ).fetchone()[0]
            if stray:
                return f"{stray} chunks visible without their document"
        else:
            visible = conn.execute(f"SELECT COUNT(*) FROM memory_items m WHERE m.kind = 'import' AND {VISIBLE}"
                                   ).fetchone()[0]
            if visible not in (0, expected):
                return f"partial import visible: {visible} of {expected} turns"
    finally:
        conn.close()
    return None


def pending_loads(db_path: Path) -> int:
    try:
        conn = sqlite3.connect(db_path, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM loads").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def wait_for_writing(db_path: Path, process: subprocess.Popen) -> float:
    """When the process's load registered itself (its writing began); polled every 20 ms."""
    while process.poll() is None and not pending_loads(db_path):
        time.sleep(0.02)
    return time.perf_counter()


def crash(kills: int, doc_kb: int, turns: int) -> None:
    rng = random.Random(12)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        document = write_document(tmp_path / "doc.md", doc_kb / 1000)
        jsonl = transcript(tmp_path / "t.jsonl", turns)
        kinds = {"load": ("load", str(document)), "import": ("import", str(jsonl))}
        whole: dict[str, tuple[int, float]] = {}
        for kind, args in kinds.items():  # uninterrupted: how many rows, how long the writing takes
            whole_dir = tmp_path / f"whole-{kind}"
            process = subprocess.Popen([*MEMCHAT, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       env=env_for(whole_dir))
            writing_at = wait_for_writing(whole_dir / "memchat.db", process)
            process.wait()
            assert process.returncode == 0, process.stderr.read() if process.stderr else ""
            conn = sqlite3.connect(whole_dir / "memchat.db")
            whole[kind] = (conn.execute("SELECT COUNT(*) FROM memory_items").fetchone()[0],
                           time.perf_counter() - writing_at)
            conn.close()
        results = {kind: {"kills": 0, "pending": 0, "failures": 0, "problems": []} for kind in kinds}
        for attempt in range(kills):  # the kinds in turn, so a cut-short run still covers both
            for kind, args in kinds.items():
                expected, write_s = whole[kind]
                data_dir = tmp_path / f"{kind}-{attempt}"
                process = subprocess.Popen([*MEMCHAT, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           env=env_for(data_dir))
                wait_for_writing(data_dir / "memchat.db", process)
                time.sleep(rng.uniform(0, write_s))  # a random moment of its writing
                pending = pending_loads(data_dir / "memchat.db") > 0 and process.poll() is None
                process.kill()
                process.wait()
                problem = check_after_kill(data_dir / "memchat.db", kind, expected)
                rerun, _ = memchat(data_dir, *args)
                if rerun.returncode != 0:
                    problem = problem or f"re-run failed: {rerun.stderr.strip()[-200:]}"
                else:
                    problem = problem or check_after_kill(data_dir / "memchat.db", kind, expected)
                    conn = sqlite3.connect(data_dir / "memchat.db")
                    total = conn.execute("SELECT COUNT(*) FROM memory_items").fetchone()[0]
                    left = conn.execute("SELECT COUNT(*) FROM loads").fetchone()[0]
                    conn.close()
                    if total != expected or left:
                        problem = problem or f"after the re-run {total} rows (whole: {expected}), {left} loads left"
                entry = results[kind]
                entry["kills"] += 1
                entry["pending"] += pending
                entry["failures"] += bool(problem)
                entry["problems"] += [problem] if problem else []
                print(f"{kind} kill {attempt + 1}: {'load pending' if pending else 'not pending'}, "
                      f"{problem or 'ok'}", flush=True)
    print("\n| command | rows when whole | writing time uninterrupted (s) | SIGKILLs | of them with the load "
          "pending | failures |")
    print("|---|---|---|---|---|---|")
    for kind, entry in results.items():
        print(f"| {kind} | {whole[kind][0]} | {whole[kind][1]:.1f} | {entry['kills']} | {entry['pending']} | "
              f"{entry['failures']} |")
        for problem in entry["problems"][:2]:
            print(f"  - {problem}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("contend")
    c.add_argument("--doc-mb", type=float, default=5.0)
    c.add_argument("--probes", type=int, default=3)
    k = sub.add_parser("crash")
    k.add_argument("--kills", type=int, default=20)
    k.add_argument("--doc-kb", type=int, default=150)
    k.add_argument("--turns", type=int, default=1500)
    args = parser.parse_args()
    print(f"# bench_concurrency {args.mode}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs")
    if args.mode == "contend":
        contend(args.doc_mb, args.probes)
    else:
        crash(args.kills, args.doc_kb, args.turns)


if __name__ == "__main__":
    main()
