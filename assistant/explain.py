"""Why an answer said what it did: the stored account of its prompt, as readable lines."""

from __future__ import annotations

import re
from typing import Any

SECTION_ORDER = ("system", "summary", "facts", "memories", "window", "message")
FACT_REF = re.compile(r"\s*\[m\d+\]$")  # a fact line ends with the id of its source


def explain_lines(meta: dict[str, Any], text_width: int = 70) -> list[str]:
    """Lines for ``--explain`` (and the TUI's context panel) from an answer's ``meta``."""
    context = meta.get("context")
    if not context:
        return ["No context was recorded for this answer."]
    sections = context["sections"]
    lines = [f"Prompt: {context['prompt_tokens']:,} of {context['budget']:,} tokens "
             f"(context {context['context_length']:,})"]
    for name in SECTION_ORDER:
        section = sections.get(name, {"tokens": 0, "items": []})
        tokens, items = section["tokens"], section["items"]
        share = f"{tokens / max(context['prompt_tokens'], 1):>4.0%}"
        detail = ""
        if name == "window":
            detail = (f"{context['kept_turns']} turns, from #{context['window_start'] + 1}; "
                      f"{context['dropped_turns']} earlier ones left out") if items else "empty"
        elif name == "summary" and items:
            detail = f"covers turns 1–{items[0]['covers_until'] + 1}"
        elif name in ("facts", "memories"):
            detail = f"{len(items)} {name}" if items else "none"
        lines.append(f"  {name:<9}{tokens:>7,} tok {share}  {detail}".rstrip())
        if name == "facts":
            lines += [f"      {item['text']}" for item in items]
        if name == "memories":
            for item in items:
                excerpt = "(forgotten)" if item.get("forgotten") else " ".join(item["text"].split())
                if len(excerpt) > text_width:
                    excerpt = excerpt[: text_width - 1] + "…"
                lines.append(f"      [{item['ref']}] {item['label']} · score {item['score']:.3f} · {excerpt}")
    cited = meta.get("cited") or []
    lines.append(f"Cited by the model: {', '.join(cited) if cited else 'nothing'}")
    for found in meta.get("support") or []:
        why = f"repeats {', '.join(found['words'][:6])}" if found["words"] else "cited, no words in common"
        lines.append(f"Drawn from [{found['ref']}] {source_label(meta, found['ref'])}: {why}")
        lines += [f"      “{quote}”" for quote in found["quotes"]]
    for warning in context.get("warnings", []):
        lines.append(f"Warning: {warning}")
    return lines


def source_label(meta: dict[str, Any], ref: str) -> str:
    """Where the source ``ref`` of an answer's prompt came from ('manual.pdf p.3', 'chat …'),
    or the fact it gave."""
    sections = (meta.get("context") or {}).get("sections", {})
    for item in sections.get("memories", {}).get("items", []):
        if item["ref"] == ref:
            return str(item["label"])
    for item in sections.get("facts", {}).get("items", []):
        if item["ref"] == ref:
            return f"fact: {FACT_REF.sub('', item['text'])}"
    return "a source no longer listed"


def answer_sources(meta: dict[str, Any]) -> list[str]:
    """The source ids an answer drew on, best first: those the model cited, then those its
    words match."""
    return list(dict.fromkeys([*(meta.get("cited") or []), *(meta.get("supported_by") or [])]))
