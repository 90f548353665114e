"""memchat's Textual app: the chat, its panels, keys and command palette over one ``Assistant``.

The model and the memory (embedding model) load in thread workers when the app starts, so
the chat is usable at once; panels are kept when closed, so a document load goes on while
you chat.
"""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen, Screen

from assistant.app import Assistant
from assistant.backends import ModelInfo
from assistant.errors import MemchatError
from tui.background import background
from tui.commands import Command, MemchatCommands
from tui.screens.chat import ChatScreen
from tui.screens.chat_commands import BUSY
from tui.screens.context import ContextScreen
from tui.screens.documents import DocumentsScreen
from tui.screens.help import HelpScreen, key_name
from tui.screens.knowledge import KnowledgeScreen
from tui.screens.panel import Panel
from tui.screens.sessions import SessionsScreen
from tui.widgets import PromptInput

NAVIGATION = {"help", "panel", "context"}  # actions that leave the current screen


class ChatApp(App[None]):
    """memchat's terminal chat."""

    TITLE = "memchat"
    CSS = """
    /* Textual's 40% placeholders are hard to read, in the light theme above all */
    TextArea > .text-area--placeholder, Input > .input--placeholder {
        color: $text-muted;
    }
    """
    SCREENS = {"sessions": SessionsScreen, "knowledge": KnowledgeScreen, "documents": DocumentsScreen}
    COMMANDS = App.COMMANDS | {MemchatCommands}
    BINDINGS = [  # the footer shows them in this order (the chat's own keys first)
        Binding("f1", "help", "Help", tooltip="List the commands and keys"),
        Binding("ctrl+o", "panel('sessions')", "Sessions",
                tooltip="Sessions panel: switch, rename, delete or export chats"),
        Binding("ctrl+t", "context", "Context",
                tooltip="Context panel: what the selected answer's prompt held (memories, facts, turns)"),
        Binding("ctrl+g", "panel('knowledge')", "Knowledge",
                tooltip="Knowledge panel: people, places and facts memchat learned, with sources"),
        Binding("ctrl+l", "panel('documents')", "Docs",
                tooltip="Documents panel: load, browse, remove and summarise documents"),
        Binding("ctrl+q", "quit", "Quit", priority=True, tooltip="Quit memchat (chats are saved as you go)"),
    ]

    def __init__(self, assistant: Assistant, session_key: str | None = None) -> None:
        super().__init__()
        self.assistant = assistant
        self.chat_screen = ChatScreen(assistant.sessions.get(session_key) if session_key else None)
        self.model_info: ModelInfo | None = None

    def get_default_screen(self) -> Screen:
        return self.chat_screen

    def on_mount(self) -> None:
        self.load_model()
        if self.assistant.settings.remember_chats:
            self.open_memory()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in NAVIGATION and isinstance(self.screen, ModalScreen):
            return False
        return True

    # -- models, in the background ------------------------------------------------------------------
    @background(thread=True, exclusive=True, group="model")
    def load_model(self) -> None:
        try:
            info = self.assistant.load_model()
        except MemchatError as exc:
            self.call_from_thread(self.chat_screen.model_ready, None, f"No model: {exc}")
            raise
        self.call_from_thread(self._model_ready, info)

    def _model_ready(self, info: ModelInfo) -> None:
        self.model_info = info
        self.chat_screen.model_ready(info)

    @background(thread=True, exclusive=True, group="memory")
    def open_memory(self) -> None:
        """Load the embedding model and memory, so new exchanges get embedded as they come."""
        try:
            self.assistant.open_memory()
            self.assistant.memory_writer.submit()  # embed anything left pending by `memchat ask`
        except MemchatError as exc:
            raise MemchatError(f"memory is unavailable: {exc}") from exc

    # -- moving between screens -----------------------------------------------------------------------
    def show_panel(self, panel: str | Screen) -> Screen:
        """Show a panel over the chat (replacing any other panel); returns it."""
        screen = self.get_screen(panel) if isinstance(panel, str) else panel
        if self.screen is self.chat_screen:
            self.push_screen(screen)
        elif self.screen is not screen:
            self.back_to_chat()
            self.push_screen(screen)
        return screen

    def back_to_chat(self) -> None:
        while self.screen is not self.chat_screen and len(self.screen_stack) > 1:
            self.pop_screen()

    def show_knowledge(self, name: str = "") -> None:
        """The knowledge panel, searching for ``name`` (if given)."""
        screen = self.show_panel("knowledge")
        assert isinstance(screen, KnowledgeScreen)
        if name:
            screen.search_for(name)

    @background(group="open-session")
    async def open_session(self, session_id: str) -> None:
        """Go back to the chat and show that session where it left off."""
        if self.chat_screen.generating:
            raise MemchatError(BUSY)
        session = self.assistant.sessions.get(session_id)
        self.back_to_chat()
        if self.chat_screen.session is None or self.chat_screen.session.id != session.id:
            await self.chat_screen.show_session(session)

    def action_panel(self, name: str) -> None:
        self.show_panel(name)

    def action_context(self) -> None:
        chat = self.chat_screen
        if chat.selected is None or chat.selected.message_id is None:
            self.notify("No answer to explain yet: ask something first, then Ctrl+T shows what its prompt held.",
                        severity="warning")
            return
        answers = [answer.message_id for answer in chat.answers if answer.message_id is not None]
        self.show_panel(ContextScreen(answers, chat.selected.message_id))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.key_help()))

    def key_help(self) -> list[tuple[str, str]]:
        """Every key, for the help screen."""
        bindings = [b for b in [*ChatScreen.BINDINGS, *Panel.BINDINGS, *self.BINDINGS]
                    if isinstance(b, Binding) and (b.show or b.tooltip)]
        rows = [(key_name(b.key), b.tooltip or b.description) for b in bindings]
        rows += list(PromptInput.KEYS)
        rows += [("Ctrl+P", "Command palette: every action by name, and the theme (light or dark)"),
                 ("Click an answer", "Select it for the context panel")]
        return rows

    async def run_palette_command(self, command: Command) -> None:
        """What choosing a command in the palette does: run it, or let the user type its argument."""
        self.back_to_chat()
        if command.needs_arg and command.panel is None:
            prompt = self.chat_screen.prompt
            prompt.load_text(f"/{command.name} ")
            prompt.move_cursor(prompt.document.end)
            prompt.focus()
            return
        await self.chat_screen.run_command(command, "")
