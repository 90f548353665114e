"""The chat: streaming Markdown answers, Esc to stop, the prompt box, the status bar, and
the selected answer (what the context panel explains). Slash commands are in ``chat_commands``.

Generation runs in a thread worker; chunks reach the screen through ``call_from_thread``
into a MarkdownStream.
"""

from __future__ import annotations

import asyncio
import threading

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Footer, Header, Markdown
from textual.widgets.markdown import MarkdownStream

from assistant.backends import ModelInfo
from assistant.chat import Reply
from assistant.sessions import Session, session_title
from tui.background import background, reporting
from tui.format import sources_line
from tui.loading import LoadProgress
from tui.screens.chat_commands import BUSY, LOADING, ChatCommands
from tui.widgets import ChatMessage, Note, PromptInput, SourcesLine, StatusBar

SHOWN_MESSAGES = 200  # a resumed session shows its last messages; export it to read them all
WELCOME = """**Welcome to memchat.** Ask anything: answers draw on what you said in earlier chats and on the \
documents you load.

- `/load PATH` loads a file or folder; `/search QUERY` searches memory
- Ctrl+T shows what an answer's prompt held; Ctrl+G what memchat knows
- F1 or `/help` lists every command and key; Ctrl+P finds any action
"""


def with_sources(message: ChatMessage) -> list[Widget]:
    """The message, and under an answer the line naming its sources (if any matched)."""
    text = sources_line(message.meta) if message.role == "assistant" else ""
    return [message, SourcesLine(message, text)] if text else [message]


