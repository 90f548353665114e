"""What each slash command does in the chat (the table of commands is ``tui.commands``).

``ChatScreen`` inherits these; they use its conversation: ``add_note``, ``add_to_chat``,
``answers``, ``generating`` and ``set_busy``. What touches memory or the model runs in a worker.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import MemchatError
from tui.background import background, reporting
from tui.commands import Command, parse_command
from tui.format import model_markdown, one_line, plural, search_markdown
from tui.loading import LoadProgress
from tui.screens.dialogs import confirm
from tui.screens.panel import MemchatScreen
from tui.sources import memory_sources, session_names
from tui.widgets import ChatMessage, Note

if TYPE_CHECKING:
    from assistant.app import Assistant
    from memory.documents import Document
    from memory.store import MemoryStore

BUSY = "Still answering; press Esc to stop first."
LOADING = "The model is still loading; try again in a moment."


class ChatCommands(MemchatScreen):
    """The slash commands: ``command_NAME(arg)`` runs ``/NAME arg``."""

    @reporting
    async def run_line(self, line: str) -> None:
        """Run a typed slash command."""
        await self.run_command(*parse_command(line))

    @reporting
    async def run_command(self, command: Command, arg: str) -> None:
        result = getattr(self, f"command_{command.name}")(arg)
        if inspect.isawaitable(result):
            await result

    async def command_load(self, arg: str) -> None:
        if not arg:
            self.memchat.show_panel("documents")
            return
        await self.add_to_chat(LoadProgress([Path(arg)]))
        self.refresh_bindings()

    @background(thread=True, group="search")
    def command_search(self, query: str) -> None:
        if not query:
            raise MemchatError("say what to look for: /search QUERY")
        from memory.retrieval import SearchOptions, search

        hits = search(self.assistant.memory, query, SearchOptions(k=5))
        names = session_names(self.assistant, (hit.item.session_id for hit in hits))
        self.app.call_from_thread(self.add_note, search_markdown(query, hits, names))

    def command_kg(self, arg: str) -> None:
        self.memchat.show_knowledge(arg)

    @background(group="forget")
    async def command_forget(self, arg: str) -> None:
        answer: ChatMessage | None = None
        if arg:
            item_id = parse_item_id(arg)
            [source] = await asyncio.to_thread(memory_sources, self.assistant, [item_id])
            if source.where == "forgotten":
                raise MemchatError(f"there is no memory item #{item_id}; /search shows the ids of memories")
            ids = [item_id]
            question = f"Forget memory #{item_id} ({source.where})?\n\n{one_line(source.text, 200)}"
        else:
            if not self.answers:
                raise MemchatError("nothing to forget in this chat yet; /forget ITEM_ID forgets any memory "
                                   "(/search shows their ids)")
            answer = self.answers[-1]
            message_id = answer.message_id
            ids = await asyncio.to_thread(lambda: items_of_message(self.assistant.memory, message_id))
            if not ids:
                raise MemchatError("the last exchange is not in long-term memory (is remember_chats off?)")
            question = ("Forget the last exchange? It leaves long-term memory and the knowledge graph; "
                        "this chat still shows it.")
        confirm(self.app, question, "Forget", lambda: self.forget(ids, answer))

    @background(group="forget")
    async def forget(self, ids: list[int], answer: ChatMessage | None) -> None:
        removed = await asyncio.to_thread(forget_items, self.assistant, ids)
        if answer is not None:
            answer.add_class("-forgotten")
        self.notify(f"Forgot {plural(removed, 'memory item')}.")

    async def command_summarize(self, arg: str) -> None:
        if not arg:
            self.memchat.show_panel("documents")
            self.notify("Select a document and press s to summarise it.")
            return
        if self.generating:
            self.notify(BUSY, severity="warning")
            return
        if self.memchat.model_info is None:
            self.notify(LOADING, severity="warning")
            return
        note = await self.add_note(f"Summarising **{arg}**… (Esc stops)")
        self.summarize(arg, note, self.set_busy(True))

    @background(thread=True, group="generate")
    def summarize(self, key: str, note: Note, cancel: threading.Event) -> None:
        from assistant.doc_summary import summarize_document

        text = "_No summary: see the error message._"
        try:
            store = self.assistant.memory
            document = find_loaded_document(store, key)
            name = Path(document.path).name
            progress = f"Summarising **{name}**: {{}} of about {{}} model calls… (Esc stops)"
            summary = summarize_document(
                self.assistant.backend, store, document, cancel=cancel.is_set,
                progress=lambda done, total: self.app.call_from_thread(note.update, progress.format(done, total)))
            text = f"**Summary of {name}** (stored in memory, so answers can use it)\n\n{summary.text}"
        except MemchatError:
            if not cancel.is_set():
                raise
            text = "_Summary stopped._"
        finally:
            self.app.call_from_thread(self._summary_done, note, text)

    async def _summary_done(self, note: Note, text: str) -> None:
        try:
            await note.update(text)
            self.chat.scroll_end(animate=False)
        finally:
            self.set_busy(False)

    async def command_new(self, arg: str) -> None:
        await self.action_new_chat()

    def command_sessions(self, arg: str) -> None:
        self.memchat.show_panel("sessions")

    def command_docs(self, arg: str) -> None:
        self.memchat.show_panel("documents")

    def command_context(self, arg: str) -> None:
        self.memchat.action_context()

    async def command_model(self, arg: str) -> None:
        await self.add_note(model_markdown(self.memchat.model_info, self.assistant.settings))

    def command_help(self, arg: str) -> None:
        self.memchat.action_help()


def parse_item_id(text: str) -> int:
    """'12', '#12' or 'm12' -> 12."""
    digits = text.strip().lstrip("#").removeprefix("m")
    if not digits.isdigit():
        raise MemchatError(f"'{text}' is not a memory item id; /search shows ids like #12")
    return int(digits)


def items_of_message(store: MemoryStore, message_id: int | None) -> list[int]:
    """The memory items made from a stored answer (its exchange)."""
    with store.lock:
        rows = store.db.execute("SELECT id FROM memory_items WHERE message_id = ?", [message_id]).fetchall()
    return [row[0] for row in rows]


def forget_items(assistant: Assistant, ids: list[int]) -> int:
    """Remove memory items (and what the graph learned from them); returns how many went."""
    store = assistant.memory
    removed = store.delete(ids)
    store.save_index()
    return removed


def find_loaded_document(store: MemoryStore, key: str) -> Document:
    """A loaded document by id, path or file name."""
    from memory.documents import find_document, list_documents

    try:
        return find_document(store, key)
    except MemchatError:
        named = [d for d in list_documents(store) if key in (Path(d.path).name, d.title)]
        if len(named) == 1:
            return named[0]
        if named:
            raise MemchatError(f"{len(named)} loaded documents are called {key}; use the id shown by "
                               "Ctrl+L") from None
        raise MemchatError(f"no loaded document '{key}'; Ctrl+L lists them, /load PATH adds one") from None
