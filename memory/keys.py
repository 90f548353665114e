"""How a said turn is written into its retrieval key, so that it is found by what it says:
first-person words name the speaker ("I went" by Caroline → "Caroline went"), relative
dates carry the date they meant when said ("yesterday" → "yesterday (7 May 2023)").

A question asks about people by name ("What did Caroline research?"); the turn that holds
the answer says "I've been researching ...". Naming the speaker lets dense and keyword
search match the two. Only the key changes: the stored text stays as it was said. A role
("user", "assistant") is not a name: the person at the keyboard asks about themselves in
the first person ("Where does my sister live?"), so their own words keep it.
"""

from __future__ import annotations

import re
from datetime import datetime

from memory.timeparse import annotate_relative_dates

_FIRST_PERSON = [  # (pattern, replacement with {name})
    (re.compile(r"\bI'm\b|\bI am\b"), "{name} is"),
    (re.compile(r"\bI've\b"), "{name} has"),
    (re.compile(r"\bI'd\b"), "{name} would"),
    (re.compile(r"\bI'll\b"), "{name} will"),
    (re.compile(r"\bI\b"), "{name}"),
    (re.compile(r"\b(?:[Mm]y|[Mm]ine)\b"), "{name}'s"),
    (re.compile(r"\b(?:[Mm]e|[Mm]yself)\b"), "{name}"),
]
_NAME = re.compile(r"^[\w][\w .'-]{0,40}$")
SPEAKER_ROLES = frozenset({"user", "assistant", "system", "human", "ai", "bot", "me", "you", "model", "tool"})


def name_the_speaker(text: str, speaker: str) -> str:
    """``text`` with the speaker's first-person words replaced by the speaker's name."""
    name = speaker.strip()
    if not name or not _NAME.match(name) or name.lower() in SPEAKER_ROLES:
        return text
    for pattern, replacement in _FIRST_PERSON:
        text = pattern.sub(replacement.format(name=name), text)
    return text


def said_key(text: str, speaker: str, when: datetime) -> str:
    """The key of something ``speaker`` said at ``when``: speaker named, dates resolved."""
    return name_the_speaker(annotate_relative_dates(text, when), speaker)
