"""Prompt assembly within the model's token budget.

The prompt is ordered so that its stable part comes first and the per-message part last,
which lets the backend reuse the key/value cache of the prefix from one turn to the next:

    system    system prompt, then the rolling summary of turns that left the window
    window    the most recent turns, whole rounds, newest kept; its start moves in blocks of
              a quarter of what fits (at most ``WINDOW_BLOCK``), so the cache is rebuilt rarely
    user      [facts about the entities in play] [retrieved memories, each with its id]
              then the user's message

Budget = context length - tokens reserved for the answer. Section shares adapt to the
context: a small model gets relatively more retrieval, a 128k model keeps hundreds of
turns. Token counts come from the model's own tokenizer and chat template; the final
prompt is counted exactly and never exceeds the budget. The user's message is always there;
an enormous one is cut in the middle with a visible notice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.backends.base import Backend, ChatMessage
from assistant.errors import PromptTooLongError

MIN_ANSWER_TOKENS = 16
MIN_MESSAGE_TOKENS = 24  # below this, a cut message says nothing
WINDOW_BLOCK = 64  # messages: the window's start moves in steps of at most this many
MESSAGE_SHARE = 0.05  # room kept for the next message (a longer one takes it from the window)
MAX_MEMORY_TOKENS = 320  # one retrieved memory is cut to this (or less on small budgets)
CITE_HINT = "Cite the [id] of any memory or fact you use."


def prompt_budget(context_length: int, max_new_tokens: int) -> int:
    """Tokens available to the prompt: the context minus the tokens reserved for the answer."""
    reserve = min(max_new_tokens, context_length // 2)
    return context_length - max(reserve, MIN_ANSWER_TOKENS)


def section_shares(context_length: int) -> dict[str, float]:
    """The most each optional section may take of what the system prompt and message leave.
    The window takes the rest. Small contexts lean on retrieval; big ones on the window."""
    # 0 at 4k tokens and below, 1 at 128k and above, log-linear between
    big = min(max((math.log2(max(context_length, 1)) - 12) / 5, 0.0), 1.0)
    return {
        "facts": 0.10 - 0.05 * big,
        "summary": 0.15 - 0.08 * big,
        "memories": 0.35 - 0.20 * big,
    }


@dataclass(frozen=True)
class Turn:
    """A past message of the session: its position in the session and its token count."""

    index: int
    message_id: int
    role: str
    content: str
    tokens: int | None = None


@dataclass(frozen=True)
class Memory:
    """A retrieved memory offered to the prompt."""

    ref: str  # "m12": the id the model cites
    item_id: int
    text: str
    label: str  # where and when: 'chat "Trip" 2026-05-02' or 'manual.pdf p.3'
    score: float = 0.0
    session_id: str | None = None
    message_id: int | None = None
    order: tuple = ()  # where it stands among memories of the same label (turn, page, chunk)


@dataclass(frozen=True)
class Fact:
    """A knowledge-graph fact line offered to the prompt."""

    text: str
    ref: str
    item_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Summary:
    text: str
    covers_until: int  # the session index of the last message it covers


@dataclass
class ContextInputs:
    system_prompt: str
    user_text: str
    turns: Sequence[Turn] = ()  # the session's most recent messages, oldest first
    total_messages: int | None = None  # how many the session has (``turns`` may be its tail)
    memories: Sequence[Memory] = ()
    facts: Sequence[Fact] = ()
    summary: Summary | None = None
    session_id: str | None = None
    reserve_memories: bool = True  # keep the memories' share free (retrieval is on)
    reserve_facts: bool = True
    memory_tokens: int | None = None  # most tokens the memory section may take (None: what is left)


@dataclass
class Section:
    tokens: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PromptPlan:
    """The messages sent to the model and an account of what went in, and why."""

    messages: list[ChatMessage]
    prompt_tokens: int
    budget: int
    context_length: int
    window_start: int  # session index of the first message in the window
    kept_history: int
    dropped_history: int
    sections: dict[str, Section]
    warnings: list[str] = field(default_factory=list)
    message_cut: bool = False
    stable_messages: int = 0  # leading messages that form the cacheable prefix
    source_texts: dict[str, str] = field(default_factory=dict)  # ref -> what the prompt showed of it

    @property
    def refs(self) -> set[str]:
        return {item["ref"] for name in ("memories", "facts") for item in self.sections[name].items}

    def explain(self) -> dict[str, Any]:
        """What ``--explain`` and the context panel show, stored with the answer."""
        return {
            "budget": self.budget, "context_length": self.context_length, "prompt_tokens": self.prompt_tokens,
            "window_start": self.window_start, "kept_turns": self.kept_history, "dropped_turns": self.dropped_history,
            "message_cut": self.message_cut, "warnings": list(self.warnings),
            "sections": {name: {"tokens": s.tokens, "items": s.items} for name, s in self.sections.items()},
        }


class _Counter:
    """Token counts with the backend's tokenizer and the per-message cost of its chat template."""

    def __init__(self, backend: Backend):
        self.backend = backend
        one = backend.count_prompt_tokens([{"role": "user", "content": "x"}])
        two = backend.count_prompt_tokens([{"role": "user", "content": "x"}, {"role": "assistant", "content": "x"},
                                           {"role": "user", "content": "x"}])
        x = backend.count_tokens("x")
        self.per_message = max((two - one - 2 * x) // 2, 0) + 1  # +1: merges at boundaries
        self.cache: dict[str, int] = {}

    def text(self, text: str) -> int:
        if len(text) < 2000:
            if text not in self.cache:
                self.cache[text] = self.backend.count_tokens(text)
            return self.cache[text]
        return self.backend.count_tokens(text)

    def prompt(self, messages: list[ChatMessage]) -> int:
        return self.backend.count_prompt_tokens(messages)

    def cut(self, text: str, tokens: int, notice: str = "…") -> str:
        """The text shortened to about ``tokens`` tokens (by characters, checked by count)."""
        if tokens <= 0:
            return ""
        if self.text(text) <= tokens:
            return text
        ratio = len(text) / max(self.text(text), 1)
        keep = int(tokens * ratio)
        while keep > 0:
            candidate = text[:keep].rstrip() + notice
            if self.text(candidate) <= tokens:
                return candidate
            keep = int(keep * 0.9)
        return ""


def cut_message(counter: _Counter, text: str, tokens: int) -> str:
    """An enormous message cut in the middle to ``tokens``, saying so where the cut is."""
    total = counter.text(text)
    notice = f"\n\n[… {{}} of this message's {total:,} tokens were cut here to fit the model's context …]\n\n"
    room = tokens - counter.text(notice.format("0,000,000"))
    if room < MIN_MESSAGE_TOKENS:
        return ""
    ratio = len(text) / max(total, 1)
    head_chars, tail_chars = int(room * 0.7 * ratio), int(room * 0.3 * ratio)
    while head_chars > 0:
        dropped = total - counter.text(text[:head_chars]) - counter.text(text[len(text) - tail_chars:])
        candidate = text[:head_chars] + notice.format(f"{max(dropped, 0):,}") + text[len(text) - tail_chars:]
        if counter.text(candidate) <= tokens:
            return candidate
        head_chars, tail_chars = int(head_chars * 0.9), int(tail_chars * 0.9)
    return ""


def memory_groups(memories: Sequence[Memory]) -> list[tuple[str, list[Memory]]]:
    """Memories grouped by their label (a chat's date, a document's page), each label once:
    groups in the order their first member was chosen, members in their own order (turns of
    a conversation as they were said), so the model reads each source as one passage."""
    groups: dict[str, list[Memory]] = {}
    for memory in memories:
        groups.setdefault(memory.label, []).append(memory)
    return [(label, sorted(members, key=lambda m: (m.order, m.item_id))) for label, members in groups.items()]


def _context_block(facts: list[Fact], memories: list[Memory], memory_texts: dict[str, str]) -> str:
    parts = []
    if facts:
        parts.append("Known facts:\n" + "\n".join(f"- {f.text}" for f in facts))
    if memories:
        lines = ["Relevant memories:"]
        for label, members in memory_groups(memories):
            lines.append(f"({label})")
            lines += [f"[{m.ref}] {memory_texts[m.ref]}" for m in members]
        parts.append("\n".join(lines))
    if not parts:
        return ""
    return "<context>\n" + "\n\n".join(parts) + f"\n{CITE_HINT}\n</context>\n\n"


def assemble(backend: Backend, inputs: ContextInputs, max_new_tokens: int, *,
             context_length: int | None = None, window_block: int = WINDOW_BLOCK) -> PromptPlan:
    """Build the prompt for ``inputs`` within the budget (see the module docstring)."""
    counter = _Counter(backend)
    context = context_length or backend.info.context_length
    budget = prompt_budget(context, max_new_tokens)
    warnings: list[str] = []
    sections = {name: Section() for name in ("system", "summary", "facts", "memories", "window", "message")}

    # 1. what must be there: the message (cut if enormous) and, room allowing, the system prompt
    system_prompt, user_text, message_cut = inputs.system_prompt, inputs.user_text, False
    base = counter.prompt(_messages(system_prompt, [], user_text))
    if base > budget:
        overhead = base - counter.text(user_text) - counter.text(system_prompt)
        if overhead + counter.text(system_prompt) + MIN_MESSAGE_TOKENS > budget and system_prompt:
            warnings.append("the system prompt was left out: the budget is smaller than it")
            system_prompt = ""
        room = budget - overhead - counter.text(system_prompt)
        if counter.text(user_text) > room:
            user_text = cut_message(counter, user_text, room)
            if not user_text:
                raise PromptTooLongError(
                    f"the model's {context}-token context leaves {budget} tokens for the prompt after reserving "
                    f"room for the answer: not enough for the message; lower --max-new-tokens or use a model "
                    "with a longer context")
            message_cut = True
            warnings.append(f"the message was cut to fit: {counter.text(inputs.user_text):,} tokens, "
                            f"the prompt has room for {room:,}")
        base = counter.prompt(_messages(system_prompt, [], user_text))
    free = budget - base
    shares = section_shares(context)

    # 2. the rolling summary, facts and memories, each within its share
    summary_text = ""
    if inputs.summary and inputs.summary.text.strip() and system_prompt is not None:
        wrapper = "\n\nSummary of the earlier conversation:\n"
        summary_text = counter.cut(inputs.summary.text.strip(), int(free * shares["summary"]) - counter.text(wrapper))
        if summary_text:
            summary_text = wrapper + summary_text
    facts = _take(list(inputs.facts), lambda f: counter.text(f.text) + 2, int(free * shares["facts"]))

    # 3. the window: newest turns that fit what is left, starting on a block boundary. Its room
    # comes from fixed reserves, not from this message's memories, facts or length, so that the
    # window (and the cached prefix) stays put from one message to the next.
    turns = list(inputs.turns)
    total = inputs.total_messages if inputs.total_messages is not None else (turns[-1].index + 1 if turns else 0)
    steady = budget - counter.prompt(_messages(system_prompt, [], ""))
    message_room = max(counter.text(user_text), int(steady * MESSAGE_SHARE))
    reserves = sum(int(steady * shares[name]) for name, wanted in (
        ("summary", bool(inputs.summary)), ("facts", inputs.reserve_facts), ("memories", inputs.reserve_memories))
        if wanted)
    window_room = steady - message_room - reserves
    start = _window_start(turns, total, window_room, counter, window_block)
    window = [t for t in turns if t.index >= start]

    # 4. memories: those not already in the window, in rank order, in the room left
    in_window = {t.message_id for t in window}
    first_window_id = window[0].message_id if window else None
    candidates = [m for m in inputs.memories if not _in_window(m, inputs.session_id, in_window, first_window_id)]
    used = counter.prompt(_messages(system_prompt + summary_text, window, user_text)) - base
    room = free - used - sum(counter.text(f.text) + 2 for f in facts) - 40  # 40: the block's own words
    if inputs.memory_tokens is not None:
        room = min(room, inputs.memory_tokens)
    per_memory = max(min(MAX_MEMORY_TOKENS, room // 3), 48)
    texts: dict[str, str] = {}
    memories: list[Memory] = []
    labels: set[str] = set()
    for memory in candidates:  # in rank order, while they fit
        text = counter.cut(memory.text.strip(), per_memory)
        cost = counter.text(f"[{memory.ref}] {text}") + 1
        if memory.label not in labels:
            cost += counter.text(f"({memory.label})") + 1
        if text and cost <= room:
            texts[memory.ref], room = text, room - cost
            memories.append(memory)
            labels.add(memory.label)
        elif room < 16:
            break

    # 5. assemble, count exactly, and shrink if the template merged differently than estimated
    while True:
        block = _context_block(facts, memories, texts)
        messages = _messages(system_prompt + summary_text, window, block + user_text)
        tokens = counter.prompt(messages)
        if tokens <= budget:
            break
        if memories:
            memories.pop()
        elif facts:
            facts.pop()
        elif window:
            window = window[2:] if len(window) > 1 else []
        elif summary_text:
            summary_text = ""
        else:  # pragma: no cover - the base prompt was checked to fit
            raise PromptTooLongError(f"the prompt needs {tokens} tokens but only {budget} fit")

    sections["system"] = Section(counter.text(system_prompt))
    sections["summary"] = Section(counter.text(summary_text), [{"covers_until": inputs.summary.covers_until}]
                                  if summary_text and inputs.summary else [])
    sections["facts"] = Section(sum(counter.text(f.text) + 2 for f in facts),
                                [{"ref": f.ref, "text": f.text, "items": list(f.item_ids)} for f in facts])
    sections["memories"] = Section(sum(counter.text(texts[m.ref]) for m in memories) if memories else 0, [
        {"ref": m.ref, "id": m.item_id, "label": m.label, "score": round(m.score, 6),
         "tokens": counter.text(texts[m.ref]), "text": texts[m.ref][:400]} for m in memories])
    sections["window"] = Section(sum(t.tokens or counter.text(t.content) for t in window),
                                 [{"message_id": t.message_id, "index": t.index, "role": t.role} for t in window])
    sections["message"] = Section(counter.text(user_text))
    window_start = window[0].index if window else total
    return PromptPlan(messages, tokens, budget, context, window_start, len(window), total - len(window), sections,
                      warnings, message_cut, stable_messages=len(messages) - 1,
                      source_texts=_source_texts(facts, memories, texts))


def _source_texts(facts: list[Fact], memories: list[Memory], memory_texts: dict[str, str]) -> dict[str, str]:
    """What the prompt showed of each source id (a fact shares the id of the item it came from)."""
    texts = {m.ref: memory_texts[m.ref] for m in memories}
    for fact in facts:
        texts[fact.ref] = f"{texts[fact.ref]}\n{fact.text}" if fact.ref in texts else fact.text
    return texts


def _messages(system: str, window: Sequence[Turn], user_text: str) -> list[ChatMessage]:
    head: list[ChatMessage] = [{"role": "system", "content": system}] if system else []
    return head + [{"role": t.role, "content": t.content} for t in window] + [{"role": "user", "content": user_text}]


def _take(items: list, cost, room: int) -> list:  # noqa: ANN001
    taken = []
    for item in items:
        spend = cost(item)
        if spend <= room:
            taken.append(item)
            room -= spend
    return taken


def _window_start(turns: list[Turn], total: int, room: int, counter: _Counter, block: int) -> int:
    """The session index where the window starts: the earliest whose turns fit in ``room``,
    moved forward to a multiple of ``block`` (so it stays put for ``block`` messages and the
    cached prefix stays valid), and onto a user turn."""
    used, earliest = 0, total
    for turn in reversed(turns):
        cost = (turn.tokens if turn.tokens is not None else counter.text(turn.content)) + counter.per_message
        if used + cost > room:
            break
        used += cost
        earliest = turn.index
    fitting = total - earliest
    # the block is at most a quarter of what fits (rounding never costs more than that), and a
    # power of two, so that small changes in what fits do not move the grid it starts on
    block = max(2, min(block, 2 ** int(math.log2(max(fitting // 4, 1)))))
    start = earliest if earliest == (turns[0].index if turns else 0) else math.ceil(earliest / block) * block
    by_index = {t.index: t for t in turns}
    while start < total and start in by_index and by_index[start].role != "user":
        start += 1
    return min(start, total)


def _in_window(memory: Memory, session_id: str | None, in_window: set[int], first_window_id: int | None) -> bool:
    """A chat round of this session whose answer is still in the window would repeat it."""
    if memory.session_id is None or memory.session_id != session_id or memory.message_id is None:
        return False
    return memory.message_id in in_window or (first_window_id is not None and memory.message_id >= first_window_id)
