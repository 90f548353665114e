"""Widgets of the chat screen: one message, and the status bar."""

from __future__ import annotations

from textual.widgets import Markdown, Static


class ChatMessage(Markdown):
    """One turn of the conversation, rendered as Markdown."""

    DEFAULT_CSS = """
    ChatMessage {
        margin: 0 1 1 1;
        padding: 0 1;
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
    """

    def __init__(self, role: str, text: str = "", *, status: str = "complete") -> None:
        classes = role if status == "complete" else f"{role} {status}"
        super().__init__(text, classes=classes)
        self.role = role


class StatusBar(Static):
    """Model, device, context use and speed of the last answer."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """
