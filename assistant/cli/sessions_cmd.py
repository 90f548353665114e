"""``memchat sessions``: list, show, rename, delete and export conversations."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from assistant.cli.context import CliContext
from assistant.errors import MemchatError
from assistant.export import export_session
from assistant.sessions import SessionStore, open_sessions


def _store(obj: CliContext) -> SessionStore:
    return open_sessions(obj.settings.data_dir)


@click.group()
def sessions() -> None:
    """Manage stored conversations (ids accept a unique prefix or the session's name)."""


@sessions.command("list")
@click.option("--limit", type=int, default=None, help="Show at most N sessions, newest first.")
@click.option("--matching", default="", help="Only sessions whose name or messages contain this text.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
@click.pass_obj
def list_sessions(obj: CliContext, limit: int | None, matching: str, as_json: bool) -> None:
    """List sessions, most recently active first."""
    rows = _store(obj).list(limit, matching)
    if as_json:
        click.echo(json.dumps([asdict(s) for s in rows], indent=2, ensure_ascii=False))
        return
    if not rows and matching:
        click.echo(f"No session matches '{matching}'.", err=True)
        return
    if not rows:
        click.echo("No sessions yet. Start one with `memchat` or `memchat ask \"...\"`.", err=True)
        return
    for s in rows:
        click.echo(f"{s.id}  {s.updated_at[:16].replace('T', ' ')}  {s.message_count:>4} msgs  {s.name}")


@sessions.command("branch")
@click.argument("session")
@click.option("--at", "at_message", type=int, default=None,
              help="The message id to branch after (default: the session's last message).")
@click.option("--name", default=None, help="The new session's name (default: the old one's, '· branch').")
@click.pass_obj
def branch_session(obj: CliContext, session: str, at_message: int | None, name: str | None) -> None:
    """Copy a session's turns up to a message into a new session, and print its id."""
    store = _store(obj)
    found = store.get(session)
    if at_message is None:
        last = store.tail(found.id, 1)
        if not last:
            raise MemchatError(f"session '{found.name}' has no messages to branch from")
        at_message = last[0][1].id
    branch = store.branch(found.id, at_message, name)
    click.echo(branch.id)
    click.echo(f"Branched '{found.name}' after message #{at_message} into '{branch.name}' "
               f"({branch.message_count} messages); continue it with `memchat ask -s {branch.id} ...`.", err=True)


@sessions.command("show")
@click.argument("session")
@click.pass_obj
def show_session(obj: CliContext, session: str) -> None:
    """Print a session's conversation as Markdown."""
    store = _store(obj)
    found = store.get(session)
    click.echo(export_session(found, store.messages(found.id), "markdown"), nl=False)


@sessions.command("rename")
@click.argument("session")
@click.argument("name")
@click.pass_obj
def rename_session(obj: CliContext, session: str, name: str) -> None:
    """Give a session a new name."""
    if not name.strip():
        raise click.BadParameter("the new name is empty", param_hint="NAME")
    renamed = _store(obj).rename(session, name.strip())
    click.echo(f"Renamed {renamed.id} to {renamed.name!r}.")


@sessions.command("delete")
@click.argument("session")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--keep-memories", is_flag=True,
              help="Keep what long-term memory and the knowledge graph learnt from it.")
@click.pass_obj
def delete_session(obj: CliContext, session: str, yes: bool, keep_memories: bool) -> None:
    """Delete a session, its messages and (unless --keep-memories) what memory learnt from it."""
    with obj.assistant() as assistant:
        found = assistant.sessions.get(session)
        if not yes:
            also = "" if keep_memories else " and what memory learnt from it"
            click.confirm(f"Delete session {found.id} ({found.name!r}, {found.message_count} messages){also}?",
                          abort=True)
        _, removed = assistant.delete_session(found.id, keep_memories=keep_memories)
    forgot = f", and forgot {removed} memory item(s)" if removed else ""
    click.echo(f"Deleted session {found.id}{forgot}.")


@sessions.command("export")
@click.argument("session")
@click.option("-f", "--format", "fmt", type=click.Choice(("markdown", "md", "json")), default="markdown",
              show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of stdout.")
@click.pass_obj
def export(obj: CliContext, session: str, fmt: str, output: Path | None) -> None:
    """Export a session as Markdown or JSON."""
    store = _store(obj)
    found = store.get(session)
    text = export_session(found, store.messages(found.id), fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.FileError(str(output), hint=exc.strerror or str(exc)) from exc
    click.echo(f"Exported session {found.id} to {output}.", err=True)
