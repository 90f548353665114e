"""Pack sections into token-bounded chunks that overlap by a few trailing sentences.

Sections are cut into sentences (and over-long sentences into word runs); sentences are
counted once each and packed greedily. Every chunk is re-counted whole before it is emitted,
so `count_tokens(chunk.text) <= max_tokens` holds for any tokenizer. Chunks never span a page
or heading change. Streamed: only the chunk being built is held in memory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from memory.loaders import Section

CountTokens = Callable[[str], int]

_SENTENCE_BREAK = re.compile(
    r"(?:(?<=[.!?])|(?<=[.!?][\"'\u201d\u2019)\]]))\s+"  # after ., ! or ? (and a closing quote)
    r"|[ \t]*\n(?=[ \t\n]|[A-Z])"  # a line break before an indented or capitalised line
)
_WORD = re.compile(r"\S+")
_SECTION_GAP = "\n\n"


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough to embed."""

    text: str
    char_start: int
    char_end: int
    tokens: int
    page: int | None
    heading: str | None


@dataclass(frozen=True)
class _Piece:
    """A sentence (or part of one): its text, where it starts, its tokens, the gap before it."""

    text: str
    start: int
    tokens: int
    gap: str

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def chunk_sections(sections: Iterable[Section], count_tokens: CountTokens,
                   max_tokens: int = 200, overlap_tokens: int = 30) -> Iterator[Chunk]:
    """Chunks of at most `max_tokens` tokens, each after the first of a run starting with
    about `overlap_tokens` of the previous chunk's last sentences."""
    if max_tokens < 1 or not 0 <= overlap_tokens < max_tokens:
        raise ValueError(f"need max_tokens >= 1 and 0 <= overlap_tokens < max_tokens, "
                         f"got {max_tokens} and {overlap_tokens}")
    packer = _Packer(count_tokens, max_tokens, overlap_tokens)
    for section in sections:
        if (section.page, section.heading) != (packer.page, packer.heading):
            yield from packer.finish()
            packer.page, packer.heading = section.page, section.heading
        for piece in _section_pieces(section, count_tokens, max_tokens, max_tokens - overlap_tokens):
            yield from packer.add(piece)
    yield from packer.finish()


class _Packer:
    """Greedy packing of pieces into chunks of one page and heading."""

    def __init__(self, count_tokens: CountTokens, max_tokens: int, overlap_tokens: int) -> None:
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.page: int | None = None
        self.heading: str | None = None
        self.pieces: list[_Piece] = []
        self.carried = 0  # how many leading pieces are overlap from the previous chunk
        self.tokens = 0

    def add(self, piece: _Piece) -> Iterator[Chunk]:
        if self.tokens + piece.tokens > self.max_tokens and len(self.pieces) > self.carried:
            yield from self._emit()
        while self.carried and self.tokens + piece.tokens > self.max_tokens:
            self._drop_first()
        self.pieces.append(piece)
        self.tokens += piece.tokens

    def finish(self) -> Iterator[Chunk]:
        """Emit what is left; the next chunk starts afresh, without overlap."""
        while len(self.pieces) > self.carried:
            yield from self._emit()
        self.pieces, self.carried, self.tokens = [], 0, 0

    def _emit(self) -> Iterator[Chunk]:
        text, tokens, deferred = self._fit()
        yield Chunk(text, self.pieces[0].start, self.pieces[-1].end, tokens, self.page, self.heading)
        self.pieces = _overlap(self.pieces, self.overlap_tokens, self.count_tokens)
        self.carried = len(self.pieces)
        self.tokens = sum(p.tokens for p in self.pieces)
        for piece in deferred:
            yield from self.add(piece)

    def _fit(self) -> tuple[str, int, list[_Piece]]:
        """The chunk's text and true token count, shedding overlap first, then trailing pieces
        (returned, to go in the next chunk) until the whole text really fits."""
        deferred: list[_Piece] = []
        while True:
            text = _join(self.pieces)
            tokens = self.count_tokens(text)
            if tokens <= self.max_tokens or len(self.pieces) == 1:
                return text, tokens, deferred
            if self.carried:
                self._drop_first()
            else:
                deferred.insert(0, self.pieces.pop())
                self.tokens -= deferred[0].tokens

    def _drop_first(self) -> None:
        self.tokens -= self.pieces.pop(0).tokens
        self.carried -= 1


