"""Widgets of the chat screen: a message, a note, the prompt box and the status bar."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.message import Message
from textual.widgets import Markdown, Static, TextArea

from assistant.backends import ModelInfo
from assistant.sessions import Message as StoredMessage
from tui.format import status_line


class ChatMessage(Markdown):
    """One turn of the conversation, rendered as Markdown; click an answer to select it."""

    DEFAULT_CSS = """
    ChatMessage {
        margin: 0 1 1 1;
        padding: 0 1;
        min-height: 1;
    }
    ChatMessage.user {
        border-left: thick $primary;
        background: $boost;
    }
    ChatMessage.assistant {
        border-left: thick $success;
    }
    ChatMessage.interrupted {
        border-left: thick $warning;
    }
    ChatMessage.error {
        border-left: thick $error;
    }
    ChatMessage.-selected {
        background: $accent 12%;
    }
    ChatMessage.-sourced {
        margin: 0 1;
    }
    """

    class Selected(Message):
        """The user clicked this message."""

        def __init__(self, message: ChatMessage) -> None:
            super().__init__()
            self.message = message

    def __init__(self, role: str, text: str = "", *, status: str = "complete", message_id: int | None = None,
                 meta: dict[str, Any] | None = None) -> None:
        classes = role if status == "complete" else f"{role} {status}"
        super().__init__(text, classes=classes)
        self.role = role
        self.message_id = message_id  # the stored message, once there is one
        self.meta: dict[str, Any] = meta or {}

    @classmethod
    def stored(cls, message: StoredMessage) -> ChatMessage:
        """The widget for a message read back from the session store."""
        return cls(message.role, message.content, status=message.status, message_id=message.id, meta=message.meta)

    def on_click(self, event: events.Click) -> None:
        self.post_message(self.Selected(self))


class SourcesLine(Static):
    """Under an answer: the documents, chats and facts it drew on; a click explains it."""

    DEFAULT_CSS = """
    SourcesLine {
        margin: 0 1 1 1;
        padding: 0 1 0 2;
        color: $text-muted;
        text-style: italic;
    }
    SourcesLine:hover {
        color: $text;
    }
    """

    class Clicked(Message):
        """The user clicked the line of ``answer``."""

        def __init__(self, answer: ChatMessage) -> None:
            super().__init__()
            self.answer = answer

    def __init__(self, answer: ChatMessage, text: str) -> None:
        super().__init__(text, markup=False)
        self.answer = answer
        answer.add_class("-sourced")

    def on_click(self, event: events.Click) -> None:
        self.post_message(self.Clicked(self.answer))


class Note(Markdown):
    """Something memchat says that is not part of the conversation (search results, help, outcomes)."""

    DEFAULT_CSS = """
    Note {
        margin: 0 1 1 1;
        padding: 0 1;
        border-left: thick $secondary;
    }
    """


class StatusBar(Static):
    """Model, device, how much of the context the last answer's prompt used, and its speed."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $foreground;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(status_line(None), id=id, markup=False)
        self.info: ModelInfo | None = None
        self.prompt_tokens: int | None = None
        self.tokens_per_s: float | None = None
        self.problem: str | None = None

    def show(self, **values: Any) -> None:
        """Change some of ``info``, ``prompt_tokens``, ``tokens_per_s``, ``problem`` and redraw."""
        for name, value in values.items():
            setattr(self, name, value)
        self.update(status_line(self.info, self.prompt_tokens, self.tokens_per_s, self.problem))


class PromptInput(TextArea):
    """The message box: Enter sends, Shift+Enter or Ctrl+J starts a new line, Up and Down
    (on the first or last line) recall earlier prompts. Pasted text keeps its lines."""

    KEYS = (
        ("Enter", "Send the message (or run the /command)"),
        ("Shift+Enter, Ctrl+J", "New line in the message"),
        ("Up, Down", "Earlier / later prompts (from the first / last line of the box)"),
    )
    DEFAULT_CSS = """
    PromptInput {
        height: auto;
        max-height: 10;
        margin: 0 1;
    }
    """

    class Submitted(Message):
        """Enter was pressed: ``text`` is what the box holds."""

        def __init__(self, prompt: PromptInput, text: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, soft_wrap=True, show_line_numbers=False, highlight_cursor_line=False,
                         placeholder="Message memchat · Enter sends · Shift+Enter or Ctrl+J: new line · /help")
        self.past_prompts: list[str] = []
        self._recalled: int | None = None  # position in history while browsing it
        self._draft = ""

    def remember(self, text: str) -> None:
        """Add a sent prompt to the history (Up recalls it)."""
        if text.strip() and (not self.past_prompts or self.past_prompts[-1] != text):
            self.past_prompts.append(text)
        self._recalled = None

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            self._consume(event)
            self.post_message(self.Submitted(self, self.text))
        elif event.key in ("shift+enter", "ctrl+j"):
            self._consume(event)
            self.insert("\n")
        elif event.key == "up" and self.cursor_location[0] == 0 and self._recall(-1):
            self._consume(event)
        elif event.key == "down" and self.cursor_location[0] == self.document.line_count - 1 and self._recall(1):
            self._consume(event)

    @staticmethod
    def _consume(event: events.Key) -> None:
        event.stop()
        event.prevent_default()

    def _recall(self, step: int) -> bool:
        """Show the previous (-1) or next (+1) prompt; False when there is none that way."""
        if not self.past_prompts:
            return False
        if self._recalled is None:
            if step > 0:
                return False
            self._draft, position = self.text, len(self.past_prompts) - 1
        else:
            position = self._recalled + step
        if position < 0:
            return True  # at the oldest: stay
        if position >= len(self.past_prompts):
            self._recalled = None
            self.load_text(self._draft)
        else:
            self._recalled = position
            self.load_text(self.past_prompts[position])
        self.move_cursor(self.document.end if step > 0 else (0, len(self.document[0])))
        return True
