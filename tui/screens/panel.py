"""Bases of the app's screens: access to the app and the assistant; the full-screen panels
shown over the chat (header, body, footer; Esc goes back)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header

if TYPE_CHECKING:
    from assistant.app import Assistant
    from tui.app import ChatApp


class MemchatScreen(Screen[None]):
    """A screen of the memchat app."""

    @property
    def memchat(self) -> ChatApp:
        return cast("ChatApp", self.app)

    @property
    def assistant(self) -> Assistant:
        return self.memchat.assistant


class Panel(MemchatScreen):
    """A panel over the chat: subclasses yield their widgets from ``compose_body``."""

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="In a panel: back to the chat"),
        # the keys to the other panels work here too, but only the chat's footer lists them
        *(Binding(key, f"app.{action}", show=False) for key, action in (
            ("ctrl+o", "panel('sessions')"), ("ctrl+t", "context"), ("ctrl+g", "panel('knowledge')"),
            ("ctrl+l", "panel('documents')"))),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def action_back(self) -> None:
        self.memchat.back_to_chat()


def cursor_key(table: DataTable) -> str | None:
    """The key of the row under the table's cursor (None when the table is empty)."""
    if not table.row_count:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value


def restore_cursor(table: DataTable, keys: list[str], key: str | None) -> None:
    """Put the cursor back on the row ``key`` after the table was refilled."""
    if key in keys:
        table.move_cursor(row=keys.index(key), animate=False)
