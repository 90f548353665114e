"""The rolling summary of a session: turns that leave the window are folded into it by the
model, incrementally (old summary + newly scrolled-out turns → new summary), in the
background after an answer. It goes into the prompt's stable part, so it only changes when
the window moves, which is when the cached prefix is rebuilt anyway.
"""

from __future__ import annotations

from assistant.backends.base import Backend, ChatMessage, GenerationParams
from assistant.sessions import Message, SessionStore

SUMMARY_TOKENS = 256
MIN_NEW_MESSAGES = 2
CATCH_UP_TOKENS = 1536  # new material per update: one model call, seconds on a CPU
INSTRUCTIONS = (
    "You keep a running summary of a conversation between a user and an assistant. Update the summary with "
    "the new turns. Keep names, facts about people, places, dates, decisions, preferences and open questions; "
    "drop small talk. Write plain sentences, at most 150 words. Answer with the summary only."
)


def summary_due(sessions: SessionStore, session_id: str, window_start: int) -> bool:
    """Whether turns before ``window_start`` are neither in the window nor in the summary."""
    current = sessions.summary(session_id)
    covered = current.covers_until + 1 if current else 0
    return window_start - covered >= MIN_NEW_MESSAGES


def _transcript(messages: list[Message]) -> list[str]:
    return [f"{m.role.capitalize()}: {m.content.strip()}" for m in messages
            if m.role in ("user", "assistant") and m.content.strip() and m.status != "error"]


def summary_prompt(previous: str, lines: list[str]) -> list[ChatMessage]:
    return [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": f"Summary so far:\n{previous or '(nothing yet)'}\n\nNew turns:\n"
                                    + "\n".join(lines) + "\n\nThe updated summary:"},
    ]


def _batches(backend: Backend, previous: str, lines: list[str], room: int) -> list[list[str]]:
    """The new turns in groups that each fit the model's context with the summary."""
    batches: list[list[str]] = [[]]
    for line in lines:
        cut = line if backend.count_tokens(line) < room // 2 else line[: room * 2] + " …"
        candidate = batches[-1] + [cut]
        if batches[-1] and backend.count_prompt_tokens(summary_prompt(previous, candidate)) > room:
            batches.append([cut])
        else:
            batches[-1] = candidate
    return [b for b in batches if b]


def update_summary(backend: Backend, sessions: SessionStore, session_id: str, window_start: int) -> bool:
    """Summarise the turns between the current summary and ``window_start``; True when updated."""
    current = sessions.summary(session_id)
    covered = current.covers_until + 1 if current else 0
    if window_start - covered < MIN_NEW_MESSAGES:
        return False
    lines = _transcript(sessions.range(session_id, max(covered, window_start - 400), window_start))
    text = current.text if current else ""
    room = min(backend.info.context_length - SUMMARY_TOKENS - 64,
               backend.count_prompt_tokens(summary_prompt(text, [])) + CATCH_UP_TOKENS)
    params = GenerationParams(temperature=0.0, max_new_tokens=SUMMARY_TOKENS, repetition_penalty=1.1)
    batches = _batches(backend, text, lines, room)
    # far behind (a long imported session): fold in only the turns just before the window;
    # the older ones stay findable through memory search
    for batch in batches[-1:]:
        answer = "".join(backend.stream(summary_prompt(text, batch), params)).strip()
        if answer:
            text = answer
    if not text:
        return False
    sessions.save_summary(session_id, text, window_start - 1, backend.info.model)
    return True
