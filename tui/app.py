"""The chat app: streaming Markdown answers, Esc to stop, sessions resumed by id.

Model loading and generation run in thread workers so typing and scrolling stay
responsive; chunks reach the screen through ``call_from_thread`` into a MarkdownStream.
"""

from __future__ import annotations

import threading

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Input, Markdown
from textual.widgets.markdown import MarkdownStream

from assistant.app import Assistant
from assistant.backends import ModelInfo
from assistant.chat import Reply
from assistant.errors import MemchatError
from tui.widgets import ChatMessage, StatusBar


class ChatApp(App):
    """memchat's terminal chat."""

    TITLE = "memchat"
    CSS = """
    #chat { height: 1fr; }
    #prompt { dock: bottom; margin: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "stop", "Stop answer"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, assistant: Assistant, session_key: str | None = None) -> None:
        super().__init__()
        self.assistant = assistant
        self.session = assistant.sessions.get(session_key) if session_key else None
        self.model_info: ModelInfo | None = None
        self.generating = False
        self._cancel: threading.Event | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield VerticalScroll(id="chat")
        yield StatusBar("Loading model…", id="status")
        yield Input(placeholder="Message memchat (Enter to send, Esc to stop)", id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#chat", VerticalScroll).anchor()
        if self.session is not None:
            self.sub_title = self.session.name
            chat = self.query_one("#chat", VerticalScroll)
            for message in self.assistant.sessions.messages(self.session.id):
                chat.mount(ChatMessage(message.role, message.content, status=message.status))
        self.query_one("#prompt", Input).focus()
        self.load_model()
        if self.assistant.settings.remember_chats:
            self.open_memory()

    @work(thread=True, exclusive=True, group="memory")
    def open_memory(self) -> None:
        """Load the embedding model and memory in the background, so new exchanges get embedded."""
        try:
            self.assistant.memory  # noqa: B018 - loads it
            self.assistant.memory_writer.submit()  # embed anything left pending by `memchat ask`
        except MemchatError as exc:
            self.call_from_thread(self._show_error, f"Memory is unavailable: {exc}")

    @work(thread=True, exclusive=True, group="load")
    def load_model(self) -> None:
        try:
            info = self.assistant.load_model()
        except MemchatError as exc:
            self.call_from_thread(self._show_error, str(exc))
            self.call_from_thread(self._set_status, f"No model: {exc}")
            return
        self.call_from_thread(self._model_ready, info)

    def _model_ready(self, info: ModelInfo) -> None:
        self.model_info = info
        self._set_status(f"{info.model} · {info.backend} on {info.device} · context {info.context_length:,} tokens")

    def _set_status(self, text: str) -> None:
        self.query_one("#status", StatusBar).update(text)

    def _show_error(self, message: str) -> None:
        self.notify(message, title="Error", severity="error", timeout=10)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value
        if not text.strip():
            return
        if self.model_info is None:
            self.notify("The model is still loading; try again in a moment.", severity="warning")
            return
        if self.generating:
            self.notify("Still answering; press Esc to stop first.", severity="warning")
            return
        event.input.value = ""
        if self.session is None:
            self.session = self.assistant.sessions.create(text.strip()[:60], model=self.model_info.model)
            self.sub_title = self.session.name
        chat = self.query_one("#chat", VerticalScroll)
        await chat.mount(ChatMessage("user", text))
        answer = ChatMessage("assistant", "")
        await chat.mount(answer)
        chat.anchor()
        self.generating = True
        self._cancel = threading.Event()
        stream = Markdown.get_stream(answer)  # must start on the app's event loop
        self.generate(self.session.id, text, answer, stream, self._cancel)

    @work(thread=True, exclusive=True, group="generate")
    def generate(
        self, session_id: str, text: str, answer: ChatMessage, stream: MarkdownStream, cancel: threading.Event
    ) -> None:
        reply: Reply | None = None
        try:
            reply = self.assistant.chat.send(session_id, text, cancel)
            for chunk in reply:
                self.call_from_thread(stream.write, chunk)
        except MemchatError as exc:
            self.call_from_thread(self._show_error, str(exc))
        finally:
            self.call_from_thread(stream.stop)
            self.call_from_thread(self._answer_done, answer, reply)

    async def _answer_done(self, answer: ChatMessage, reply: Reply | None) -> None:
        self.generating = False
        if reply is None:
            answer.add_class("error")
            await answer.update("_No answer: see the error above._")
            return
        await answer.update(reply.text)  # a full render guards against a fence cut mid-stream
        if reply.status != "complete":
            answer.add_class(reply.status)
        stats, info = reply.stats, self.model_info
        speed = f" · {stats.decode_tokens_per_s:.1f} tok/s" if stats.decode_tokens_per_s else ""
        if info is not None:
            self._set_status(
                f"{info.model} · {info.backend} on {info.device} · "
                f"{stats.prompt_tokens + stats.completion_tokens:,}/{info.context_length:,} tokens{speed}"
            )

    def action_stop(self) -> None:
        if self.generating and self._cancel is not None:
            self._cancel.set()
            self.notify("Stopped; the partial answer is kept.")

    async def action_new_chat(self) -> None:
        if self.generating:
            self.notify("Still answering; press Esc to stop first.", severity="warning")
            return
        self.session = None
        self.sub_title = ""
        await self.query_one("#chat", VerticalScroll).remove_children()
        self.notify("New chat.")
