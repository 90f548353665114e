"""The knowledge panel: search the entities memchat learned about, read an entity's facts
(current and past, with dates) and neighbours, open the turns and passages they came from,
and fix the graph (rename, merge, delete; with confirmation)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.background import background
from tui.format import day, plural
from tui.screens.dialogs import SourcesDialog, ask, confirm
from tui.screens.panel import Panel
from tui.sources import memory_sources

if TYPE_CHECKING:
    from assistant.records import Entity, FactView, KnowledgeGraph

EMPTY_GRAPH = ("The knowledge graph is empty. Tell memchat about people, places and things in a chat, "
               "or load documents (Ctrl+L); what it learns shows up here.")


@dataclass
class EntityDetail:
    entity: Entity
    aliases: list[str]
    facts: list[FactView]
    neighbours: list[Entity]


def fact_when(fact: FactView) -> str:
    """'since 2026-03-01', 'until 2026-05-01', '2025-01-01 – 2026-05-01' or ''."""
    if fact.current:
        return f"since {day(fact.valid_from)}" if fact.valid_from else "now"
    if fact.valid_from and fact.valid_to:
        return f"{day(fact.valid_from)} – {day(fact.valid_to)}"
    return f"until {day(fact.valid_to)}" if fact.valid_to else "in the past"


def entity_heading(detail: EntityDetail) -> str:
    entity = detail.entity
    also = [a for a in detail.aliases if a != entity.name]
    line = (f"{entity.name} · {entity.type.lower()} · #{entity.id} · {plural(entity.mentions, 'mention')}, "
            f"{day(entity.first_seen)} to {day(entity.last_seen)}")
    return line + (f"\nalso called: {', '.join(also)}" if also else "")


class EntityList(OptionList):
    """Entities matching the search; the keys act on the highlighted one."""

    BINDINGS = [
        Binding("r", "screen.rename", "Rename"),
        Binding("m", "screen.merge", "Merge"),
        Binding("d,delete", "screen.delete", "Delete"),
    ]


class FactTable(DataTable):
    """An entity's facts; Enter shows where the selected one comes from."""

    BINDINGS = [Binding("enter", "select_cursor", "Sources")]


class NeighbourList(OptionList):
    """Entities one fact away; Enter goes to one."""

    BINDINGS = [Binding("enter", "select", "Go to")]


