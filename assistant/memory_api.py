"""The memory and knowledge-graph use cases of ``Assistant``, each written once for both faces:
search, describe where a memory comes from, load documents, import a transcript, summarise a
document, re-embed, memory and graph status, and reading the graph."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from assistant.errors import MemchatError, SessionNotFoundError
from assistant.runtime import Runtime
from assistant.sources import Source

if TYPE_CHECKING:
    from memory.doc_summary import DocumentSummary
    from memory.documents import Document, LoadOutcome, Progress
    from memory.graph.queries import Edge, FactView, Neighbourhood
    from memory.retrieval import Hit
    from memory.transcripts import ImportResult

Counter = Callable[[int, int], None]  # (done, total)


class MemoryUseCases(Runtime):
    """What the faces do with long-term memory and the knowledge graph."""

    # -- search ------------------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, *, mode: str = "hybrid", kinds: Sequence[str] = (),
               sources: Sequence[str] = (), sessions: Sequence[str] = (), since: str | None = None,
               until: str | None = None, recency: float = 0.0) -> list[Hit]:
        """Hybrid (or ``mode``) search of memory, best first; the filters restrict it (dates ISO,
        ``until`` exclusive). Loads the embedding model on first use."""
        from memory.retrieval import SearchOptions
        from memory.retrieval import search as run_search
        from memory.store import SearchFilters

        filters = SearchFilters(tuple(kinds), tuple(sources), tuple(sessions), since, until)
        options = SearchOptions(k=k, mode=mode, filters=filters, recency_weight=recency)
        return run_search(self.memory, query, options)

    def search_snippets(self, text: str, query: str, mark: Callable[[str], str]) -> list[str]:
        """The sentences of ``text`` that match ``query`` best, their matching words ``mark``ed."""
        from memory.snippets import matching_sentences, snippet_lines

        return snippet_lines(matching_sentences(text, query, encode=self.memory.embedder.encode), mark)

    # -- where a memory comes from -----------------------------------------------------------------
    def describe_sources(self, item_ids: Iterable[int]) -> dict[int, Source]:
        """The memory items that still exist, by id, with the names their chats have now
        (cheap: no embedding model)."""
        from memory.store import items_by_id

        ids = list(dict.fromkeys(item_ids))
        if not ids:
            return {}
        if self._memory is not None:
            with self._memory.lock:
                items = items_by_id(self._memory.db, ids)
        elif self.db["memory_items"].exists():
            items = items_by_id(self.db, ids)
        else:
            items = {}  # memory was never opened in this data dir
        names: dict[str, str | None] = {}
        for item in items.values():
            if item.session_id and item.session_id not in names:
                names[item.session_id] = self._session_name(item.session_id)
        return {item_id: Source(item, names.get(item.session_id or "")) for item_id, item in items.items()}

    def _session_name(self, key: str) -> str | None:
        try:
            return self.sessions.get(key).name
        except MemchatError:
            return None  # deleted since, or an imported transcript's session

    # -- documents ---------------------------------------------------------------------------------
    def files_to_load(self, paths: Iterable[Path]) -> list[Path]:
        """The files ``load_documents`` would read for these paths (folders expanded)."""
        from memory.loaders import discover_files

        return discover_files(paths)[0]

    def load_documents(self, paths: Iterable[Path], progress: Callable[[Progress], None] | None = None,
                       outcome: Callable[[LoadOutcome], None] | None = None,
                       cancel: Callable[[], bool] | None = None) -> None:
        """Load files and folders into memory, one document at a time, each whole or not at all
        (``cancel``: LoadCancelled after the current batch). Knowledge extraction is the next
        step, ``extract_knowledge``, so that a face can stop between the two."""
        from memory.documents import load_paths

        self.open_memory()
        load_paths(self.memory, paths, progress, outcome, cancel=cancel)

    def documents(self) -> list[Document]:
        """Loaded documents, most recently loaded first."""
        from memory.documents import list_documents

        return list_documents(self.memory)

    def find_document(self, key: str) -> Document:
        """A loaded document by id, path, or (when only one has it) file name or title."""
        from memory.documents import find_document

        return find_document(self.memory, key)

    def summarize_document(self, document: Document, progress: Counter | None = None,
                           cancel: Callable[[], bool] | None = None) -> DocumentSummary:
        """Summarise a loaded document however long (hierarchically, with the model) and store
        the summaries as memories."""
        from memory.doc_summary import summarize_document

        return summarize_document(self.backend, self.memory, document, progress=progress, cancel=cancel)

    # -- transcripts and maintenance ---------------------------------------------------------------
    def import_transcript(self, path: Path, progress: Counter | None = None, *, knowledge: bool = True,
                          knowledge_progress: Counter | None = None) -> ImportResult:
        """Import a JSON Lines transcript into memory (all or nothing), index its sentences and,
        with ``knowledge``, extract its knowledge (else the caller runs ``extract_knowledge``)."""
        from memory.transcripts import import_transcript

        result = import_transcript(self.memory, path, progress)
        self.index_sentences()
        if knowledge:
            self.extract_knowledge(progress=knowledge_progress)
        return result

    def reembed(self, progress: Counter | None = None) -> int:
        """Re-embed every memory with the configured embedding model (after changing it), and
        its sentences; returns how many items. Must be memory's first use in this Assistant."""
        from memory import sentences

        store = self._open_memory(for_reembed=True)
        count = store.reembed(progress=progress)
        with store.lock:
            sentences.ensure_schema(store.db)
            sentences.clear(store.db)  # their vectors came from the other model
        sentences.index_pending(store.db, store.embedder.encode, store.lock)
        return count

    @property
    def embedding_model(self) -> str:
        """The embedding model's name (loads it on first use)."""
        return self.memory.embedder.name

    def memory_status(self) -> dict[str, Any]:
        """Counts of stored items by kind, linked duplicates, and the vector index's state."""
        store = self.memory
        with store.lock:
            rows = store.db.execute("SELECT kind, COUNT(*) FROM memory_items GROUP BY kind").fetchall()
            duplicates = store.db.execute(
                "SELECT COUNT(*) FROM memory_items WHERE duplicate_of IS NOT NULL").fetchone()[0]
        return {"items": dict(rows), "duplicates_linked": duplicates, "indexed_vectors": store.index.index.ntotal,
                "index": "approximate (IVF)" if store.index.is_approximate else "exact (flat)",
                "embedding_model": store.embedder.name}

    def memory_ids_of_sessions(self, keys: Iterable[str]) -> list[int]:
        """The memory items of these sessions (ids, even deleted, or imported transcripts'
        session names)."""
        from assistant.forgetting import session_memory_ids

        return session_memory_ids(self.memory.db, self.session_names(keys))

    def session_names(self, keys: Iterable[str]) -> set[str]:
        """What memory may call these sessions: each key as given (a deleted session's id, an
        imported transcript's session name) and the id of the stored session it names, if any."""
        names = set()
        for key in keys:
            names.add(key)
            try:
                names.add(self.sessions.get(key).id)
            except SessionNotFoundError:
                pass
        return names

    def compact_memory(self) -> None:
        """Leave no copy of forgotten text in the data dir (see ``assistant.forgetting.compact``)."""
        from assistant.forgetting import compact

        compact(self.memory.db)

    # -- the knowledge graph -----------------------------------------------------------------------
    def knowledge_pending(self) -> int:
        """How many memories wait for knowledge extraction."""
        from memory.graph.pipeline import pending_count

        return pending_count(self.knowledge)

    def entity_facts(self, entity_id: int, include_past: bool = True) -> list[FactView]:
        """Facts about an entity, current first, each with its sources."""
        from memory.graph.queries import facts_about

        return facts_about(self.knowledge, entity_id, include_past=include_past)

    def neighbourhood(self, entity_id: int, depth: int = 1) -> Neighbourhood:
        """The entities within ``depth`` hops of one, with the edges between them."""
        from memory.graph.queries import neighbourhood

        return neighbourhood(self.knowledge, entity_id, depth)

    def knowledge_path(self, source: int, target: int, max_depth: int = 4) -> list[Edge] | None:
        """The shortest chain of facts between two entities (None: none within ``max_depth``)."""
        from memory.graph.queries import shortest_path

        return shortest_path(self.knowledge, source, target, max_depth)

    def edge_text(self, edge: Edge) -> str:
        """'Carol works at Ubisoft' (past facts in the past tense)."""
        from memory.graph.queries import phrase

        graph = self.knowledge
        return f"{graph.entity(edge.subject_id).name} {phrase(edge.predicate, edge.current)} " \
               f"{graph.entity(edge.object_id).name}"

    def export_knowledge(self, format_: str, out: IO[str] | IO[bytes] | Path) -> None:
        """The whole graph with provenance as JSON (to a text stream), or as GraphML (to a
        binary stream or a path)."""
        from memory.graph.export import export_graphml, export_json

        if format_ == "json":
            export_json(self.knowledge, out)  # type: ignore[arg-type]
        elif format_ == "graphml":
            export_graphml(self.knowledge, out)  # type: ignore[arg-type]
        else:
            raise MemchatError(f"unknown export format {format_!r}; use json or graphml")
