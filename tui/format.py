"""Text the panels show: sizes, dates, excerpts, where a memory comes from, the status line."""

from __future__ import annotations

from collections.abc import Sequence
import re
from typing import TYPE_CHECKING, Any

from assistant.explain import answer_sources, source_label
from assistant.sources import Source

_PAGE = re.compile(r"(.+) p\.(\d+)")  # 'manual.pdf p.3'

if TYPE_CHECKING:
    from assistant.backends import ModelInfo
    from assistant.config import Settings
    from assistant.records import Hit


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 passage', '3 passages', '2 memories' (with ``many``)."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def human_size(size: int) -> str:
    """'532 B', '12.4 KB', '3.1 MB'."""
    if size < 1000:
        return f"{size} B"
    value, unit = float(size), "B"
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 1000:
            break
    return f"{value:.1f} {unit}"


def day(iso: str | None) -> str:
    """The date part of an ISO timestamp ('?' when unknown)."""
    return iso[:10] if iso else "?"


def one_line(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 0)] + "…"


def status_line(info: ModelInfo | None, prompt_tokens: int | None = None,
                tokens_per_s: float | None = None, problem: str | None = None) -> str:
    """Model on device · context used by the last answer's prompt · its speed · backend."""
    if problem:
        return problem
    if info is None:
        return "Loading the model…"
    used = f"{prompt_tokens:,}" if prompt_tokens is not None else "0"
    parts = [f"{info.model} on {info.device}", f"{used}/{info.context_length:,} tokens"]
    if tokens_per_s:
        parts.append(f"{tokens_per_s:.1f} tok/s")
    return " · ".join([*parts, info.backend])


def sources_line(meta: dict[str, Any], width: int = 76) -> str:
    """What an answer drew on, for the line under it, in ``width`` characters ('' when
    nothing matched). Pages of one document go together: 'manual.pdf p.2, 5'."""
    refs = answer_sources(meta)
    if not refs:
        return ""
    pages: dict[str, list[str]] = {}
    for label in dict.fromkeys(source_label(meta, ref) for ref in refs):
        name, page = _PAGE.fullmatch(label).groups() if _PAGE.fullmatch(label) else (label, None)
        pages.setdefault(name, [])
        if page:
            pages[name].append(page)
    names = "; ".join(f"{name} p.{', '.join(numbers)}" if numbers else name for name, numbers in pages.items())
    hint = " · Ctrl+T: where"
    return f"Sources: {one_line(names, width - len('Sources: ') - len(hint))}{hint}"


def search_markdown(query: str, hits: Sequence[Hit], sources: dict[int, Source]) -> str:
    """Search results as a Markdown note; ``sources`` says where each hit's item comes from."""
    if not hits:
        return f"No memories match **{query}**. Load documents with `/load PATH`, or chat first."
    lines = [f"**{plural(len(hits), 'memory', 'memories')} for “{query}”** (`/forget ID` removes one)", ""]
    for rank, hit in enumerate(hits, start=1):
        item = hit.item
        where = sources[item.id].place if item.id in sources else Source(item).place
        lines.append(f"{rank}. `#{item.id}` {where} · score {hit.score:.3f}  ")
        lines.append(f"   {one_line(item.text, 300)}")
    return "\n".join(lines)


def model_markdown(info: ModelInfo | None, settings: Settings) -> str:
    """What /model shows."""
    lines = ["**Model**", ""]
    if info is None:
        lines.append("- still loading…")
    else:
        lines += [f"- name: `{info.model}`", f"- backend: {info.backend} on {info.device}",
                  f"- context: {info.context_length:,} tokens"]
    lines += [f"- answers up to {settings.max_new_tokens:,} tokens, temperature {settings.temperature}",
              f"- embeddings: `{settings.embedding_model or 'built-in default'}`",
              f"- data: `{settings.data_dir}`",
              "", "Change them in the config file (`memchat config path` shows where) and restart."]
    return "\n".join(lines)
