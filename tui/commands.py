"""The slash commands typed in the prompt, and the same actions in the command palette (Ctrl+P).

One table, ``COMMANDS``, feeds the parser, /help and the palette. A command whose argument
is left out opens the panel where it can be chosen instead (``/load`` opens Documents).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from assistant.errors import MemchatError

if TYPE_CHECKING:
    from tui.app import ChatApp


@dataclass(frozen=True)
class Command:
    name: str
    arg: str  # how the argument is written in /help: "PATH", "[NAME]" (optional) or ""
    title: str  # what the palette lists
    help: str
    panel: str | None = None  # opened when the argument is left out

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.arg}".rstrip()

    @property
    def needs_arg(self) -> bool:
        return bool(self.arg) and not self.arg.startswith("[")


COMMANDS: tuple[Command, ...] = (
    Command("load", "PATH", "Load documents", "Load a file or folder into memory (Esc cancels).", "documents"),
    Command("search", "QUERY", "Search memory", "Search chats and documents, best matches first."),
    Command("kg", "[NAME]", "Knowledge graph", "Open the knowledge panel (on NAME): facts, sources, edits.",
            "knowledge"),
    Command("forget", "[ITEM_ID]", "Forget the last exchange",
            "Remove the last exchange from the chat, memory and graph (or memory item ITEM_ID)."),
    Command("summarize", "DOC", "Summarise a document", "Summarise a loaded document (path, file name or id).",
            "documents"),
    Command("retry", "", "Retry the last answer",
            "Ask the last message again: its answer is forgotten and a new one written."),
    Command("branch", "[NAME]", "Branch the chat",
            "A new chat with this one's turns up to the selected answer, to go on another way."),
    Command("copy", "[code]", "Copy the selected answer",
            "Copy the selected answer to the clipboard (`/copy code`: its last code block only)."),
    Command("new", "", "New chat", "Start a new chat."),
    Command("sessions", "", "Sessions", "Switch, rename, delete or export chats.", "sessions"),
    Command("docs", "", "Documents", "Loaded documents: load, browse, remove, summarise.", "documents"),
    Command("context", "", "Context of the selected answer",
            "What the selected answer's prompt held: memories, facts, summary, turns."),
    Command("model", "", "Model information", "Show the model, its device and context length."),
    Command("help", "", "Help", "List the commands and keys."),
)
BY_NAME = {command.name: command for command in COMMANDS}


def parse_command(line: str) -> tuple[Command, str]:
    """'/load notes.md' -> (the load command, 'notes.md'); unknown commands raise MemchatError."""
    name, _, arg = line.strip().removeprefix("/").partition(" ")
    command = BY_NAME.get(name.lower())
    if command is None:
        raise MemchatError(f"unknown command /{name}; type /help for the list (start with // to send a "
                           "message that begins with /)")
    return command, arg.strip().strip("\"'")


class MemchatCommands(Provider):
    """memchat's actions in Textual's command palette."""

    async def discover(self) -> Hits:
        for command in COMMANDS:
            yield DiscoveryHit(command.title, self._runner(command), help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in COMMANDS:
            for text in (command.title, command.usage):
                score = matcher.match(text)
                if score > 0:
                    yield Hit(score, matcher.highlight(text), self._runner(command), text=command.title,
                              help=command.help)
                    break

    def _runner(self, command: Command) -> partial[object]:
        return partial(cast("ChatApp", self.app).run_palette_command, command)
