"""The sessions panel: every chat, most recent first; open, start, rename, delete, export."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from assistant.errors import MemchatError
from assistant.export import export_session
from assistant.sessions import Session, SessionStore
from tui.background import background
from tui.format import one_line, plural
from tui.screens.dialogs import DeleteChatDialog, ask
from tui.screens.panel import Panel, cursor_key, restore_cursor


def export_path(session: Session, where: str | None = None) -> Path:
    """Where an export goes: ``where`` (a file, or a folder to put it in), else the current folder."""
    slug = re.sub(r"[^\w-]+", "-", session.name.lower()).strip("-")[:40] or "chat"
    default = f"memchat-{slug}-{session.id}.md"
    if not where:
        return Path.cwd() / default
    path = Path(where).expanduser()
    return path / default if path.is_dir() else path


def write_export(sessions: SessionStore, session: Session, path: Path) -> Path:
    """Write the session as Markdown; a clear error when the file cannot be written."""
    text = export_session(session, sessions.messages(session.id), "markdown")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise MemchatError(f"cannot write {path}: {exc.strerror or exc}; choose another path") from exc
    return path.resolve()


NO_CHATS = "No chats yet. Press n (or Ctrl+N in the chat) to start one."


class SessionTable(DataTable):
    """The chats; Enter opens one."""

    BINDINGS = [Binding("enter", "select_cursor", "Open")]


class SessionsScreen(Panel):
    """Switch between chats, and manage them."""

    SUB_TITLE = "Sessions"
    DEFAULT_CSS = """
    SessionsScreen DataTable {
        height: 1fr;
    }
    SessionsScreen #sessions-filter {
        margin: 0 1;
    }
    SessionsScreen #sessions-empty {
        padding: 1 2;
        color: $text-muted;
    }
    """
    BINDINGS = [
        Binding("n", "new", "New"),
        Binding("r", "rename", "Rename"),
        Binding("d,delete", "delete", "Delete"),
        Binding("e", "export", "Export"),
        Binding("slash", "filter", "Filter", show=False,
                tooltip="In the sessions panel: find chats by name or words in them"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="/ finds chats by name or by words said in them", id="sessions-filter")
        yield SessionTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield Static(NO_CHATS, id="sessions-empty", markup=False)

    def on_mount(self) -> None:
        self.table.add_columns("", "Chat", "Messages", "Last active")

    def on_screen_resume(self) -> None:
        self.refresh_list()
        self.table.focus()

    @property
    def table(self) -> DataTable:
        return self.query_one("#sessions", DataTable)

    @property
    def current(self) -> Session | None:
        """The session under the cursor."""
        key = cursor_key(self.table)
        try:
            return self.assistant.sessions.get(key) if key else None
        except MemchatError:  # deleted meanwhile (by another memchat)
            self.refresh_list()
            return None

    def action_filter(self) -> None:
        self.query_one("#sessions-filter", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refresh_list(delay=0.2)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    @background(exclusive=True, group="sessions")
    async def refresh_list(self, select: str | None = None, delay: float = 0.0) -> None:
        """List the chats (those matching the filter); the cursor stays on ``select`` or where it was."""
        if delay:
            await asyncio.sleep(delay)  # typing: wait for a pause
        matching = self.query_one("#sessions-filter", Input).value
        sessions = await asyncio.to_thread(self.assistant.sessions.list, None, matching)
        shown = self.memchat.chat_screen.session
        table = self.table
        keep = select or cursor_key(table) or (shown.id if shown else None)
        table.clear()
        for session in sessions:
            mark = "●" if shown is not None and shown.id == session.id else ""
            table.add_row(mark, one_line(session.name, 40), str(session.message_count),
                          session.updated_at[:16].replace("T", " "), key=session.id)
        empty = self.query_one("#sessions-empty", Static)
        empty.update(f"No chat matches “{matching.strip()}”." if matching.strip() else NO_CHATS)
        empty.display = not sessions
        table.display = bool(sessions)
        restore_cursor(table, [s.id for s in sessions], keep)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        session = self.current
        if session is not None:
            self.memchat.open_session(session.id)

    async def action_new(self) -> None:
        self.memchat.back_to_chat()
        await self.memchat.chat_screen.action_new_chat()

    def action_rename(self) -> None:
        session = self.current
        if session is not None:
            ask(self.app, f"New name for “{session.name}”:", session.name, lambda name: self.rename(session, name))

    @background(group="sessions-edit")
    async def rename(self, session: Session, name: str) -> None:
        renamed = await asyncio.to_thread(self.assistant.sessions.rename, session.id, name)
        chat = self.memchat.chat_screen
        if chat.session is not None and chat.session.id == renamed.id:
            chat.session = renamed
            chat.sub_title = renamed.name
        self.refresh_list(select=renamed.id)

    def action_delete(self) -> None:
        session = self.current
        if session is not None:
            messages = plural(session.message_count, "message")
            question = (f"Delete the chat “{session.name}” and its {messages}? This cannot be undone. What "
                        "long-term memory and the knowledge graph learnt only from it goes too, unless kept.")
            self.app.push_screen(DeleteChatDialog(question),
                                 lambda keep: self.delete(session, keep) if keep is not None else None)

    @background(group="sessions-edit")
    async def delete(self, session: Session, keep_memories: bool = False) -> None:
        _, removed = await asyncio.to_thread(self.assistant.delete_session, session.id, keep_memories)
        chat = self.memchat.chat_screen
        if chat.session is not None and chat.session.id == session.id:
            await chat.show_session(None)
        forgot = f", and {plural(removed, 'memory item')} learnt from it" if removed else ""
        self.notify(f"Deleted “{session.name}”{forgot}.")
        self.refresh_list()

    def action_export(self) -> None:
        session = self.current
        if session is not None:
            ask(self.app, f"Export “{session.name}” as Markdown to (a file or folder):",
                str(export_path(session)), lambda where: self.export(session, where))

    @background(group="sessions-edit")
    async def export(self, session: Session, where: str) -> None:
        path = await asyncio.to_thread(write_export, self.assistant.sessions, session, export_path(session, where))
        self.notify(f"Exported to {path}", title="Exported", timeout=8)
