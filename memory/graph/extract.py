"""The extractors behind one interface: ``extract_batch(inputs) -> list[Extraction]``.

``spacy`` (default): offline, milliseconds per sentence. ``llm``: the chat model answers in
schema-checked JSON; for users who run a capable model.
"""

from __future__ import annotations

from memory.graph.llm_extractor import LlmExtractor
from memory.graph.pipeline import Extractor
from memory.graph.spacy_extractor import SpacyExtractor

EXTRACTORS = ("spacy", "llm", "off")

__all__ = ["EXTRACTORS", "Extractor", "LlmExtractor", "SpacyExtractor"]
