"""Hierarchical summaries of loaded documents, for documents far longer than the context:
chunks are packed into groups that fit the model's context and summarised (section
summaries); those are packed and summarised again, until one call can write the document
summary. Every summary is stored as a memory item (kind ``summary``, tied to the document,
so it is searchable, cited like any memory, and forgotten with the document).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from memory.clock import utc_now
from memory.documents import Document
from memory.errors import MemchatError
from memory.generation import ChatMessage, GenerationParams, TextGenerator
from memory.store import MemoryStore, NewItem

SUMMARY_TOKENS = 320
PROMPTS = {
    "section": "Summarise this part of the document \"{title}\" in a few sentences. Keep names, numbers, "
               "definitions and conclusions. Answer with the summary only.",
    "document": "These are summaries of the consecutive parts of the document \"{title}\". Write one summary of "
                "the whole document in one or two paragraphs. Answer with the summary only.",
}


@dataclass(frozen=True)
class DocumentSummary:
    document: Document
    text: str
    levels: int  # 1: the document fitted in one call
    calls: int
    item_id: int


Progress = Callable[[int, int], None]  # (calls done, calls expected)


def _prompt(kind: str, title: str, parts: list[str]) -> list[ChatMessage]:
    return [{"role": "system", "content": PROMPTS[kind].format(title=title)},
            {"role": "user", "content": "\n\n".join(parts)}]


def _groups(backend: TextGenerator, kind: str, title: str, texts: list[str], room: int) -> list[list[str]]:
    """Consecutive texts packed into groups whose prompt fits ``room`` tokens."""
    groups: list[list[str]] = [[]]
    for text in texts:
        if backend.count_tokens(text) > room // 2:
            text = text[: room]  # a single huge chunk: keep its beginning (chunks are ~200 tokens)
        candidate = groups[-1] + [text]
        if groups[-1] and backend.count_prompt_tokens(_prompt(kind, title, candidate)) > room:
            groups.append([text])
        else:
            groups[-1] = candidate
    return [g for g in groups if g]


def summarize_document(backend: TextGenerator, store: MemoryStore, document: Document, *,
                       progress: Progress | None = None, cancel: Callable[[], bool] | None = None) -> DocumentSummary:
    """Summarise a loaded document hierarchically and store the summaries as memories."""
    chunks = [row[0] for row in store.db.execute(
        "SELECT text FROM memory_items WHERE document_id = ? AND kind = 'document' ORDER BY id", [document.id])]
    if not chunks:
        raise MemchatError(f"{document.path} has no text to summarise")
    title = document.title or document.path
    room = backend.info.context_length - SUMMARY_TOKENS - 32
    params = GenerationParams(temperature=0.0, max_new_tokens=SUMMARY_TOKENS, repetition_penalty=1.1)
    calls, level, sections = 0, 0, []
    expected = len(_groups(backend, "section", title, chunks, room)) + 1

    def write(kind: str, group: list[str]) -> str:
        nonlocal calls
        if cancel is not None and cancel():
            raise MemchatError("summary cancelled")
        text = "".join(backend.stream(_prompt(kind, title, group), params)).strip() or group[0][:600]
        calls += 1
        if progress:
            progress(calls, max(expected, calls + 1))
        return text

    texts = chunks
    while True:
        level += 1
        groups = _groups(backend, "document", title, texts, room)
        if len(groups) == 1 or (level > 1 and len(groups) >= len(texts)):
            # everything fits one call (or the context is too small to shrink further): the document summary
            final = write("document", groups[0])
            break
        texts = [write("section", group) for group in _groups(backend, "section", title, texts, room)]
        sections += [(level, text) for text in texts]
    return DocumentSummary(document, final, level, calls, _store(store, document, sections, final))


def _store(store: MemoryStore, document: Document, sections: list[tuple[int, str]], final: str) -> int:
    """Replace the document's earlier summaries with these ones; returns the document summary's id."""
    old = [r[0] for r in store.db.execute(
        "SELECT id FROM memory_items WHERE document_id = ? AND kind = 'summary'", [document.id])]
    store.delete(old)
    now = utc_now()
    title = document.title or document.path
    items = [NewItem("summary", text, f"Summary of part of {title}:\n{text}", document.path, now,
                     document_id=document.id, position={"level": level}) for level, text in sections]
    items.append(NewItem("summary", final, f"Summary of {title}:\n{final}", document.path, now,
                         document_id=document.id, position={"level": "document"}))
    return store.add(items)[-1]
