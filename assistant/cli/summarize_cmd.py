"""``memchat summarize``: a summary of a loaded document, however long (hierarchical)."""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from assistant.cli.context import CliContext

stderr = Console(stderr=True)


@click.command("summarize")
@click.argument("document")
@click.pass_obj
def summarize(obj: CliContext, document: str) -> None:
    """Summarise a loaded DOCUMENT (id from `memchat docs list`, path, or file name).

    Parts that fit the model's context are summarised, then the summaries, until one
    summary covers the whole document. All of them are stored as searchable memories.
    """
    with obj.assistant() as assistant:
        found = assistant.find_document(document)
        assistant.load_model()
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} calls"),
                      console=stderr, disable=not stderr.is_terminal) as bar:
            task = bar.add_task(f"summarising {found.title or found.path}", total=None)
            result = assistant.summarize_document(
                found, progress=lambda done, total: bar.update(task, completed=done, total=total))
        click.echo(result.text)
        stderr.print(f"[dim]{result.calls} model calls, {result.levels} level(s); stored as memory m{result.item_id}[/]")
