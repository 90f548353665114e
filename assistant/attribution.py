"""Which sources in its prompt an answer drew on, and the sentences it drew from.

Small models rarely write ``[m12]`` themselves, so the answer is matched against its sources:
the words it says that neither the question nor the recent turns said (what it must have
learned elsewhere), weighted by how few sources hold them. A source that holds enough of
those words supports the answer; the sentences of it that hold them are its quotes, which
the context panel highlights.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from memory.store import STOPWORDS

MIN_SHARE = 0.2  # a source must hold this share of the answer's new words (by weight) and
MIN_KEYS = 2  # this many of them (one will do when it is a number or a name)
RUNNER_UP = 0.5  # and at least this fraction of the best source's score
MAX_SOURCES = 4
MAX_QUOTES = 3
_EXTRA_STOPWORDS = frozenset(
    "also just like one two more most some such only very must may might shall each every other into over "
    "after before under again here than then while since until been being same just well yes not nor "
    "said says say use used using make made get got need needs".split()
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Support:
    """A source that backs an answer: its prompt id, how much of the answer's new words it
    holds (0–1, by weight), the words, and its sentences that hold them."""

    ref: str
    score: float
    words: tuple[str, ...]
    quotes: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "words": list(self.words), "quotes": list(self.quotes)}


def _key(word: str) -> str:
    """A crude stem, so 'replaced' meets 'replace' and 'days' meets 'day'."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:6]


def keys(text: str) -> dict[str, str]:
    """The content words of ``text``: stem -> the word as first written (numbers count)."""
    found: dict[str, str] = {}
    for word in re.findall(r"\w+", text):
        lower = word.lower()
        is_number = any(ch.isdigit() for ch in lower)
        if not is_number and (len(lower) < 3 or lower in STOPWORDS or lower in _EXTRA_STOPWORDS):
            continue
        if lower in ("user", "assistant"):
            continue
        found.setdefault(_key(lower), word)
    return found


def _is_name_or_number(word: str) -> bool:
    return any(ch.isdigit() for ch in word) or (len(word) >= 4 and word[0].isupper())


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def attribute(answer: str, sources: Mapping[str, str], known: Iterable[str] = (),
              cited: Iterable[str] = ()) -> list[Support]:
    """The sources (``ref -> text``) that support ``answer``, best first. ``known``: texts whose
    words the answer may repeat without drawing on a source (the question, the recent turns).
    ``cited``: ids the answer cites itself; those come first, with the sentences its words
    match, however few."""
    seen = set().union(*(keys(text) for text in known)) if known else set()
    new = {k: w for k, w in keys(answer).items() if k not in seen}
    cited = [ref for ref in dict.fromkeys(cited) if ref in sources]
    if not new or not sources:
        return [Support(ref, 0.0, (), ()) for ref in cited]
    source_keys = {ref: set(keys(text)) for ref, text in sources.items()}
    holders = {k: sum(k in held for held in source_keys.values()) for k in new}
    weight = {k: math.log(1 + len(sources) / n) for k, n in holders.items() if n}
    total = sum(weight.values()) or 1.0
    scored = {}
    for ref, held in source_keys.items():
        matched = [k for k in new if k in held and k in weight]
        scored[ref] = (sum(weight[k] for k in matched) / total, matched)
    telling = [ref for ref, (score, matched) in scored.items() if matched and score >= MIN_SHARE and (
        len(matched) >= MIN_KEYS or any(_is_name_or_number(new[k]) for k in matched))]
    best = max((scored[ref][0] for ref in telling), default=0.0)
    found = sorted((ref for ref in telling if scored[ref][0] >= RUNNER_UP * best), key=lambda ref: -scored[ref][0])
    chosen = list(dict.fromkeys([*cited, *found[:MAX_SOURCES]]))
    return [Support(ref, round(scored[ref][0], 3), tuple(new[k] for k in scored[ref][1]),
                    _quotes(sources[ref], set(scored[ref][1]), weight)) for ref in chosen]


def _quotes(text: str, matched: set[str], weight: Mapping[str, float]) -> tuple[str, ...]:
    """The sentences of ``text`` that hold most of the matched words, in the text's order."""
    weighed = []
    for position, sentence in enumerate(sentences(text)):
        held = matched & set(keys(sentence))
        if held:
            weighed.append((sum(weight[k] for k in held), position, sentence))
    if not weighed:
        return ()
    best = max(w for w, _, _ in weighed)
    chosen = sorted((w for w in weighed if w[0] >= RUNNER_UP * best), key=lambda w: -w[0])[:MAX_QUOTES]
    return tuple(sentence for _, _, sentence in sorted(chosen, key=lambda w: w[1]))
