"""The sentences of a hit that match the query: what a search result shows of a long chunk.

A sentence scores by the query's words it holds (by stem, rarer query words weigh more);
when no sentence shares a word with the query (a paraphrase found by meaning), the sentence
closest in meaning is taken, when an embedder is given. Matched words are returned as
character spans so a face can highlight them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from memory.chunking import _sentences
from memory.store import STOPWORDS

_WORD = re.compile(r"\w+")

Encode = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Snippet:
    """One sentence of the hit, where it starts in the text, and the spans of matched words."""

    text: str
    offset: int
    spans: tuple[tuple[int, int], ...]  # in ``text``


def stem(word: str) -> str:
    """A crude stem that joins 'painted', 'painting', 'paints' and 'run', 'runs': a common
    ending dropped, then the first five letters."""
    word = word.lower()
    for ending in ("ing", "ed", "es", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            word = word[: -len(ending)]
            break
    return word[:5]


def query_stems(query: str) -> set[str]:
    return {stem(w) for w in _WORD.findall(query) if w.lower() not in STOPWORDS and len(w) > 1}


def matching_sentences(text: str, query: str, limit: int = 2, encode: Encode | None = None,
                       max_chars: int = 400) -> list[Snippet]:
    """Up to ``limit`` sentences of ``text`` that best match ``query``, in text order."""
    sentences = [(offset, body.strip()) for offset, body in _sentences(text) if body.strip()]
    if not sentences:
        return []
    wanted = query_stems(query)
    scored: list[tuple[float, int]] = []
    for index, (_, body) in enumerate(sentences):
        stems = {stem(w) for w in _WORD.findall(body)}
        shared = wanted & stems
        scored.append((sum(1 + 1 / math.log2(2 + len(s)) for s in shared), index))
    if not any(score for score, _ in scored) and encode is not None and len(sentences) > 1:
        vectors = encode([query] + [body for _, body in sentences])
        similarity = vectors[1:] @ vectors[0]
        scored = [(float(s), i) for i, s in enumerate(similarity)]
    best = sorted(scored, key=lambda pair: (-pair[0], pair[1]))[:limit]
    chosen = sorted(i for score, i in best if score > 0) or [0]
    return [_snippet(sentences[i][1], sentences[i][0], wanted, max_chars) for i in chosen]


def _snippet(body: str, offset: int, wanted: set[str], max_chars: int) -> Snippet:
    spans = [m.span() for m in _WORD.finditer(body) if stem(m.group()) in wanted and len(m.group()) > 1]
    if len(body) > max_chars:  # keep the part around the first match
        start = max(0, (spans[0][0] if spans else 0) - max_chars // 3)
        body = ("…" if start else "") + body[start : start + max_chars] + "…"
        shift = start - (1 if start else 0)
        spans = [(a - shift, b - shift) for a, b in spans if a >= start and b - shift <= len(body)]
    return Snippet(body, offset, tuple(spans))


def highlight(snippet: Snippet, mark: Callable[[str], str]) -> str:
    """The snippet's text with each matched word passed through ``mark``."""
    out, position = [], 0
    for start, end in snippet.spans:
        out.append(snippet.text[position:start])
        out.append(mark(snippet.text[start:end]))
        position = end
    out.append(snippet.text[position:])
    return "".join(out)


def snippet_lines(snippets: Sequence[Snippet], mark: Callable[[str], str]) -> list[str]:
    return [highlight(s, mark) for s in snippets]
