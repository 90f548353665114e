"""Small modal dialogs: confirm an action, ask for a line of text, read sources in full."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Static

from tui.sources import SourceView

if TYPE_CHECKING:
    from tui.app import ChatApp

ResultT = TypeVar("ResultT")


class Dialog(ModalScreen[ResultT]):
    """A framed box in the middle of the screen; Esc cancels."""

    DEFAULT_CSS = """
    Dialog {
        align: center middle;
    }
    Dialog > #dialog {
        width: 74;
        max-width: 96%;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    Dialog .title {
        text-style: bold;
        margin-bottom: 1;
    }
    Dialog .hint {
        color: $text-muted;
        margin-top: 1;
    }
    Dialog Horizontal {
        height: auto;
        align-horizontal: right;
    }
    Dialog Button {
        margin-left: 1;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(Dialog[bool]):
    """Ask before something that cannot be undone; dismissed with True to go ahead."""

    BINDINGS = [Binding("y", "confirm", "Yes"), Binding("n", "cancel", "No")]

    def __init__(self, question: str, action: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.action_label = action

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, markup=False, classes="title")
            with Horizontal():
                yield Button(self.action_label, variant="error", id="confirm", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
            yield Static("y or Enter: go ahead · n or Esc: cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class DeleteChatDialog(Dialog[bool | None]):
    """Confirm deleting a chat; dismissed with whether to keep what memory learnt from it
    (None: cancelled)."""

    BINDINGS = [Binding("y", "confirm", "Yes"), Binding("n", "cancel", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, markup=False, classes="title")
            yield Checkbox("Keep what memory and the knowledge graph learnt from it", False, id="keep-memories",
                           compact=True)
            with Horizontal():
                yield Button("Delete", variant="error", id="confirm", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
            yield Static("y or Enter: delete · n or Esc: cancel · Space on the box: keep memories", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            self.action_confirm()
        else:
            self.dismiss(None)

    def action_confirm(self) -> None:
        self.dismiss(self.query_one("#keep-memories", Checkbox).value)


class AskDialog(Dialog[str | None]):
    """Ask for one line of text (a new name, a path); None when cancelled."""

    def __init__(self, question: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, markup=False, classes="title")
            yield Input(self.value, placeholder=self.placeholder, id="answer")
            yield Static("Enter: OK · Esc: cancel", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class SourcesDialog(Dialog[None]):
    """Memories, chat turns or passages in full, with where they came from."""

    DEFAULT_CSS = """
    SourcesDialog > #dialog {
        width: 90%;
        height: 90%;
    }
    SourcesDialog VerticalScroll {
        height: 1fr;
    }
    SourcesDialog .where {
        color: $text-muted;
    }
    SourcesDialog .text {
        margin-bottom: 1;
    }
    """
    BINDINGS = [Binding("o", "open_chat", "Open the chat")]

    def __init__(self, sources: Sequence[SourceView], heading: str = "Sources") -> None:
        super().__init__()
        self.sources = list(sources)
        self.heading = heading

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.heading, markup=False, classes="title")
            with VerticalScroll():
                for source in self.sources:
                    yield Static(source.title, markup=False, classes="title")
                    yield Static(source.where, markup=False, classes="where")
                    yield Static(highlighted(source), classes="text")
            chat = " · o: open the chat it came from" if self._chat() else ""
            marked = " · highlighted: what the answer drew on" if any(s.quotes for s in self.sources) else ""
            yield Static(f"Esc: close · Up/Down: scroll{chat}{marked}", classes="hint")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def _chat(self) -> str | None:
        return next((s.session_id for s in self.sources if s.session_id), None)

    def action_open_chat(self) -> None:
        session_id = self._chat()
        if session_id is None:
            self.notify("These sources are not from a chat.", severity="warning")
            return
        self.dismiss(None)
        cast("ChatApp", self.app).open_session(session_id)


def highlighted(source: SourceView) -> Text:
    """The source's text with the sentences an answer drew on highlighted."""
    text = Text(source.text)
    text.highlight_words(source.quotes, style="bold reverse")
    return text


def confirm(app: App, question: str, action: str, then: Callable[[], Any]) -> None:
    """Ask ``question``; call ``then()`` if the user agrees."""
    app.push_screen(ConfirmDialog(question, action), lambda yes: then() if yes else None)


def ask(app: App, question: str, value: str, then: Callable[[str], Any]) -> None:
    """Ask for a line of text; call ``then(text)`` unless cancelled or left empty."""
    app.push_screen(AskDialog(question, value), lambda text: then(text) if text else None)
