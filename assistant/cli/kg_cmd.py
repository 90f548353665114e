"""``memchat kg``: what memchat knows about people, places and things, and how they relate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from assistant.app import Assistant
from assistant.cli.context import CliContext
from assistant.cli.memory_cmd import resolve_source
from assistant.errors import MemchatError

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True)


def _up_to_date(assistant: Assistant) -> None:
    """Extract knowledge from memories not yet processed (new chats, imports), with a spinner."""
    if assistant.settings.graph_extractor == "off" or not assistant.knowledge_pending():
        return
    with stderr.status("Reading new memories into the knowledge graph..."):
        assistant.extract_knowledge()


@click.group("kg")
def kg_group() -> None:
    """The knowledge graph: entities and facts extracted from chats and documents."""


@kg_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--current", "current_only", is_flag=True, help="Only facts that still hold.")
@click.option("--depth", type=click.IntRange(0, 3), default=1, show_default=True, help="Neighbours up to this many hops.")
@click.pass_obj
def show(obj: CliContext, name: str, as_json: bool, current_only: bool, depth: int) -> None:
    """Everything known about NAME (a name, alias or #id): facts, current first, with sources."""
    with obj.assistant() as assistant:
        _up_to_date(assistant)
        graph = assistant.knowledge
        entity = graph.get(name)
        facts = assistant.entity_facts(entity.id, include_past=not current_only)
        near = assistant.neighbourhood(entity.id, depth) if depth else None
        sources = assistant.describe_sources(s.item_id for f in facts for s in f.sources[:3])
        aliases = [a for a in graph.aliases(entity.id) if a != entity.name]
        if as_json:
            click.echo(json.dumps({
                "entity": {"id": entity.id, "name": entity.name, "type": entity.type, "aliases": aliases,
                           "mentions": entity.mentions, "first_seen": entity.first_seen,
                           "last_seen": entity.last_seen},
                "facts": [f.as_dict() for f in facts],
                "neighbours": [{"id": e.id, "name": e.name, "type": e.type, "distance": near.distance[e.id]}
                               for e in near.entities.values() if e.id != entity.id] if near else [],
            }, indent=1, ensure_ascii=False))
            return
        also = f" (also: {', '.join(aliases)})" if aliases else ""
        stdout.print(f"[bold]{entity.name}[/] #{entity.id} · {entity.type}{also}")
        stdout.print(f"mentioned {entity.mentions} times, {(entity.first_seen or '?')[:10]} to "
                     f"{(entity.last_seen or '?')[:10]}")
        if not facts:
            stdout.print("No facts yet.")
        for heading, group in (("Now", [f for f in facts if f.current]), ("In the past", [f for f in facts
                                                                                       if not f.current])):
            if not group:
                continue
            stdout.print(f"\n[bold]{heading}[/]")
            for fact in group:
                when = ""
                if fact.current and fact.valid_from:
                    when = f" since {fact.valid_from[:10]}"
                elif not fact.current and fact.valid_to:
                    when = f" until {fact.valid_to[:10]}"
                stdout.print(f"  {fact.text()}{when}", markup=False)
                for source in fact.sources[:3]:
                    found = sources.get(source.item_id)
                    stdout.print(f"      [dim]from {found.citation if found else f'm{source.item_id}'}[/]")
                if len(fact.sources) > 3:
                    stdout.print(f"      [dim]and {len(fact.sources) - 3} more[/]")
        if near and len(near.entities) > 1:
            others = sorted((e for e in near.entities.values() if e.id != entity.id),
                            key=lambda e: (near.distance[e.id], -e.mentions))
            stdout.print("\n[bold]Connected to[/] " + ", ".join(f"{e.name} ({e.type.lower()})" for e in others[:30]),
                         markup=True)


@kg_group.command("list")
@click.option("--type", "type_", default=None, help="Only this type: PERSON, ORG, PLACE, PRODUCT, EVENT, WORK...")
@click.option("-n", "--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_(obj: CliContext, type_: str | None, limit: int, as_json: bool) -> None:
    """Entities, most mentioned first."""
    with obj.assistant() as assistant:
        _up_to_date(assistant)
        entities = assistant.knowledge.entities(type_, limit)
        if as_json:
            click.echo(json.dumps([e.__dict__ for e in entities], indent=1, ensure_ascii=False))
            return
        if not entities:
            click.echo("The knowledge graph is empty." if not type_ else f"No {type_.upper()} entities.")
            return
        table = Table("id", "name", "type", "mentions", "last seen", box=None)
        for e in entities:
            table.add_row(str(e.id), e.name, e.type, str(e.mentions), (e.last_seen or "")[:10])
        stdout.print(table)


@kg_group.command("path")
@click.argument("source")
@click.argument("target")
@click.option("--max-depth", type=click.IntRange(1, 8), default=4, show_default=True)
@click.pass_obj
def path(obj: CliContext, source: str, target: str, max_depth: int) -> None:
    """How SOURCE and TARGET are connected: the shortest chain of facts."""
    with obj.assistant() as assistant:
        _up_to_date(assistant)
        graph = assistant.knowledge
        a, b = graph.get(source), graph.get(target)
        edges = assistant.knowledge_path(a.id, b.id, max_depth)
        if edges is None:
            click.echo(f"No connection between {a.name} and {b.name} within {max_depth} steps.")
            sys.exit(1)
        for edge in edges:
            click.echo(assistant.edge_text(edge))


@kg_group.command("export")
@click.option("--format", "format_", type=click.Choice(("json", "graphml")), default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="File to write (default: standard output).")
@click.pass_obj
def export(obj: CliContext, format_: str, output: Path | None) -> None:
    """Export the whole graph with provenance (JSON) or for graph tools (GraphML)."""
    with obj.assistant() as assistant:
        _up_to_date(assistant)
        if format_ == "json":
            if output is None:
                assistant.export_knowledge("json", sys.stdout)
            else:
                with output.open("w", encoding="utf-8") as handle:
                    assistant.export_knowledge("json", handle)
        else:
            assistant.export_knowledge("graphml", output if output is not None else sys.stdout.buffer)
        if output is not None:
            stderr.print(f"wrote {output}")


@kg_group.command("search")
@click.argument("text")
@click.pass_obj
def search(obj: CliContext, text: str) -> None:
    """Entities whose name or alias matches TEXT (partial and misspelt names too)."""
    with obj.assistant() as assistant:
        _up_to_date(assistant)
        found = assistant.knowledge.find(text, limit=20)
        if not found:
            click.echo(f"No entity matches '{text}'.")
            sys.exit(1)
        for e in found:
            click.echo(f"#{e.id}\t{e.name}\t{e.type}\t{e.mentions} mentions")


@kg_group.command("rename")
@click.argument("name")
@click.argument("new_name")
@click.pass_obj
def rename(obj: CliContext, name: str, new_name: str) -> None:
    """Give an entity a new name (the old one stays as an alias)."""
    with obj.assistant() as assistant:
        entity = assistant.knowledge.get(name)
        assistant.knowledge.rename(entity.id, new_name)
        click.echo(f"Renamed #{entity.id} {entity.name} to {new_name}.")


@kg_group.command("merge")
@click.argument("keep")
@click.argument("other")
@click.pass_obj
def merge(obj: CliContext, keep: str, other: str) -> None:
    """Merge OTHER into KEEP (two names for one thing)."""
    with obj.assistant() as assistant:
        graph = assistant.knowledge
        a, b = graph.get(keep), graph.get(other)
        if a.id == b.id:
            raise MemchatError(f"'{keep}' and '{other}' are already the same entity (#{a.id})")
        graph.merge(a.id, b.id)
        click.echo(f"Merged #{b.id} {b.name} into #{a.id} {a.name}.")


@kg_group.command("split")
@click.argument("name")
@click.option("--source", required=True, help="The session (session:ID) or document path whose mentions move.")
@click.option("--as", "new_name", default=None, help="Name of the new entity (default: the same name).")
@click.pass_obj
def split(obj: CliContext, name: str, source: str, new_name: str | None) -> None:
    """Split off what one source says about NAME into a new entity (two people, one name)."""
    with obj.assistant() as assistant:
        graph = assistant.knowledge
        entity = graph.get(name)
        new_id = graph.split(entity.id, resolve_source(source), new_name)
        click.echo(f"Split {entity.name}: mentions in {source} are now #{new_id} {new_name or entity.name}.")


@kg_group.command("delete")
@click.argument("name")
@click.option("--allow-again", is_flag=True, help="Let later extraction add the name back.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete(obj: CliContext, name: str, allow_again: bool, yes: bool) -> None:
    """Delete an entity and its facts (the memories themselves stay)."""
    with obj.assistant() as assistant:
        graph = assistant.knowledge
        entity = graph.get(name)
        if not yes:
            click.confirm(f"Delete #{entity.id} {entity.name} and its facts?", abort=True)
        graph.delete(entity.id, block=not allow_again)
        click.echo(f"Deleted #{entity.id} {entity.name}.")


@kg_group.command("extract")
@click.option("--again", is_flag=True, help="Forget the graph and extract everything again (after an upgrade "
                                           "or a change of graph_extractor).")
@click.pass_obj
def extract(obj: CliContext, again: bool) -> None:
    """Read memories not yet processed into the graph (runs by itself after chats and loads)."""
    from rich.progress import Progress

    with obj.assistant() as assistant:
        if assistant.settings.graph_extractor == "off":
            raise MemchatError("graph_extractor is off; set it to spacy or llm")
        graph = assistant.knowledge
        if again:
            graph.clear()
        with Progress(console=stderr, disable=not stderr.is_terminal) as bar:
            task = bar.add_task("extracting", total=None)
            done = assistant.extract_knowledge(progress=lambda d, t: bar.update(task, completed=d, total=t))
        counts = graph.counts()
        click.echo(f"Processed {done} memories; the graph has {counts['entities']} entities and "
                   f"{counts['relations']} relations.")


@kg_group.command("status")
@click.pass_obj
def status(obj: CliContext) -> None:
    """Sizes of the graph and how many memories wait for extraction."""
    with obj.assistant() as assistant:
        graph = assistant.knowledge
        for key, value in graph.counts().items():
            click.echo(f"{key}: {value}")
        click.echo(f"waiting for extraction: {assistant.knowledge_pending()}")
        click.echo(f"extractor: {assistant.settings.graph_extractor}")
