"""The documents panel: what is loaded (size, passages); load a file or folder by path or
with the file picker, with a progress bar (cancelable); remove or summarise a document."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, DirectoryTree, Input, Label, Static

from tui.background import background
from tui.commands import BY_NAME
from tui.format import day, human_size, plural
from tui.loading import CANCEL_NOTE, LoadProgress
from tui.screens.dialogs import Dialog, confirm
from tui.screens.panel import Panel, cursor_key, restore_cursor

if TYPE_CHECKING:
    from assistant.records import Document

EMPTY = ("No documents loaded yet. Type the path of a file or folder above and press Enter, or press "
         "Ctrl+B to browse. memchat reads text, Markdown, PDF, HTML and source code.")


class FilePicker(Dialog[Path | None]):
    """Pick a file or folder to load."""

    DEFAULT_CSS = """
    FilePicker > #dialog {
        width: 90%;
        height: 90%;
    }
    FilePicker DirectoryTree {
        height: 1fr;
    }
    """
    BINDINGS = [
        Binding("l", "choose", "Load the highlighted file or folder"),
        Binding("backspace", "up", "Parent folder"),
    ]

    def __init__(self, start: Path) -> None:
        super().__init__()
        self.start = start

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Load a file or folder", classes="title")
            yield Static(str(self.start), id="picked")
            yield DirectoryTree(self.start)
            yield Static("Enter: load a file, open a folder · l: load the highlighted file or folder · "
                         "Backspace: parent folder · Esc: cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one(DirectoryTree).focus()

    @property
    def highlighted(self) -> Path:
        node = self.query_one(DirectoryTree).cursor_node
        return node.data.path if node is not None and node.data is not None else self.start

    def on_tree_node_highlighted(self) -> None:
        self.query_one("#picked", Label).update(str(self.highlighted))

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(event.path)

    def action_choose(self) -> None:
        self.dismiss(self.highlighted)

    def action_up(self) -> None:
        tree = self.query_one(DirectoryTree)
        tree.path = Path(tree.path).resolve().parent
        self.query_one("#picked", Label).update(str(tree.path))


class DocumentTable(DataTable):
    """Loaded documents; the keys act on the selected one."""

    BINDINGS = [
        Binding("s", "screen.summarize", "Summarise"),
        Binding("d,delete", "screen.remove", "Remove"),
    ]


class DocumentsScreen(Panel):
    """Loaded documents, and loading more."""

    SUB_TITLE = "Documents"
    DEFAULT_CSS = """
    DocumentsScreen #doc-bar {
        height: auto;
        margin: 0 1;
    }
    DocumentsScreen #doc-path {
        width: 1fr;
    }
    DocumentsScreen #doc-loads {
        height: auto;
    }
    DocumentsScreen DataTable {
        height: 1fr;
    }
    DocumentsScreen #doc-empty {
        padding: 1 2;
        color: $text-muted;
    }
    DocumentsScreen #doc-hint {
        padding: 0 1;
        color: $text-muted;
    }
    """
    BINDINGS = [Binding("ctrl+b", "browse", "Browse")]

    def __init__(self) -> None:
        super().__init__()
        self.documents: list[Document] = []

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="doc-bar"):
            yield Input(placeholder="Path of a file or folder to load, then Enter", id="doc-path")
            yield Button("Browse…", id="browse")
        yield Vertical(id="doc-loads")
        yield DocumentTable(id="documents", cursor_type="row", zebra_stripes=True)
        yield Static("Reading the list of documents…", id="doc-empty")
        yield Static("Tab moves between the path and the list; in the list, s summarises and d removes the "
                     "selected document.", id="doc-hint")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Document", "Size", "Passages", "Loaded")
        self.query_one("#doc-path", Input).focus()

    def on_screen_resume(self) -> None:
        self.refresh_list()

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    @background(exclusive=True, group="documents")
    async def refresh_list(self) -> None:
        def documents() -> list[Document]:
            self.assistant.open_memory()  # with the graph, before any load starts (see Runtime.open_memory)
            return self.assistant.documents()

        self.documents = await asyncio.to_thread(documents)
        table = self.table
        keep = cursor_key(table)
        table.clear()
        for document in self.documents:
            table.add_row(Path(document.path).name, human_size(document.size), f"{document.chunks:,}",
                          day(document.loaded_at), key=str(document.id))
        table.display = self.query_one("#doc-hint").display = bool(self.documents)
        self.query_one("#doc-empty", Static).update(EMPTY)
        self.query_one("#doc-empty").display = not self.documents
        restore_cursor(table, [str(d.id) for d in self.documents], keep)

    # -- loading -------------------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.load(Path(event.value.strip().strip("\"'")))
            event.input.value = ""

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "browse":
            self.action_browse()

    def action_browse(self) -> None:
        self.app.push_screen(FilePicker(Path.cwd()), lambda path: self.load(path) if path else None)

    def load(self, path: Path) -> None:
        """Load a file or folder, showing its progress here."""
        loads = self.query_one("#doc-loads")
        for done in [loader for loader in loads.query(LoadProgress) if not loader.running]:
            done.remove()
        loads.mount(LoadProgress([path]))
        self.notify(f"Loading {path}. You can cancel: {CANCEL_NOTE}.")

    def on_load_progress_finished(self, event: LoadProgress.Finished) -> None:
        self.refresh_list()

    # -- the selected document -----------------------------------------------------------------------
    def _selected(self) -> Document | None:
        key = cursor_key(self.table)
        return next((d for d in self.documents if str(d.id) == key), None) if key else None

    def action_remove(self) -> None:
        document = self._selected()
        if document is not None:
            confirm(self.app, f"Remove {Path(document.path).name} and its {plural(document.chunks, 'passage')} "
                    "from memory? What the knowledge graph learned from it goes too.", "Remove",
                    lambda: self.remove_document(document))

    @background(group="documents-edit")
    async def remove_document(self, document: Document) -> None:
        await asyncio.to_thread(self.assistant.forget_document, document)
        self.notify(f"Removed {Path(document.path).name}.")
        self.refresh_list()

    async def action_summarize(self) -> None:
        document = self._selected()
        if document is not None:
            self.memchat.back_to_chat()
            await self.memchat.chat_screen.run_command(BY_NAME["summarize"], str(document.id))
