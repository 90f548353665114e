"""``memchat`` / ``memchat chat``: open the Textual chat app."""

from __future__ import annotations

import click

from assistant.cli.context import CliContext


def open_chat_app(obj: CliContext, session_key: str | None = None) -> None:
    """Run the TUI until the user quits."""
    from tui.app import ChatApp

    with obj.assistant() as assistant:
        if session_key:
            assistant.sessions.get(session_key)  # fail before the screen opens
        ChatApp(assistant, session_key).run()


@click.command()
@click.option("-s", "--session", "session_key", default=None, help="Resume this session (id, prefix or name).")
@click.option("-c", "--continue", "continue_latest", is_flag=True, help="Resume the most recent session.")
@click.pass_obj
def chat(obj: CliContext, session_key: str | None, continue_latest: bool) -> None:
    """Open the chat app (the same as running memchat with no command)."""
    if continue_latest and session_key is None:
        with obj.assistant() as assistant:
            latest = assistant.sessions.latest()
            session_key = latest.id if latest else None
    open_chat_app(obj, session_key)
