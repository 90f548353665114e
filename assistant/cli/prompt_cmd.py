"""``memchat prompt``: the prompt memchat would send for a message, without generating."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from assistant.cli.context import CliContext


def _summary(account: dict[str, Any]) -> dict[str, Any]:
    """The one-line JSON form: message, token counts and sources."""
    return {key: account[key] for key in ("message", "prompt_tokens", "budget", "sources")}


def _print_human(account: dict[str, Any]) -> None:
    from assistant.explain import explain_lines

    for message in account["messages"]:
        click.echo(click.style(f"--- {message['role']} ---", bold=True))
        click.echo(message["content"])
    click.echo(click.style("--- account ---", bold=True), err=True)
    click.echo("\n".join(explain_lines({"context": account["context"]})), err=True)


@click.command("prompt")
@click.argument("message", nargs=-1)
@click.option("-c", "--continue", "continue_latest", is_flag=True, help="In the most recent session.")
@click.option("-s", "--session", "session_key", default=None, help="In this session (id, id prefix or name).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON line: message, prompt_tokens, budget, sources (item_id, external_id, kind, via).")
@click.option("--full", is_flag=True, help="With --json: also the prompt's messages and the whole account.")
@click.pass_obj
def prompt(obj: CliContext, message: tuple[str, ...], continue_latest: bool, session_key: str | None,
           as_json: bool, full: bool) -> None:
    """Show the prompt memchat would send for MESSAGE, and what went into it, without asking
    the model (nothing is stored).

    In a new chat unless -c or -s is given. With --json and no MESSAGE, reads messages from
    standard input, one a line, and prints one JSON line for each (models load once).
    """
    text = " ".join(message).strip()
    if not text and not as_json:
        raise click.UsageError("give a message (or use --json and one message a line on standard input)")
    with obj.assistant() as assistant:
        session = session_key
        if continue_latest and not session and (latest := assistant.sessions.latest()) is not None:
            session = latest.id
        if text:
            lines = [text]
        else:
            lines = (line.rstrip("\n") for line in sys.stdin)
        for line in lines:
            if not line.strip():
                continue
            account = assistant.prompt_for(line, session)
            if as_json:
                click.echo(json.dumps(account if full else _summary(account), ensure_ascii=False))
                sys.stdout.flush()
            else:
                _print_human(account)