class KnowledgeScreen(Panel):
    """What memchat knows about people, places and things."""

    SUB_TITLE = "Knowledge"
    DEFAULT_CSS = """
    KnowledgeScreen #kg-search {
        margin: 0 1;
    }
    KnowledgeScreen #kg-body {
        height: 1fr;
    }
    KnowledgeScreen #kg-entities {
        width: 26;
        height: 1fr;
    }
    KnowledgeScreen #kg-entity {
        height: auto;
        padding: 0 1;
        text-style: bold;
    }
    KnowledgeScreen #kg-facts {
        height: 1fr;
    }
    KnowledgeScreen #kg-neighbours {
        height: 5;
    }
    KnowledgeScreen #kg-entities, KnowledgeScreen #kg-neighbours {
        border-title-color: $text-muted;
        border-title-style: bold;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.detail: EntityDetail | None = None
        self._wanted: tuple[str, int | None] | None = None  # a search asked for before the panel was shown

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="Search people, places, things… (empty: the most mentioned)", id="kg-search")
        with Horizontal(id="kg-body"):
            yield EntityList(id="kg-entities")
            with Vertical():
                yield Static("", id="kg-entity", markup=False)
                yield FactTable(id="kg-facts", cursor_type="row")
                yield NeighbourList(id="kg-neighbours")

    def on_mount(self) -> None:
        self.query_one(FactTable).add_columns("Fact", "When", "Sources")
        self.query_one(EntityList).border_title = "Entities"
        self.query_one(NeighbourList).border_title = "Connected to"
        self.query_one("#kg-search", Input).focus()

    def on_screen_resume(self) -> None:
        if self._wanted is not None:
            name, entity_id = self._wanted
            self._wanted = None
            self.search_for(name, entity_id)
        else:
            self.refresh_entities()
        self.catch_up()

    @property
    def entity(self) -> Entity | None:
        return self.detail.entity if self.detail else None

    def search_for(self, name: str, entity_id: int | None = None) -> None:
        """Search for ``name`` and show the entity ``entity_id`` (else the best match)."""
        if not self.is_mounted:
            self._wanted = (name, entity_id)
            return
        search = self.query_one("#kg-search", Input)
        with search.prevent(Input.Changed):
            search.value = name
        self.refresh_entities(select=entity_id)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refresh_entities(delay=0.2)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(EntityList).focus()  # where r, m and d act on the highlighted entity

    # -- reading the graph ------------------------------------------------------------------------------
    @background(thread=True, exclusive=True, group="kg-extract")
    def catch_up(self) -> None:
        """Read memories not yet in the graph (new chats, loads) into it, then show the result."""
        if self.assistant.settings.graph_extractor == "off" or not self.assistant.knowledge_pending():
            return
        self.app.call_from_thread(self.notify, "Reading new memories into the knowledge graph…")
        if self.assistant.extract_knowledge():
            self.app.call_from_thread(self.refresh_entities, None, 0.0, True)

    @background(exclusive=True, group="kg-entities")
    async def refresh_entities(self, select: int | None = None, delay: float = 0.0, keep: bool = False) -> None:
        """List the entities matching the search (after ``delay``, for typing); show ``select``,
        or with ``keep`` the one shown now, else the first."""
        if delay:
            await asyncio.sleep(delay)
        query = self.query_one("#kg-search", Input).value.strip()
        graph = await asyncio.to_thread(lambda: self.assistant.knowledge)
        found = await asyncio.to_thread(lambda: graph.find(query, limit=50) if query else graph.entities(limit=50))
        if keep and self.entity is not None:
            select = self.entity.id
        entities = self.query_one(EntityList)
        entities.clear_options()
        entities.add_options([Option(f"{e.name} · {e.type.lower()}", id=str(e.id)) for e in found])
        if not found:
            self.show_nothing(f"Nothing called “{query}” yet." if query else EMPTY_GRAPH)
            return
        ids = [e.id for e in found]
        entities.highlighted = ids.index(select) if select in ids else 0

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if isinstance(event.option_list, EntityList) and event.option.id is not None:
            self.show_entity(int(event.option.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if isinstance(event.option_list, NeighbourList) and event.option.id is not None:
            neighbour = next(e for e in self.detail.neighbours if e.id == int(event.option.id))
            self.search_for(neighbour.name, neighbour.id)
            self.query_one(EntityList).focus()

    @background(exclusive=True, group="kg-entity")
    async def show_entity(self, entity_id: int) -> None:
        self.detail = detail = await asyncio.to_thread(self._detail, entity_id)
        self.query_one("#kg-entity", Static).update(entity_heading(detail))
        table = self.query_one(FactTable)
        table.clear()
        for number, fact in enumerate(detail.facts):
            style = "" if fact.current else "italic"
            table.add_row(Text(fact.text(), style=style), fact_when(fact), str(len(fact.sources)), key=str(number))
        if not detail.facts:
            table.add_row("No facts yet: only mentioned.", "", "")
        neighbours = self.query_one(NeighbourList)
        neighbours.clear_options()
        neighbours.add_options([Option(f"{e.name} ({e.type.lower()})", id=str(e.id)) for e in detail.neighbours])

    def _detail(self, entity_id: int) -> EntityDetail:
        graph = self.assistant.knowledge
        near = self.assistant.neighbourhood(entity_id, 1)
        others = sorted((e for e in near.entities.values() if e.id != entity_id), key=lambda e: -e.mentions)
        return EntityDetail(graph.entity(entity_id), graph.aliases(entity_id), self.assistant.entity_facts(entity_id),
                            others)

    def show_nothing(self, message: str) -> None:
        self.detail = None
        self.query_one("#kg-entity", Static).update(message)
        self.query_one(FactTable).clear()
        self.query_one(NeighbourList).clear_options()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if self.detail is not None and event.row_key.value is not None:
            self.open_sources(self.detail.facts[int(event.row_key.value)])

    @background(group="kg-sources")
    async def open_sources(self, fact: FactView) -> None:
        ids = list(dict.fromkeys(source.item_id for source in fact.sources))
        views = await asyncio.to_thread(memory_sources, self.assistant, ids)
        self.app.push_screen(SourcesDialog(views, f"Where “{fact.text()}” comes from"))

    # -- fixing the graph -------------------------------------------------------------------------------
    def _chosen(self) -> Entity | None:
        if self.entity is None:
            self.notify("Select an entity first.", severity="warning")
        return self.entity

    def action_rename(self) -> None:
        if entity := self._chosen():
            ask(self.app, f"New name for “{entity.name}” (the old one stays as an alias):", entity.name,
                lambda name: self.edit(lambda graph: graph.rename(entity.id, name), f"Renamed to “{name}”."))

    def action_merge(self) -> None:
        if entity := self._chosen():
            ask(self.app, f"Merge which entity into “{entity.name}”? Its name or #id:", "",
                lambda other: self.confirm_merge(entity, other))

    @background(group="kg-edit")
    async def confirm_merge(self, keep: Entity, name: str) -> None:
        other = await asyncio.to_thread(lambda: self.assistant.knowledge.get(name))
        confirm(self.app, f"Merge “{other.name}” ({other.type.lower()}, #{other.id}) into “{keep.name}” "
                f"(#{keep.id})? Its facts, mentions and names move over.", "Merge",
                lambda: self.edit(lambda graph: graph.merge(keep.id, other.id), f"Merged “{other.name}”."))

    def action_delete(self) -> None:
        if (entity := self._chosen()) and self.detail is not None:
            confirm(self.app, f"Delete “{entity.name}” and its {plural(len(self.detail.facts), 'fact')}? Its names "
                    "will not be extracted again.", "Delete",
                    lambda: self.edit(lambda graph: graph.delete(entity.id), f"Deleted “{entity.name}”."))

    @background(group="kg-edit")
    async def edit(self, change: Callable[[KnowledgeGraph], object], done: str) -> None:
        """Apply ``change`` to the graph, say ``done``, and show the result."""
        await asyncio.to_thread(lambda: change(self.assistant.knowledge))
        self.notify(done)
        self.refresh_entities(keep=True)
