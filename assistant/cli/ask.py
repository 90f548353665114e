"""``memchat ask``: stream one answer to stdout, non-interactively."""

from __future__ import annotations

import sys

import click

from assistant.cli.context import CliContext
from assistant.sessions import session_title

EXIT_INTERRUPTED = 130  # the shell convention for a command stopped by SIGINT


def _read_prompt(words: tuple[str, ...]) -> str:
    """The prompt from the arguments and, when piped, standard input (both: args first)."""
    parts = [" ".join(words)] if words else []
    if not sys.stdin.isatty():
        piped = sys.stdin.read()
        if piped.strip():
            parts.append(piped)
    prompt = "\n\n".join(part for part in parts if part.strip()).rstrip()
    if not prompt.strip():
        raise click.UsageError("give a prompt as arguments or on standard input")
    return prompt


@click.command()
@click.argument("prompt", nargs=-1)
@click.option("-c", "--continue", "continue_latest", is_flag=True, help="Continue the most recent session.")
@click.option("-s", "--session", "session_key", default=None, help="Continue this session (id, id prefix or name).")
@click.option("--stats", is_flag=True, help="Print tokens, time to first token and tokens/s to stderr.")
@click.option("--explain", is_flag=True, help="After the answer, show what its prompt held (to stderr): "
                                              "memories, facts, summary, window turns, token shares, citations.")
@click.pass_obj
def ask(obj: CliContext, prompt: tuple[str, ...], continue_latest: bool, session_key: str | None, stats: bool,
        explain: bool) -> None:
    """Ask one question and stream the answer to stdout.

    The prompt is the arguments, or standard input when piped (or both). Each call starts
    a new session unless -c or --session is given. Ctrl-C stops the answer and keeps
    what was said.
    """
    text = _read_prompt(prompt)
    with obj.assistant() as assistant:
        if session_key:
            session = assistant.sessions.get(session_key)
        elif continue_latest and (latest := assistant.sessions.latest()) is not None:
            session = latest
        else:
            session = None
        chat = assistant.chat  # loads the model
        if session is None:
            session = assistant.sessions.create(session_title(text), model=assistant.backend.info.model)
        try:
            reply = chat.send(session.id, text)
        except BaseException:  # an error or Ctrl-C before the question was stored
            if not assistant.sessions.messages(session.id):
                assistant.sessions.delete(session.id)  # leave no empty session behind
            raise
        for warning in reply.warnings:
            click.echo(f"Note: {warning}", err=True)
        try:
            for chunk in reply:
                click.echo(chunk, nl=False)
                sys.stdout.flush()
        except KeyboardInterrupt:
            reply.close()
            click.echo("", err=False)
            click.echo(f"Interrupted: the partial answer is saved in session {session.id}.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        click.echo()
        if explain and reply.message is not None:
            from assistant.explain import explain_lines

            click.echo("\n".join(explain_lines(reply.message.meta)), err=True)
        if stats:
            s = reply.stats
            ttft = f"{s.time_to_first_token_s:.2f}s" if s.time_to_first_token_s is not None else "-"
            tps = f"{s.decode_tokens_per_s:.1f}" if s.decode_tokens_per_s else "-"
            click.echo(
                f"[session {session.id}] prompt {s.prompt_tokens} tok, answer {s.completion_tokens} tok, "
                f"first token {ttft}, {tps} tok/s, {assistant.backend.info.backend} on "
                f"{assistant.backend.info.device}",
                err=True,
            )
