"""The records the faces read, part of the assistant's API: what ``Assistant``'s methods
return and take, defined in ``memory`` and re-exported here so that the CLI and the TUI
import nothing from ``memory`` (tests/test_layers.py)."""

from memory.doc_summary import DocumentSummary
from memory.documents import Document, LoadCancelled, LoadOutcome
from memory.documents import Progress as LoadProgress
from memory.graph.graph import Entity, KnowledgeGraph
from memory.graph.queries import Edge, FactView, Neighbourhood
from memory.loaders import SUPPORTED_KINDS
from memory.retrieval import Hit
from memory.store import MemoryItem
from memory.transcripts import ImportResult

__all__ = ["SUPPORTED_KINDS", "Document", "DocumentSummary", "Edge", "Entity", "FactView", "Hit", "ImportResult",
           "KnowledgeGraph", "LoadCancelled", "LoadOutcome", "LoadProgress", "MemoryItem", "Neighbourhood"]
