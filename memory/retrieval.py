"""Hybrid retrieval: dense (FAISS) + lexical (FTS5/BM25) + the items that mention an entity the
question names (knowledge graph), fused by reciprocal rank, boosted by time expressions and
recency, diversified with MMR.

Dense search wins on paraphrase, BM25 when the question reuses the evidence's words; fusing
both beats either. A date in the question ("last May", "two weeks ago", parsed by rules)
boosts items from that time; a question that names one of the conversation's speakers
("What did Caroline research?") favours what that speaker said; MMR keeps five
near-identical chunks from crowding out the rest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from memory.keys import SPEAKER_ROLES
from memory.store import MemoryItem, MemoryStore, SearchFilters
from memory.timeparse import TimeRange, parse_time_expressions, strip_time_expressions

RRF_K = 60
POOL = 50


@dataclass(frozen=True)
class SearchOptions:
    k: int = 5
    mode: str = "hybrid"  # "hybrid" | "dense" | "lexical"
    filters: SearchFilters = field(default_factory=SearchFilters)
    mmr_lambda: float = 0.7  # 1.0: relevance only; lower: more diversity
    recency_weight: float = 0.0  # 0: off; 0.2: a fresh item scores up to 20% higher
    recency_half_life_days: float = 30.0
    time_boost: float = 0.5  # how much an item inside a date named in the question gains
    use_dates: bool = True
    use_graph: bool = True  # items mentioning an entity the question names join the candidates
    graph_weight: float = 0.5  # their rank list counts this much against dense and lexical (1.0)
    use_sentences: bool = True  # candidates also ranked by their best sentence (said turns)
    speaker_boost: float = 0.3  # gain of what a speaker said when the question names that speaker alone


@dataclass(frozen=True)
class Hit:
    """One result with its score parts and provenance."""

    item: MemoryItem
    score: float
    dense_rank: int | None
    dense_score: float | None
    lexical_rank: int | None
    lexical_score: float | None
    in_time_range: bool
    recency: float
    graph_rank: int | None = None

    def as_dict(self) -> dict:
        item = self.item
        return {
            "id": item.id, "external_id": item.external_id, "kind": item.kind, "source": item.source,
            "session_id": item.session_id, "message_id": item.message_id, "speaker": item.speaker,
            "occurred_at": item.occurred_at,
            "position": item.position, "text": item.text, "score": round(self.score, 6),
            "dense": {"rank": self.dense_rank, "score": self.dense_score},
            "lexical": {"rank": self.lexical_rank, "score": self.lexical_score},
            "in_time_range": self.in_time_range, "recency": round(self.recency, 4), "graph_rank": self.graph_rank,
        }


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def search(store: MemoryStore, query: str, options: SearchOptions | None = None,
           now: datetime | None = None) -> list[Hit]:
    """The ``options.k`` best memories for ``query``."""
    options = options or SearchOptions()
    now = now or datetime.now(UTC)
    ranges: list[TimeRange] = parse_time_expressions(query, now) if options.use_dates else []
    words = strip_time_expressions(query, ranges) if ranges else query
    pool = max(POOL, options.k * 2)

    dense: list[tuple[int, float]] = []
    lexical: list[tuple[int, float]] = []
    query_vector = store.embedder.encode([query])[0] if options.mode != "lexical" else None
    if query_vector is not None:
        dense = store.dense(query_vector, pool, options.filters)
    if options.mode in ("hybrid", "lexical"):
        lexical = store.lexical(words, pool, options.filters)
    windowed_hits: list[tuple[int, float]] = []
    for time_range in ranges:  # also look inside the named time windows, by meaning and by words
        windowed = replace(options.filters, since=time_range.start.isoformat(), until=time_range.end.isoformat())
        if query_vector is not None:
            windowed_hits += store.dense(query_vector, options.k * 4, windowed)
        if options.mode != "dense":
            lexical += [h for h in store.lexical(words, pool, windowed) if h not in lexical]

    graph_hits: list[int] = []
    if options.use_graph and options.mode == "hybrid":
        from memory.graph.context import items_mentioning

        with store.lock:
            mentioned = items_mentioning(store.db, words, limit=pool)
        allowed = store.ids_matching(options.filters, mentioned) if not options.filters.empty else set(mentioned)
        graph_hits = [i for i in mentioned if i in allowed]

    fused: dict[int, float] = {}
    dense_rank = {item_id: rank for rank, (item_id, _) in enumerate(dense, start=1)}
    lexical_rank: dict[int, int] = {}
    for rank, (item_id, _) in enumerate(sorted(lexical, key=lambda h: -h[1]), start=1):
        lexical_rank.setdefault(item_id, rank)
    window_rank: dict[int, int] = {}
    for rank, (item_id, _) in enumerate(sorted(windowed_hits, key=lambda h: -h[1]), start=1):
        window_rank.setdefault(item_id, rank)
    graph_rank = {item_id: rank for rank, item_id in enumerate(graph_hits, start=1)}
    candidates = set(dense_rank) | set(lexical_rank) | set(window_rank) | set(graph_rank)
    vectors = store.embeddings(list(candidates))
    sentence_rank: dict[int, int] = {}
    if options.use_sentences and query_vector is not None:
        sentence_rank = _by_best_sentence(store, candidates, query_vector, vectors)
    for ranks, weight in ((dense_rank, 1.0), (lexical_rank, 1.0), (window_rank, 1.0),
                          (graph_rank, options.graph_weight), (sentence_rank, 1.0)):
        for item_id, rank in ranks.items():
            fused[item_id] = fused.get(item_id, 0.0) + weight / (RRF_K + rank)
    if not fused:
        return []
    items = store.get(list(fused))
    dense_scores, lexical_scores = dict(windowed_hits) | dict(dense), dict(lexical)
    named = _named_speaker(query, items.values()) if options.speaker_boost else None
    scored: list[Hit] = []
    for item_id, base in fused.items():
        item = items.get(item_id)
        if item is None:  # forgotten meanwhile
            continue
        when = _parse_time(item.occurred_at)
        in_range = any(r.start <= when < r.end for r in ranges)
        age_days = max((now - when).total_seconds() / 86400, 0.0)
        recency = math.exp(-age_days * math.log(2) / options.recency_half_life_days)
        score = base * (1 + options.time_boost * in_range) * (1 + options.recency_weight * recency)
        if named is not None and item.speaker == named:
            score *= 1 + options.speaker_boost
        scored.append(Hit(item, score, dense_rank.get(item_id), dense_scores.get(item_id),
                          lexical_rank.get(item_id), lexical_scores.get(item_id), in_range, recency,
                          graph_rank.get(item_id)))
    scored.sort(key=lambda h: -h.score)
    return _mmr(vectors, scored[:pool], options.k, options.mmr_lambda)


def _named_speaker(query: str, items: Iterable[MemoryItem]) -> str | None:
    """The one speaker among the candidates whose name the question uses ("What did Caroline
    research?"), or None when it names none or several (roles such as "user" are not names)."""
    speakers = {item.speaker for item in items if item.speaker and item.speaker.lower() not in SPEAKER_ROLES}
    named = {s for s in speakers if re.search(rf"(?<!\w){re.escape(s)}(?!\w)", query, re.IGNORECASE)}
    return named.pop() if len(named) == 1 else None


def _by_best_sentence(store: MemoryStore, candidates: set[int], query_vector: np.ndarray,
                      vectors: dict[int, np.ndarray]) -> dict[int, int]:
    """The candidates ranked by their best match to the query: the whole item's vector or,
    for a said turn of several sentences, its best sentence's (see ``memory.sentences``)."""
    from memory.sentences import best_sentence_scores, has_table

    if not candidates:
        return {}
    with store.lock:
        if not has_table(store.db):
            return {}
        best = best_sentence_scores(store.db, list(candidates), query_vector)
    if not best:
        return {}
    ids = [i for i in candidates if i in vectors]
    whole = np.stack([vectors[i] for i in ids]) @ query_vector if ids else np.zeros(0)
    scores = dict(zip(ids, whole.tolist(), strict=True))
    combined = {i: max(scores.get(i, -1.0), best.get(i, -1.0)) for i in candidates}
    ordered = sorted(combined, key=lambda i: -combined[i])
    return {item_id: rank for rank, item_id in enumerate(ordered, start=1)}


def _mmr(vectors: dict[int, np.ndarray], candidates: list[Hit], k: int, lam: float) -> list[Hit]:
    """Maximal marginal relevance: trade relevance against similarity to what is already
    chosen (vectorised: a few milliseconds for a hundred candidates)."""
    if lam >= 1.0 or len(candidates) <= 1:
        return candidates[:k]
    dim = next((len(v) for v in vectors.values()), 0)
    if not dim:
        return candidates[:k]
    matrix = np.zeros((len(candidates), dim), dtype=np.float32)  # items without a vector: never redundant
    for row, hit in enumerate(candidates):
        vector = vectors.get(hit.item.id)
        if vector is not None:
            matrix[row] = vector
    relevance = np.asarray([h.score for h in candidates], dtype=np.float64) / (candidates[0].score or 1.0)
    similarity = matrix @ matrix.T
    redundancy = np.zeros(len(candidates))
    open_rows = np.ones(len(candidates), dtype=bool)
    chosen: list[int] = []
    while len(chosen) < min(k, len(candidates)):
        value = np.where(open_rows, lam * relevance - (1 - lam) * redundancy, -np.inf)
        best = int(np.argmax(value))
        chosen.append(best)
        open_rows[best] = False
        redundancy = np.maximum(redundancy, similarity[best])
    return [candidates[i] for i in chosen]
