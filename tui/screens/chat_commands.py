"""What each slash command does in the chat (the table of commands is ``tui.commands``).

``ChatScreen`` inherits these; they use its conversation: ``chat``, ``add_note``,
``add_to_chat``, ``answers``, ``selected``/``select``, ``generating`` and ``set_busy``.
What touches memory or the model runs in a worker.
"""

from __future__ import annotations

import asyncio
import re
import inspect
import threading
from pathlib import Path

from assistant.app import ForgottenExchange
from assistant.errors import MemchatError
from tui.background import background, reporting
from tui.commands import Command, parse_command
from tui.format import model_markdown, one_line, plural, search_markdown
from tui.loading import LoadProgress
from tui.screens.dialogs import confirm
from tui.screens.panel import MemchatScreen
from tui.sources import memory_sources
from tui.widgets import ChatMessage, Note

BUSY = "Still answering; press Esc to stop first."
CODE_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
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
        hits = self.assistant.search(query, k=5)
        sources = self.assistant.describe_sources(hit.item.id for hit in hits)
        self.app.call_from_thread(self.add_note, search_markdown(query, hits, sources))

    def command_kg(self, arg: str) -> None:
        self.memchat.show_knowledge(arg)

    @background(group="forget")
    async def command_forget(self, arg: str) -> None:
        if not arg:
            self.forget_last_exchange()
            return
        item_id = parse_item_id(arg)
        [source] = await asyncio.to_thread(memory_sources, self.assistant, [item_id])
        if source.where == "forgotten":
            raise MemchatError(f"there is no memory item #{item_id}; /search shows the ids of memories")
        question = f"Forget memory #{item_id} ({source.where})?\n\n{one_line(source.text, 200)}"
        confirm(self.app, question, "Forget", lambda: self.forget_items([item_id]))

    def forget_last_exchange(self) -> None:
        """Ask, then forget the last exchange everywhere (see ``forget_exchange``)."""
        if self.generating:
            raise MemchatError(BUSY)
        if not self.answers:
            raise MemchatError("nothing to forget in this chat yet; /forget ITEM_ID forgets any memory "
                               "(/search shows their ids)")
        answer = self.answers[-1]
        question = ("Forget the last exchange? Your message and its answer leave this chat, long-term memory "
                    "and the knowledge graph.")
        confirm(self.app, question, "Forget", lambda: self.forget_exchange(answer))

    @background(group="forget")
    async def forget_items(self, ids: list[int]) -> None:
        """Remove memory items (and what the graph learnt from them)."""

        removed = await asyncio.to_thread(self.assistant.forget_memories, ids)
        self.notify(f"Forgot {plural(removed, 'memory item')}.")

    @background(group="forget")
    async def forget_exchange(self, answer: ChatMessage) -> None:
        """Forget an answer and the message it replied to: from the session, memory and the
        graph, then from the screen."""
        forgotten = await self._drop_exchange(answer)
        self.notify(f"Forgot the exchange ({plural(forgotten.memory_items, 'memory item')}).")

    async def _drop_exchange(self, answer: ChatMessage) -> ForgottenExchange:
        """Forget the exchange that ``answer`` ends, everywhere, and take it off the screen."""
        assert answer.message_id is not None
        forgotten = await asyncio.to_thread(self.assistant.forget_exchange, answer.message_id)
        question = question_before(self, answer)
        gone = [answer, question] if question is not None and len(forgotten.message_ids) == 2 else [answer]
        attached = [w for w in self.chat.children if getattr(w, "answer", None) in gone]  # e.g. its sources line
        await self.chat.remove_children([*gone, *attached])
        if question is not None:  # Up in the prompt box no longer brings it back
            self.prompt.past_prompts = [text for text in self.prompt.past_prompts if text != question.source]
        if self.selected in gone:
            self.select(self.answers[-1] if self.answers else None)
        if self.session is not None and self.session.id == forgotten.session_id:  # its name may have changed
            self.session = await asyncio.to_thread(self.assistant.sessions.get, forgotten.session_id)
            self.sub_title = self.session.name
        return forgotten

    async def command_retry(self, arg: str) -> None:
        if self.generating:
            raise MemchatError(BUSY)
        if self.memchat.model_info is None:
            raise MemchatError(LOADING)
        if not self.answers:
            raise MemchatError("no answer to retry yet")
        answer = self.answers[-1]
        question = question_before(self, answer)
        if question is None:
            raise MemchatError("the last answer's message is not on screen; send it again")
        self.set_busy(True)  # nothing else may start while the old exchange goes
        self.retry(answer, question.source)

    @background(group="forget")
    async def retry(self, answer: ChatMessage, text: str) -> None:
        """Forget the last exchange and ask its message again (a new answer, stored instead)."""
        try:
            await self._drop_exchange(answer)
        finally:
            self.set_busy(False)
        await self.send(text)

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
        text = "_No summary: see the error message._"
        try:
            document = self.assistant.find_document(key)
            name = Path(document.path).name
            progress = f"Summarising **{name}**: {{}} of about {{}} model calls… (Esc stops)"
            summary = self.assistant.summarize_document(
                document, cancel=cancel.is_set,
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

    def chosen_answer(self) -> ChatMessage | None:
        """The answer a command acts on: the selected one, else the latest (None: no answer yet)."""
        return self.selected if self.selected is not None else (self.answers[-1] if self.answers else None)

    async def command_branch(self, arg: str) -> None:
        if self.generating:
            raise MemchatError(BUSY)
        answer = self.chosen_answer()
        if answer is None or answer.message_id is None or self.session is None:
            raise MemchatError("no answer to branch from yet")
        original = self.session
        branch = await asyncio.to_thread(self.assistant.sessions.branch, original.id, answer.message_id,
                                         arg.strip() or None)
        await self.show_session(branch)
        self.notify(f"A new chat goes on from the selected answer; “{original.name}” is kept as it was "
                    "(Ctrl+O switches).", title="Branched")

    def command_copy(self, arg: str) -> None:
        answer = self.chosen_answer()
        if answer is None:
            raise MemchatError("no answer to copy yet")
        text = answer.source
        if arg.strip() == "code":
            blocks = CODE_BLOCK.findall(text)
            if not blocks:
                raise MemchatError("the selected answer has no code block; /copy copies all of it")
            text = blocks[-1]
        elif arg.strip():
            raise MemchatError("/copy takes nothing or 'code'")
        self.app.copy_to_clipboard(text)
        what = "its last code block" if arg.strip() == "code" else "the answer"
        self.notify(f"Copied {what} ({plural(len(text), 'character')}). Alt+Up/Down selects another answer.")

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


def question_before(screen: ChatCommands, answer: ChatMessage) -> ChatMessage | None:
    """The user's message shown just before ``answer`` (None when there is none)."""
    messages = list(screen.query(ChatMessage))
    position = messages.index(answer) if answer in messages else 0
    return messages[position - 1] if position > 0 and messages[position - 1].role == "user" else None


def parse_item_id(text: str) -> int:
    """'12', '#12' or 'm12' -> 12."""
    digits = text.strip().lstrip("#").removeprefix("m")
    if not digits.isdigit():
        raise MemchatError(f"'{text}' is not a memory item id; /search shows ids like #12")
    return int(digits)

