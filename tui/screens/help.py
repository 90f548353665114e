"""/help and F1: every command and key, from the same tables the app runs on."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown, Static

from tui.commands import COMMANDS
from tui.screens.dialogs import Dialog

KEY_WORDS = {"ctrl": "Ctrl", "alt": "Alt", "shift": "Shift", "escape": "Esc", "enter": "Enter", "up": "Up",
             "down": "Down", "delete": "Delete", "backspace": "Backspace"}


def key_name(key: str) -> str:
    """'ctrl+o' -> 'Ctrl+O', 'escape' -> 'Esc' (the first of several keys)."""
    first = key.split(",")[0].strip()
    return "+".join(KEY_WORDS.get(part, part.upper() if len(part) <= 3 else part.capitalize())
                    for part in first.split("+"))


def help_markdown(keys: Sequence[tuple[str, str]]) -> str:
    """The help text: commands, then keys."""
    lines = ["## Getting started", "",
             "1. Type a message and press Enter. Everything you say is remembered across chats.",
             "2. `/load PATH` (or Ctrl+L) adds a document: PDF, Markdown, text, HTML or code, or a folder.",
             "3. Ask about it. The line under the answer names the sources it drew on.",
             "4. Ctrl+T (or a click on that line) shows what the answer's prompt held; Enter on a ★ row "
             "opens the passage, with the sentences the answer used highlighted.",
             "5. Ctrl+G shows the people, places and things memchat learned, with their sources.", "",
             "## Commands", "", "Type them in the message box.", "", "| Command | What it does |", "|---|---|"]
    lines += [f"| `{command.usage}` | {command.help} |" for command in COMMANDS]
    lines += ["", "A command without its argument opens the panel where you pick it (`/load` opens Documents). "
              "Start a message with `//` to send text that begins with `/`.", "",
              "## Keys", "", "| Key | What it does |", "|---|---|"]
    lines += [f"| {key} | {what} |" for key, what in keys]
    lines += ["", "In the panels, the footer shows their keys (Enter opens, r renames, d deletes…)."]
    return "\n".join(lines)


class HelpScreen(Dialog[None]):
    """The commands and keys, scrollable."""

    DEFAULT_CSS = """
    HelpScreen > #dialog {
        width: 100;
        height: 90%;
    }
    HelpScreen VerticalScroll {
        height: 1fr;
    }
    """
    BINDINGS = [Binding("f1,q", "cancel", "Close")]

    def __init__(self, keys: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("memchat help", classes="title")
            with VerticalScroll():
                yield Markdown(help_markdown(self.keys), id="help-text")
            yield Static("Esc, q or F1: close · Up/Down, PgUp/PgDn: scroll", classes="hint")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
