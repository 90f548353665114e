"""Loading documents into memory with a progress bar, in a thread, cancelable.

Each document is stored in one transaction, so cancelling leaves out the document being
loaded, whole (the ones before it stay); loading the same path again resumes. After loading,
the knowledge graph reads the new passages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual.app import App, ComposeResult
from textual.message import Message
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, ProgressBar, Static
from textual.worker import get_current_worker

from tui.background import background
from tui.format import plural

if TYPE_CHECKING:
    from assistant.records import LoadOutcome
    from assistant.records import LoadProgress as DocumentProgress
    from tui.app import ChatApp

CANCEL_NOTE = "the documents already loaded stay; the one in progress is left out, whole"


def outcome_text(outcomes: Sequence[LoadOutcome]) -> str:
    """'Loaded notes.md (12 passages); skipped a.xyz: unsupported file type'."""
    done = [o for o in outcomes if o.status in ("loaded", "replaced")]
    parts = []
    if len(done) == 1:
        parts.append(f"{done[0].status.capitalize()} {done[0].path.name} ({plural(done[0].chunks, 'passage')})")
    elif done:
        parts.append(f"Loaded {len(done)} documents ({plural(sum(o.chunks for o in done), 'passage')})")
    unchanged = [o for o in outcomes if o.status == "unchanged"]
    if unchanged:
        parts.append(f"{len(unchanged)} already loaded and unchanged")
    for skipped in [o for o in outcomes if o.status == "skipped"][:3]:
        parts.append(f"skipped {skipped.path.name or skipped.path}: {skipped.reason}")
    return "; ".join(parts)


def _sentences(*parts: str) -> str:
    return " ".join(f"{part}." for part in parts if part)


class LoadProgress(Vertical):
    """Loads ``paths`` as soon as it is mounted; shows progress, then the outcome."""

    DEFAULT_CSS = """
    LoadProgress {
        height: auto;
        margin: 0 1 1 1;
        padding: 0 1;
        border-left: thick $secondary;
    }
    LoadProgress Horizontal {
        height: auto;
    }
    LoadProgress ProgressBar {
        width: 1fr;
    }
    LoadProgress.-done Horizontal {
        display: none;
    }
    """

    class Finished(Message):
        """Loading ended (``ok`` is False when it was cancelled or failed)."""

        def __init__(self, loader: LoadProgress, ok: bool) -> None:
            super().__init__()
            self.loader = loader
            self.ok = ok

    def __init__(self, paths: Sequence[Path]) -> None:
        super().__init__()
        self.paths = [Path(p).expanduser() for p in paths]
        self.cancel_event = threading.Event()
        self.running = True
        self.outcomes: list[LoadOutcome] = []
        self._host_app: App | None = None

    def compose(self) -> ComposeResult:
        names = ", ".join(str(p) for p in self.paths)
        yield Static(f"Loading {names}…", id="load-label", markup=False)
        with Horizontal():
            yield ProgressBar(id="load-bar")
            yield Button("Cancel", id="load-cancel", compact=True, tooltip=f"Stop loading: {CANCEL_NOTE}")

    def on_mount(self) -> None:
        self._host_app = self.app  # workers outlive the widget's link to the app
        self.load()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.cancel()

    def cancel(self) -> None:
        """Stop after the current batch of passages; the document in progress is left out."""
        if self.running and not self.cancel_event.is_set():
            self.cancel_event.set()
            self._say(f"Cancelling: {CANCEL_NOTE}…")

    # -- the work, in a thread ------------------------------------------------------------------
    def _stopped(self) -> bool:
        return self.cancel_event.is_set() or get_current_worker().is_cancelled or not self.is_attached

    def _ui(self, method: Callable[..., object], *args: object) -> None:
        """Run one of this widget's methods on the app's thread (unless it is gone)."""
        app = self._host_app
        if app is not None and app.is_running and self.is_attached:
            app.call_from_thread(method, *args)

    @background(thread=True, group="load")
    def load(self) -> None:
        from assistant.records import SUPPORTED_KINDS, LoadCancelled

        assistant = cast("ChatApp", self._host_app).assistant
        files = assistant.files_to_load(self.paths)
        total = sum(path.stat().st_size for path in files) or 1
        finished_bytes = 0

        def on_progress(progress: DocumentProgress) -> None:
            self._ui(self._advance, f"Loading {progress.path.name}: {progress.chunks} passages "
                                    f"({progress.chunks_per_s:.0f}/s)", finished_bytes + progress.bytes_done, total)

        def on_outcome(outcome: LoadOutcome) -> None:
            nonlocal finished_bytes
            if outcome.status != "skipped" and outcome.path.exists():
                finished_bytes += outcome.path.stat().st_size
            self.outcomes.append(outcome)
            self._ui(self._advance, outcome_text([outcome]), finished_bytes, total)

        text, ok, cut_short = "Loading failed", False, True
        try:
            self._ui(self._say, "Opening memory (the first time loads the embedding model)…")
            assistant.load_documents(self.paths, on_progress, on_outcome, cancel=self._stopped)
            ok, cut_short = any(o.status != "skipped" for o in self.outcomes), False
            text = (outcome_text(self.outcomes)
                    or f"No documents to load in {self.paths[0]}: memchat reads {SUPPORTED_KINDS}")
            if any(o.status in ("loaded", "replaced") for o in self.outcomes):
                self._ui(self._advance, "Reading the new passages into the knowledge graph…", 0, None)
                assistant.extract_knowledge(cancel=self._stopped, progress=lambda done, all_: self._ui(
                    self._advance, f"Knowledge graph: {done}/{all_} passages read", done, all_))
                if self._stopped():
                    text += ". Knowledge extraction was stopped; it resumes later on its own"
        except LoadCancelled:
            text = "Cancelled: the document in progress was left out (load it again to resume)"
        finally:  # say how it ended, and what was loaded before it stopped
            self._ui(self._finish, _sentences(text, outcome_text(self.outcomes) if cut_short else ""), ok)

    # -- on the app's thread -----------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.query_one("#load-label", Static).update(text)

    def _advance(self, text: str, done: float, total: float | None) -> None:
        self._say(text)
        self.query_one("#load-bar", ProgressBar).update(total=total, progress=done)

    def _finish(self, text: str, ok: bool) -> None:
        self.running = False
        self.add_class("-done")
        self._say(("✓ " if ok else "✗ ") + text)
        if not ok and self.outcomes and all(o.status == "skipped" for o in self.outcomes):
            self.notify(text, title="Nothing loaded", severity="error", timeout=10)
        self.post_message(self.Finished(self, ok))
