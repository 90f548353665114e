"""Does the chat app stay responsive while the model answers or a large document loads? (issue 6)

    python bench/bench_tui_responsiveness.py [--doc-mb 2] [--answer-tokens 256] [--seconds 20]

Runs the real app (headless, Textual's ``run_test``) on the embedded model and memory, and
measures, in three phases (idle; while an answer streams; while a large document loads from
the documents panel):

- ``key echo``: a key typed into the prompt box until the box holds it (what a user feels
  as typing lag), sampled every 200 ms;
- ``loop lag``: how late a 20 ms timer on the app's event loop fires (a frozen UI shows as
  lag in the hundreds of milliseconds or more).

Prints a Markdown table; numbers are milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from textual import events  # noqa: E402
from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Input  # noqa: E402

from assistant.app import Assistant  # noqa: E402
from assistant.config import load_settings  # noqa: E402
from tui.app import ChatApp  # noqa: E402
from tui.loading import LoadProgress  # noqa: E402
from tui.screens.documents import DocumentsScreen  # noqa: E402

TICK_S = 0.02
SAMPLE_S = 0.2
WORDS = ("pump filter impeller valve seal pressure flow gauge motor bearing housing intake outlet "
         "sensor relay fuse cable switch manual service warranty cartridge water season spring").split()


def write_document(path: Path, megabytes: float) -> Path:
    """A long manual-like Markdown file of about ``megabytes`` MB."""
    lines, size, section = [], 0, 0
    while size < megabytes * 1_000_000:
        section += 1
        lines.append(f"\n## Section {section}\n")
        for sentence in range(12):
            words = " ".join(WORDS[(section * 7 + sentence * 3 + i) % len(WORDS)] for i in range(14))
            lines.append(f"In section {section}, step {sentence}: check the {words}.")
        size += sum(len(line) + 1 for line in lines[-13:])
    path.write_text("# Service manual\n" + "\n".join(lines), encoding="utf-8")
    return path


class LoopLag:
    """Records how late a ``TICK_S`` sleep on the event loop wakes up."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(TICK_S)
            self.lags.append(time.perf_counter() - started - TICK_S)

    def start(self) -> None:
        self.lags.clear()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> list[float]:
        assert self._task is not None
        self._task.cancel()
        return list(self.lags)


async def key_echo(pilot: Pilot, app: ChatApp) -> float:
    """Seconds from pressing a key in the prompt box until the box holds it."""
    prompt = app.chat_screen.prompt
    before = len(prompt.text)
    started = time.perf_counter()
    app.post_message(events.Key("x", "x"))  # as the terminal driver delivers a key
    while len(prompt.text) == before:
        await asyncio.sleep(0.001)
    return time.perf_counter() - started


async def measure(pilot: Pilot, app: ChatApp, busy: Callable[[], bool], seconds: float) -> tuple[list[float], list[float]]:
    """Sample key echo and loop lag while ``busy()`` holds (at most ``seconds``)."""
    lag = LoopLag()
    lag.start()
    echoes = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and busy():
        if app.screen is app.chat_screen:
            app.chat_screen.prompt.focus()
            echoes.append(await key_echo(pilot, app))
        await asyncio.sleep(SAMPLE_S)
    app.chat_screen.prompt.clear()
    return echoes, lag.stop()


def row(name: str, echoes: list[float], lags: list[float]) -> str:
    def ms(values: list[float], q: float) -> str:
        if not values:
            return "–"
        values = sorted(values)
        return f"{values[min(int(q * len(values)), len(values) - 1)] * 1000:.0f}"

    return (f"| {name} | {len(echoes)} | {ms(echoes, 0.5)} | {ms(echoes, 0.95)} | {ms(echoes, 1.0)} "
            f"| {ms(lags, 0.5)} | {ms(lags, 0.95)} | {ms(lags, 1.0)} |")


async def run(args: argparse.Namespace) -> list[str]:
    data = Path(tempfile.mkdtemp(prefix="memchat-bench-tui-"))
    os.environ["MEMCHAT_DATA_DIR"] = str(data / "data")
    settings = load_settings(temperature=0.7, max_new_tokens=args.answer_tokens)
    document = write_document(data / "service-manual.md", args.doc_mb)
    out = []
    with Assistant(settings) as assistant:
        app = ChatApp(assistant)
        async with app.run_test(size=(100, 30)) as pilot:
            while app.model_info is None:
                await pilot.pause(0.1)
            await asyncio.sleep(2)  # let the memory finish opening
            out.append(row("idle", *await measure(pilot, app, lambda: True, args.seconds / 2)))

            app.chat_screen.prompt.load_text("Write a long story about a lighthouse keeper and her dog.")
            await pilot.press("enter")
            while not app.chat_screen.generating:
                await pilot.pause(0.01)
            out.append(row(f"answer streaming ({args.answer_tokens} tokens)",
                           *await measure(pilot, app, lambda: app.chat_screen.generating, args.seconds)))
            app.chat_screen.action_stop()
            while app.chat_screen.generating:
                await pilot.pause(0.05)

            await pilot.press("ctrl+l")
            screen = app.screen
            assert isinstance(screen, DocumentsScreen)
            screen.query_one("#doc-path", Input).value = str(document)
            screen.query_one("#doc-path", Input).focus()
            await pilot.press("enter")
            await pilot.press("escape")  # back to the chat: the load goes on

            def loading() -> bool:
                return any(loader.running for loader in screen.query(LoadProgress))

            while not loading():
                await pilot.pause(0.01)

            started = time.monotonic()
            echoes, lags = await measure(pilot, app, loading, args.seconds * 30)
            size = document.stat().st_size / 1e6
            out.append(row(f"{size:.1f} MB document loading ({time.monotonic() - started:.0f} s)", echoes, lags))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--doc-mb", type=float, default=2.0, help="size of the document to load")
    parser.add_argument("--answer-tokens", type=int, default=256, help="length of the streamed answer")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to sample the answer phase")
    args = parser.parse_args(argv)
    rows = asyncio.run(run(args))
    print(f"\n{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs\n")
    print("| phase | key samples | key echo p50 | p95 | max | loop lag p50 | p95 | max |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
