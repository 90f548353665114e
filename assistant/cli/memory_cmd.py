"""Memory commands: ``load``, ``import``, ``search``, ``forget``, ``docs`` and ``memory``."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from assistant.cli.context import CliContext
from assistant.errors import MemchatError
from assistant.sources import Source

if TYPE_CHECKING:
    from assistant.app import Assistant
    from assistant.records import Hit

stderr = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[chunks]} chunks · {task.fields[rate]:.0f}/s"), TimeRemainingColumn(),
        console=stderr, transient=False, disable=not stderr.is_terminal and not _force_progress(),
    )


def _force_progress() -> bool:
    import os

    return os.environ.get("MEMCHAT_PROGRESS") == "1"


@click.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_obj
def load(obj: CliContext, paths: tuple[Path, ...]) -> None:
    """Load documents into memory: .txt .md .pdf .html and source code, or folders of them.

    Unchanged files are skipped, changed ones replace their old chunks. Ctrl-C stops
    cleanly: the document being loaded is left out entirely; load it again later.
    """
    with obj.assistant() as assistant:
        tasks: dict[Path, TaskID] = {}
        counts = {"loaded": 0, "replaced": 0, "unchanged": 0, "skipped": 0}
        with _progress() as bar:
            def on_progress(p) -> None:  # noqa: ANN001
                if p.path not in tasks:
                    tasks[p.path] = bar.add_task(p.path.name, total=max(p.bytes_total, 1), chunks=0, rate=0.0)
                bar.update(tasks[p.path], completed=p.bytes_done, chunks=p.chunks, rate=p.chunks_per_s)

            def on_outcome(o) -> None:  # noqa: ANN001
                counts[o.status] += 1
                if o.status == "skipped":
                    stderr.print(f"[yellow]skipped[/] {o.path}: {o.reason}")
                elif o.status == "unchanged":
                    stderr.print(f"unchanged {o.path}")
                else:
                    stderr.print(f"{o.status} {o.path} ({o.chunks} chunks)")

            try:
                assistant.load_documents(paths, on_progress, on_outcome)
            except KeyboardInterrupt:
                stderr.print("Interrupted: the document being loaded was left out; run the same command to resume.")
                sys.exit(130)
            _extract_knowledge(assistant, bar)
        click.echo(
            f"{counts['loaded']} loaded, {counts['replaced']} replaced, {counts['unchanged']} unchanged, "
            f"{counts['skipped']} skipped."
        )
        if counts["skipped"] and not (counts["loaded"] or counts["replaced"] or counts["unchanged"]):
            sys.exit(1)


def _extract_knowledge(assistant, bar: Progress) -> None:  # noqa: ANN001 - Assistant
    """Fill the knowledge graph from what was just stored (Ctrl-C leaves the rest for later)."""
    if assistant.settings.graph_extractor == "off":
        return
    task = bar.add_task("knowledge graph", total=None, chunks=0, rate=0.0)
    try:
        assistant.extract_knowledge(progress=lambda done, total: bar.update(task, completed=done, total=total,
                                                                             chunks=done))
    except KeyboardInterrupt:
        stderr.print("Knowledge extraction interrupted; it resumes with the next `memchat kg` command.")
        sys.exit(130)


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_obj
def import_(obj: CliContext, file: Path) -> None:
    """Import a conversation transcript (JSON Lines) as chat memory.

    One object per line: {"text", "speaker", "timestamp" (ISO-8601), "session", "id"?}.
    The import is all or nothing; lines whose id is already stored are skipped.
    """
    if not file.is_file():
        raise MemchatError(f"cannot read {file}: no such file")
    with obj.assistant() as assistant:
        with _progress() as bar:
            task = bar.add_task(file.name, total=1, chunks=0, rate=0.0)

            def on_progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = assistant.import_transcript(file, on_progress, knowledge=False)
            _extract_knowledge(assistant, bar)
        click.echo(f"Imported {result.imported} turns ({result.skipped_existing} already there).")


def resolve_source(source: str) -> str:
    """A --source value as memory stores it: an existing path made absolute; anything else
    (session:ID, a document path no longer on disk) as given."""
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else source


def _parse_when(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO date like 2024-05-01", param_hint=name) from exc


@click.command("search")
@click.argument("query", required=False)
@click.option("-k", "--k", "k", type=click.IntRange(1, 1000), default=5, show_default=True, help="Number of results.")
@click.option("--json", "as_json", is_flag=True, help="JSON output; with no QUERY, read queries from stdin, one per line.")
@click.option("--mode", type=click.Choice(("hybrid", "dense", "lexical")), default="hybrid", show_default=True)
@click.option("--kind", "kinds", multiple=True, type=click.Choice(("chat", "document", "import", "summary")))
@click.option("--session", "sessions", multiple=True, help="Only this session id (repeatable).")
@click.option("--source", "sources", multiple=True, help="Only this source: a document path or session:ID.")
@click.option("--since", default=None, help="Only items from this date on (ISO).")
@click.option("--until", default=None, help="Only items before this date (ISO).")
@click.option("--recency", type=float, default=0.0, show_default=True, help="Weight of recency (0 = off).")
@click.pass_obj
def search(obj: CliContext, query: str | None, k: int, as_json: bool, mode: str, kinds: tuple[str, ...],
           sessions: tuple[str, ...], sources: tuple[str, ...], since: str | None, until: str | None,
           recency: float) -> None:
    """Search memory by meaning and by keyword (dates in the query narrow by time)."""
    if query is None and not as_json:
        raise click.UsageError("give a QUERY (or use --json to read queries from stdin)")
    options = {"k": k, "mode": mode, "kinds": kinds, "sources": tuple(map(resolve_source, sources)),
               "sessions": sessions, "since": _parse_when(since, "--since"), "until": _parse_when(until, "--until"),
               "recency": recency}
    with obj.assistant() as assistant:
        if query is not None:
            hits = assistant.search(query, **options)
            if as_json:
                click.echo(json.dumps({"query": query, "hits": [h.as_dict() for h in hits]}, ensure_ascii=False))
                return
            if not hits:
                click.echo("No memories match.", err=True)
            for rank, hit in enumerate(hits, start=1):
                _print_hit(assistant, rank, hit, query)
            return
        for line in sys.stdin:  # batch mode: models load once
            if not line.strip():
                continue
            hits = assistant.search(line.strip(), **options)
            click.echo(json.dumps({"query": line.strip(), "hits": [h.as_dict() for h in hits]}, ensure_ascii=False))
            sys.stdout.flush()


def _print_hit(assistant: Assistant, rank: int, hit: Hit, query: str) -> None:
    """A hit's place (document and page, or chat and date) and the sentences that matched,
    their matching words in bold."""
    item = hit.item
    ident = f" id={item.external_id}" if item.external_id else ""
    place = Source(item).label
    click.echo(f"{rank}. {click.style(place, bold=True)}  #{item.id}{ident} · {item.occurred_at[:10]} "
               f"· score {hit.score:.4f}")
    for line in assistant.search_snippets(item.text, query, lambda word: click.style(word, fg="yellow", bold=True)):
        click.echo("   " + " ".join(line.split()))


@click.command("forget")
@click.option("--item", "items", multiple=True, type=int, help="Forget this memory item id (repeatable).")
@click.option("--document", "documents", multiple=True,
              help="Forget this document (id, path or file name) and its chunks.")
@click.option("--message", "answers", multiple=True, type=int,
              help="Forget the exchange this answer (a message id) ends: from its chat, memory and the graph.")
@click.option("--session", "sessions", multiple=True,
              help="Forget what memory holds of this session: its id (even once deleted) or an imported "
                   "transcript's session name.")
@click.option("--search", "query", default=None, help="Forget the top hits of this search (see --k).")
@click.option("-k", "--k", "k", type=click.IntRange(1, 100), default=1, show_default=True)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def forget(obj: CliContext, items: tuple[int, ...], documents: tuple[str, ...], answers: tuple[int, ...],
           sessions: tuple[str, ...], query: str | None, k: int, yes: bool) -> None:
    """Remove memories from SQLite, the keyword index and the vector index together."""
    if not (items or documents or answers or sessions or query):
        raise click.UsageError("say what to forget: --item, --document, --message, --session or --search")
    with obj.assistant() as assistant:
        ids = set(items)
        if sessions:
            ids |= set(assistant.memory_ids_of_sessions(sessions))
        if query:
            hits = assistant.search(query, k)
            for hit in hits:
                click.echo(f"#{hit.item.id}: {hit.item.text.strip()[:120]}")
            ids |= {hit.item.id for hit in hits}
        docs = [assistant.find_document(d) for d in documents]
        exchanges = [assistant.sessions.message(answer) for answer in answers]  # each must exist
        total = len(ids) + sum(d.chunks for d in docs)
        if total == 0 and not exchanges:
            raise MemchatError("nothing matched; nothing was forgotten")
        if not yes:
            what = [f"{total} memory item(s)"] if total else []
            what += [f"{len(exchanges)} exchange(s) with their chat messages"] if exchanges else []
            click.confirm(f"Forget {' and '.join(what)}?", abort=True)
        removed = assistant.forget_memories(ids)
        for document in docs:
            removed += assistant.forget_document(document)
        messages = 0
        for answer in exchanges:
            forgotten = assistant.forget_exchange(answer.id)
            removed, messages = removed + forgotten.memory_items, messages + len(forgotten.message_ids)
        if removed:
            assistant.compact_memory()  # no copy of the forgotten text stays in the data dir
        click.echo(f"Forgot {removed} memory item(s)" + (f" and {messages} chat message(s)." if exchanges else "."))


@click.group("docs")
def docs() -> None:
    """Loaded documents."""


@docs.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def docs_list(obj: CliContext, as_json: bool) -> None:
    """List loaded documents with their size and chunk count."""
    from dataclasses import asdict

    with obj.assistant() as assistant:
        documents = assistant.documents()
    if as_json:
        click.echo(json.dumps([asdict(d) for d in documents], indent=2))
        return
    if not documents:
        click.echo("No documents loaded. Load some with `memchat load PATH`.", err=True)
    for d in documents:
        click.echo(f"{d.id:>4}  {d.size / 1e6:8.2f} MB  {d.chunks:>6} chunks  {d.loaded_at[:16]}  {d.path}")


@click.group("memory")
def memory_group() -> None:
    """Maintain long-term memory."""


@memory_group.command("status")
@click.pass_obj
def memory_status(obj: CliContext) -> None:
    """Counts of stored items and the state of the vector index."""
    with obj.assistant() as assistant:
        click.echo(json.dumps(assistant.memory_status(), indent=2))


@memory_group.command("reembed")
@click.pass_obj
def memory_reembed(obj: CliContext) -> None:
    """Re-embed all memory with the configured embedding model (after changing it)."""
    with obj.assistant() as assistant:
        with _progress() as bar:
            task = bar.add_task("re-embedding", total=1, chunks=0, rate=0.0)
            count = assistant.reembed(
                progress=lambda done, total: bar.update(task, completed=done, total=total, chunks=done))
        click.echo(f"Re-embedded {count} items with {assistant.embedding_model}.")