class ChatScreen(ChatCommands):
    """The conversation, the prompt box and the status bar."""

    BINDINGS = [
        Binding("escape", "stop", "Stop",
                tooltip="In the chat: stop the answer (keeping what was said) or a document load"),
        Binding("ctrl+n", "new_chat", "New", tooltip="Start a new chat"),
        Binding("alt+up", "select_answer(-1)", "Previous answer", show=False,
                tooltip="Select the previous answer (for the context panel; a click selects too)"),
        Binding("alt+down", "select_answer(1)", "Next answer", show=False, tooltip="Select the next answer"),
    ]
    DEFAULT_CSS = """
    ChatScreen #chat {
        height: 1fr;
    }
    """

    def __init__(self, session: Session | None = None) -> None:
        super().__init__()
        self.session = session
        self.generating = False  # the model is busy: an answer or a summary
        self.selected: ChatMessage | None = None
        self._cancel: threading.Event | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield VerticalScroll(id="chat")
        yield StatusBar(id="status")
        yield PromptInput(id="prompt")
        yield Footer(compact=True)

    async def on_mount(self) -> None:
        await self.show_session(self.session)
        self.prompt.focus()

    @property
    def chat(self) -> VerticalScroll:
        return self.query_one("#chat", VerticalScroll)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one("#prompt", PromptInput)

    @property
    def status(self) -> StatusBar:
        return self.query_one("#status", StatusBar)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.generating or any(loader.running for loader in self.query(LoadProgress))
        return True

    def model_ready(self, info: ModelInfo | None, problem: str | None = None) -> None:
        """The model loaded (or could not: ``problem`` says why)."""
        self.status.show(info=info, problem=problem)

    # -- the conversation ------------------------------------------------------------------------
    async def show_session(self, session: Session | None) -> None:
        """Show a stored chat where it left off, or a new empty one (``None``)."""
        self.session = session
        self.sub_title = session.name if session else "New chat"
        keep = [w for w in self.chat.children if isinstance(w, LoadProgress) and w.running]
        await self.chat.remove_children([w for w in self.chat.children if w not in keep])
        self.selected = None
        tail = self.assistant.sessions.tail(session.id, SHOWN_MESSAGES) if session else []
        widgets: list[Widget] = []
        if tail and tail[0][0] > 0:
            widgets.append(Note(f"_{tail[0][0]:,} earlier messages are not shown; export the chat "
                                "(Ctrl+O, then e) to read them all._"))
        for _, message in tail:
            widgets += with_sources(ChatMessage.stored(message))
        await self.chat.mount_all(widgets or [Note(WELCOME, id="welcome")])
        self.prompt.past_prompts = [m.content for _, m in tail if m.role == "user"]
        answers = self.answers
        self.select(answers[-1] if answers else None)
        meta = answers[-1].meta if answers else {}
        self.status.show(prompt_tokens=meta.get("prompt_tokens"), tokens_per_s=meta.get("decode_tokens_per_s"))
        self.chat.scroll_end(animate=False)
        self.chat.anchor()

    async def action_new_chat(self) -> None:
        if self.generating:
            self.notify(BUSY, severity="warning")
            return
        await self.show_session(None)
        self.prompt.focus()

    @reporting
    async def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        text = event.text
        if not text.strip():
            return
        if text.lstrip().startswith("/") and not text.lstrip().startswith("//"):
            self.prompt.remember(text)
            self.prompt.clear()
            await self.run_line(text.strip())
            return
        if self.memchat.model_info is None:
            self.notify(LOADING, severity="warning")
            return
        if self.generating:
            self.notify(BUSY, severity="warning")
            return
        self.prompt.remember(text)
        # cleared only once the message is on its way: should starting it fail (the database
        # busy, the disk full), the error is shown and what was typed stays in the box
        await self.send(text.removeprefix("/") if text.lstrip().startswith("//") else text)
        self.prompt.clear()

    async def send(self, text: str) -> None:
        """Show the message and stream the answer to it."""
        if self.session is None:  # off the event loop: a write may wait for another's lock
            self.session = await asyncio.to_thread(self.assistant.sessions.create, session_title(text),
                                                   model=self.memchat.model_info.model)
            self.sub_title = self.session.name
        await self.chat.query("#welcome").remove()
        answer = ChatMessage("assistant", "")
        await self.chat.mount_all([ChatMessage("user", text), answer])
        answer.loading = True  # until the first words come
        self.chat.anchor()
        cancel = self.set_busy(True)
        stream = Markdown.get_stream(answer)  # must start on the app's event loop
        self.generate(self.session.id, text, answer, stream, cancel)

    @background(thread=True, exclusive=True, group="generate")
    def generate(self, session_id: str, text: str, answer: ChatMessage, stream: MarkdownStream,
                 cancel: threading.Event) -> None:
        reply: Reply | None = None
        try:
            reply = self.assistant.chat.send(session_id, text, cancel)
            for chunk in reply:
                self.app.call_from_thread(self._show_words, answer, stream, chunk)
        finally:
            self.app.call_from_thread(stream.stop)
            self.app.call_from_thread(self._answer_done, answer, reply)

    @staticmethod
    async def _show_words(answer: ChatMessage, stream: MarkdownStream, chunk: str) -> None:
        answer.loading = False
        await stream.write(chunk)

    async def _answer_done(self, answer: ChatMessage, reply: Reply | None) -> None:
        try:
            await self._show_answer(answer, reply)
        finally:
            self.set_busy(False)

    async def _show_answer(self, answer: ChatMessage, reply: Reply | None) -> None:
        """The whole answer, its status and its numbers, once it is stored."""
        answer.loading = False
        if reply is None or (reply.message is None and not reply.text):
            answer.add_class("error")
            await answer.update("_No answer: see the error message._")
            return
        await answer.update(reply.text)  # a full render guards against a fence cut mid-stream
        if reply.status != "complete":
            answer.add_class(reply.status)
        if reply.message is not None:
            answer.message_id, answer.meta = reply.message.id, reply.message.meta
            self.select(answer)
            line = with_sources(answer)[1:]
            if line:
                await self.chat.mount(line[0], after=answer)
        self.status.show(prompt_tokens=reply.stats.prompt_tokens, tokens_per_s=reply.stats.decode_tokens_per_s)
        for warning in reply.warnings:
            self.notify(warning, title="Answered without part of its context", severity="warning")

    def set_busy(self, busy: bool) -> threading.Event | None:
        """Mark the model busy (answering or summarising) or free; returns the event that stops it."""
        self.generating = busy
        self._cancel = threading.Event() if busy else None
        self.refresh_bindings()
        return self._cancel

    def action_stop(self) -> None:
        if self.generating and self._cancel is not None:
            self._cancel.set()
            self.notify("Stopped; what was said so far is kept.")
            return
        for loader in self.query(LoadProgress):
            loader.cancel()

    def on_load_progress_finished(self, event: LoadProgress.Finished) -> None:
        self.refresh_bindings()

    async def add_note(self, markdown: str) -> Note:
        """Say something in the chat that is not part of the conversation."""
        note = Note(markdown)
        await self.add_to_chat(note)
        return note

    async def add_to_chat(self, widget: Widget) -> None:
        """Put a widget (a note, a load's progress) at the end of the chat."""
        await self.chat.query("#welcome").remove()
        await self.chat.mount(widget)
        self.chat.scroll_end(animate=False)

    # -- the selected answer (what the context panel explains) -----------------------------------
    @property
    def answers(self) -> list[ChatMessage]:
        """Stored answers on screen, oldest first."""
        return [m for m in self.query(ChatMessage) if m.role == "assistant" and m.message_id is not None]

    def select(self, answer: ChatMessage | None) -> None:
        if self.selected is not None:
            self.selected.remove_class("-selected")
        self.selected = answer
        if answer is not None:
            answer.add_class("-selected")

    def on_chat_message_selected(self, event: ChatMessage.Selected) -> None:
        if event.message in self.answers:
            self.select(event.message)

    def on_sources_line_clicked(self, event: SourcesLine.Clicked) -> None:
        if event.answer in self.answers:
            self.select(event.answer)
            self.memchat.action_context()

    def action_select_answer(self, step: int) -> None:
        answers = self.answers
        if not answers:
            return
        position = answers.index(self.selected) + step if self.selected in answers else len(answers) - 1
        self.select(answers[max(0, min(position, len(answers) - 1))])
        self.chat.scroll_to_widget(self.selected, animate=False)