def _join(pieces: list[_Piece]) -> str:
    """The text of consecutive pieces, with the whitespace that separated them."""
    return pieces[0].text + "".join(p.gap + p.text for p in pieces[1:])


def _overlap(pieces: list[_Piece], budget: int, count_tokens: CountTokens) -> list[_Piece]:
    """The trailing whole pieces that fit `budget` tokens, or else the tail words of the last."""
    if budget <= 0:
        return []
    tail: list[_Piece] = []
    used = 0
    for piece in reversed(pieces):
        if used + piece.tokens > budget:
            break
        tail.insert(0, piece)
        used += piece.tokens
    if tail:
        return tail
    words = _tail_words(pieces[-1], budget, count_tokens)
    return [words] if words else []


def _tail_words(piece: _Piece, budget: int, count_tokens: CountTokens) -> _Piece | None:
    """A run of final words of `piece` within `budget` tokens: estimated, then shrunk until it fits."""
    words = [m.start() for m in _WORD.finditer(piece.text)]
    take = min(len(words) - 1, math.ceil(len(words) * budget / max(piece.tokens, 1)))
    while take > 0:
        offset = words[-take]
        text = piece.text[offset:]
        tokens = count_tokens(text)
        if tokens <= budget:
            return _Piece(text, piece.start + offset, tokens, " ")
        take = min(take - 1, take * budget // tokens)
    return None


def _section_pieces(section: Section, count_tokens: CountTokens, max_tokens: int,
                    split_tokens: int) -> Iterator[_Piece]:
    """The section's sentences as pieces; one over `max_tokens` is cut into word runs of at most
    `split_tokens`, leaving room for the overlap in front of each."""
    previous_end: int | None = None
    for offset, text in _sentences(section.text):
        gap = _SECTION_GAP if previous_end is None else section.text[previous_end:offset]
        previous_end = offset + len(text)
        piece = _Piece(text, section.char_start + offset, count_tokens(text), gap)
        if piece.tokens <= max_tokens:
            yield piece
        else:
            yield from _split_words(piece, count_tokens, split_tokens)


def _sentences(text: str) -> Iterator[tuple[int, str]]:
    """(offset, sentence) for each non-blank sentence of `text`, trailing whitespace trimmed."""
    position = 0
    for match in _SENTENCE_BREAK.finditer(text):
        yield from _sentence(text, position, match.start())
        position = match.end()
    yield from _sentence(text, position, len(text))


def _sentence(text: str, start: int, end: int) -> Iterator[tuple[int, str]]:
    body = text[start:end].rstrip()
    if body.strip():
        yield start, body


def _split_words(piece: _Piece, count_tokens: CountTokens, max_tokens: int) -> Iterator[_Piece]:
    """Cut an over-long sentence into runs of whole words, each within `max_tokens`."""
    spans = [m.span() for m in _WORD.finditer(piece.text)]
    per_word = piece.tokens / len(spans)
    index, gap = 0, piece.gap
    while index < len(spans):
        take = max(1, min(len(spans) - index, int(max_tokens / per_word * 0.9)))
        while True:
            start, end = spans[index][0], spans[index + take - 1][1]
            text = piece.text[start:end]
            tokens = count_tokens(text)
            if tokens <= max_tokens:
                yield _Piece(text, piece.start + start, tokens, gap)
                break
            if take == 1:
                yield from _split_chars(_Piece(text, piece.start + start, tokens, gap), count_tokens, max_tokens)
                break
            take = max(1, min(take - 1, int(take * max_tokens / tokens)))
        index += take
        if index < len(spans):
            gap = piece.text[end:spans[index][0]]


def _split_chars(piece: _Piece, count_tokens: CountTokens, max_tokens: int) -> Iterator[_Piece]:
    """Cut a single over-long word into the longest prefixes that fit (binary search)."""
    text, start, gap = piece.text, 0, piece.gap
    while start < len(text):
        low, high = start + 1, len(text)
        while low < high:  # largest end with count(text[start:end]) <= max_tokens
            middle = (low + high + 1) // 2
            if count_tokens(text[start:middle]) <= max_tokens:
                low = middle
            else:
                high = middle - 1
        part = text[start:low]
        yield _Piece(part, piece.start + start, count_tokens(part), gap)
        start, gap = low, ""
