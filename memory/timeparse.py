"""Find time expressions in a question ("last May", "two weeks ago", "in 2023") by rules alone.

Memory retrieval uses the ranges to narrow or boost results by time. Each pattern in
``_PATTERNS`` is a regex paired with a small resolver that turns a match into a
``[start, end)`` range of local wall-clock time in ``now``'s timezone. Every pattern may be
preceded by a preposition ("in", "on", "since", ...) and a part ("early", "mid", "late",
"the end of", ...): "since X" runs from the start of X up to ``now``, and a part keeps the
matching third of X. Text with no time expression yields ``[]``: nothing is guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dateutil.relativedelta import relativedelta


@dataclass(frozen=True)
class TimeRange:
    """A span of time a question refers to."""

    start: datetime  # inclusive, in now's timezone
    end: datetime  # exclusive
    text: str  # the expression as it appears in the question


Span = tuple[datetime, datetime]
Resolver = Callable[[re.Match[str], datetime], Span | None]

_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip
_ABBREVIATIONS = {"jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_SEASON_START = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a": 1, "an": 1,
}  # fmt: skip
_FUZZY = {"couple": (2, 3), "few": (2, 6), "several": (3, 7)}  # (fewest, most) units
_PARTS = {"early": 0, "beginning": 0, "start": 0, "mid": 1, "middle": 1, "late": 2, "end": 2}
_YEAR_PREPS = {"in", "during", "since", "from", "of", "on", "throughout"}
# Words after "may"/"march" that make them a verb ("May I ...", "this may be ...").
_VERB_NEXT = re.compile(
    r"\s+(?:i|we|you|he|she|they|it|one|someone|anyone|everyone|be|have|not|also|still|never|"
    r"just|well|need|want|take|make|seem|help|come|go|get|mean|cause|happen|change|look|"
    r"sound|work|include|require|affect|contain|on|forward)\b",
    re.IGNORECASE,
)

_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_YEAR = r"(?:19\d\d|20\d\d|2100)"
_COUNT = r"\d{1,4}|(?:a\s+)?couple(?:\s+of)?|(?:a\s+)?few|several|" + "|".join(
    sorted(_NUMBERS, key=len, reverse=True)
)
_UNIT = r"(?P<unit>day|week|month|year)s?"
_DAY = r"(?<![\d.,:/-])(?P<day>\d{1,2})(?:st|nd|rd|th)?(?![\d]|[.:/-]\d)"
_PREFIX = (
    r"(?:\b(?P<prep>in|during|on|from|since|of|over|at|around|throughout|within)\s+)?"
    r"(?:\b(?P<part>early|mid|late|the\s+(?:beginning|start|middle|end)\s+of)(?:\s+|-))?"
)


# --- calendar helpers ------------------------------------------------------------------


def _day(now: datetime, year: int, month: int, day: int = 1) -> datetime:
    """Local midnight of a date, in now's timezone."""
    return now.replace(year=year, month=month, day=day, hour=0, minute=0, second=0, microsecond=0)


def _today(now: datetime) -> datetime:
    return _day(now, now.year, now.month, now.day)


def _days(start: datetime, n: int = 1) -> Span:
    return start, start + timedelta(days=n)


def _month(now: datetime, year: int, month: int) -> Span:
    start = _day(now, year, month)
    return start, start + relativedelta(months=1)


def _year(now: datetime, year: int) -> Span:
    return _day(now, year, 1), _day(now, year + 1, 1)


def _week(now: datetime, offset: int = 0) -> Span:
    """The Monday-to-Monday week ``offset`` weeks from the current one."""
    monday = _today(now) - timedelta(days=now.weekday() - 7 * offset)
    return _days(monday, 7)


def _third(span: Span, part: int) -> Span:
    """Early/mid/late third: by months for years and seasons, 1-10/11-20/21-end for a month."""
    start, end = span
    whole_months = start.day == end.day == 1 and start.time() == end.time() == datetime.min.time()
    months = (end.year - start.year) * 12 + end.month - start.month
    if whole_months and months >= 3 and months % 3 == 0:
        step = months // 3
        return start + relativedelta(months=step * part), start + relativedelta(months=step * (part + 1))
    if whole_months and months == 1:
        cuts = [start, start.replace(day=11), start.replace(day=21), end]
        return cuts[part], cuts[part + 1]
    days = (end - start).days
    if days < 3:
        return span
    cuts = [0, round(days / 3), round(2 * days / 3), days]
    return start + timedelta(days=cuts[part]), start + timedelta(days=cuts[part + 1])


def _count(word: str) -> tuple[int, int]:
    """A count as (fewest, most): "3" -> (3, 3), "a few" -> (2, 6)."""
    word = word.lower()
    if word.isdigit():
        return int(word), int(word)
    for key, bounds in _FUZZY.items():
        if key in word:
            return bounds
    n = _NUMBERS[word]
    return n, n


def _month_word_ok(m: re.Match[str], context: bool) -> bool:
    """Whether the month word is a month and not "may"/"march" the verb or a stray abbreviation.

    ``context`` is true when a day, year or modifier next to it already marks it as a date.
    """
    word = m.group("month")
    if m.group("prep"):
        return True
    if not context and not m.group("part"):
        # A lone month name: must be capitalised, spelled out, and not read as a verb.
        if not word[0].isupper() or word.lower() in _ABBREVIATIONS:
            return False
        return not (word.lower() in ("may", "march") and _VERB_NEXT.match(m.string, m.end("month")))
    if word.islower() and word in ("may", "march"):
        return not _VERB_NEXT.match(m.string, m.end("month"))
    return True


# --- resolvers -------------------------------------------------------------------------


def _relative_day(offset: int) -> Resolver:
    return lambda m, now: _days(_today(now) + timedelta(days=offset))


def _this_last_next(m: re.Match[str], now: datetime) -> Span:
    offset = {"this": 0, "last": -1, "next": 1}[m.group("mod").lower()]
    unit = m.group("unit").lower()
    if unit == "week":
        return _week(now, offset)
    if unit == "month":
        first = _day(now, now.year, now.month) + relativedelta(months=offset)
        return _month(now, first.year, first.month)
    return _year(now, now.year + offset)


def _weekend(m: re.Match[str], now: datetime) -> Span | None:
    mod = (m.group("mod") or "").lower()
    if not mod and not m.group("prep"):
        return None  # "the weekend" alone is too vague ("I love the weekend")
    offset = {"this": 0, "last": -1, "next": 1}.get(mod, 0 if now.weekday() >= 5 else -1)
    monday, _ = _week(now, offset)
    return _days(monday + timedelta(days=5), 2)


def _ago(m: re.Match[str], now: datetime) -> Span:
    """N units ago: that day; or a window around the point (weeks ±3 days, months ±15 days,
    years ±6 months); fuzzy counts cover the union of their windows."""
    fewest, most = _count(m.group("count"))
    today, unit = _today(now), m.group("unit").lower()
    if unit == "day":
        return today - timedelta(days=most), today - timedelta(days=fewest - 1)
    if unit == "week":
        return today - timedelta(days=7 * most + 3), today - timedelta(days=7 * fewest - 4)
    if unit == "month":
        return (
            today - relativedelta(months=most, days=15),
            today - relativedelta(months=fewest) + timedelta(days=16),
        )
    return today - relativedelta(years=most, months=6), today - relativedelta(years=fewest, months=-6)


def _rolling(m: re.Match[str], now: datetime) -> Span | None:
    """The past N units up to now ("over the past 3 days", "the last few weeks")."""
    if not m.group("count") and not m.group("the") and m.group("which").lower() == "last":
        return None  # plain "last week" is the calendar week
    _, most = _count(m.group("count")) if m.group("count") else (1, 1)
    unit = m.group("unit").lower()
    return now - relativedelta(**{unit + "s": most}), now


def _recently(m: re.Match[str], now: datetime) -> Span:
    return now - timedelta(days=30), now


def _bare_year(m: re.Match[str], now: datetime) -> Span | None:
    prep = (m.group("prep") or "").lower()
    at_end = re.fullmatch(r"[\s?.!]*", m.string[m.end() :]) is not None
    if prep in _YEAR_PREPS or m.group("part") or m.group("yearword") or at_end:
        return _year(now, int(m.group("year")))
    return None


def _iso(m: re.Match[str], now: datetime) -> Span | None:
    year, month = int(m.group("y")), int(m.group("mo"))
    if not 1900 <= year <= 2100:
        return None
    if m.group("d"):
        return _days(_day(now, year, month, int(m.group("d"))))
    return _month(now, year, month)


def _recent_date(now: datetime, month: int, day: int) -> datetime:
    """The latest date with this month and day that is not after today (Feb 29 looks back)."""
    today = _today(now)
    for year in range(now.year, now.year - 9, -1):
        try:
            date = _day(now, year, month, day)
        except ValueError:
            continue
        if date <= today:
            return date
    raise ValueError(f"no date {month}-{day}")


def _month_day(m: re.Match[str], now: datetime) -> Span | None:
    if not _month_word_ok(m, context=True):
        return None
    month, day = _MONTHS[m.group("month").lower()], int(m.group("day"))
    if m.group("year"):
        return _days(_day(now, int(m.group("year")), month, day))
    return _days(_recent_date(now, month, day))


def _month_year(m: re.Match[str], now: datetime) -> Span:
    return _month(now, int(m.group("year")), _MONTHS[m.group("month").lower()])


def _month_name(m: re.Match[str], now: datetime) -> Span | None:
    """A month without a year: "last May" is strictly before this month; "May" and "in May"
    are the latest May that has begun; "this May" is this year's; "next May" the coming one."""
    mod = (m.group("mod") or "").lower()
    if not _month_word_ok(m, context=bool(mod)):
        return None
    month = _MONTHS[m.group("month").lower()]
    if mod == "this":
        year = now.year
    elif mod == "last":
        year = now.year if month < now.month else now.year - 1
    elif mod == "next":
        year = now.year if month > now.month else now.year + 1
    else:
        year = now.year if month <= now.month else now.year - 1
    return _month(now, year, month)


def _weekday(m: re.Match[str], now: datetime) -> Span:
    """"Monday", "on Monday", "last Monday": the latest Monday before today; "this"/"next"
    Monday: that day in this/next week."""
    wd = _WEEKDAYS.index(m.group("wd").lower())
    mod = (m.group("mod") or "").lower()
    if mod in ("this", "next"):
        monday, _ = _week(now, 1 if mod == "next" else 0)
        return _days(monday + timedelta(days=wd))
    back = (now.weekday() - wd) % 7 or 7
    return _days(_today(now) - timedelta(days=back))


def _season(m: re.Match[str], now: datetime) -> Span | None:
    """Meteorological seasons (spring = Mar-May, ..., winter = Dec-Feb, named by its December)."""
    first = _SEASON_START[m.group("season").lower()]
    mod = (m.group("mod") or "").lower()
    if m.group("year"):
        year = int(m.group("year"))
    else:
        if not mod and not m.group("prep") and not m.group("part"):
            return None  # "summer" alone, or "the fall of Rome"
        year = now.year if first <= now.month else now.year - 1  # latest one that has begun
        current = now < _day(now, year, first) + relativedelta(months=3)
        if mod == "last" and current:
            year -= 1
        elif mod == "this" and not current:
            year = now.year
        elif mod == "next":
            year += 1
    start = _day(now, year, first)
    return start, start + relativedelta(months=3)


_PATTERNS: list[tuple[str, Resolver]] = [
    (r"the\s+day\s+before\s+yesterday", _relative_day(-2)),
    (r"the\s+day\s+after\s+tomorrow", _relative_day(2)),
    (r"today|tonight|this\s+(?:morning|afternoon|evening)", _relative_day(0)),
    (r"yesterday|last\s+night", _relative_day(-1)),
    (r"tomorrow", _relative_day(1)),
    (r"(?P<mod>this|last|next)\s+(?P<unit>week|month|year)", _this_last_next),
    (r"(?:(?P<mod>this|last|next)\s+|the\s+)weekend", _weekend),
    (rf"(?P<count>{_COUNT})\s+{_UNIT}\s+ago", _ago),
    (rf"(?P<the>the\s+)?(?P<which>past|last)\s+(?:(?P<count>{_COUNT})\s+)?{_UNIT}", _rolling),
    (r"recently|lately", _recently),
    (r"(?P<y>\d{4})(?P<sep>[-/])(?P<mo>\d{1,2})(?:(?P=sep)(?P<d>\d{1,2}))?(?![\d]|[.:/-]\d)", _iso),
    (rf"(?P<month>{_MONTH})\.?\s+{_DAY}(?:,?\s+(?P<year>{_YEAR}))?", _month_day),
    (rf"(?:the\s+)?{_DAY}\s+(?:of\s+)?(?P<month>{_MONTH})\.?(?:,?\s+(?P<year>{_YEAR}))?", _month_day),
    (rf"(?P<month>{_MONTH})\.?,?\s+(?:of\s+)?(?P<year>{_YEAR})(?![\d]|[.:/-]\d)", _month_year),
    (rf"(?:(?P<mod>this|last|next)\s+)?(?P<month>{_MONTH})", _month_name),
    (rf"(?:(?P<mod>this|last|next)\s+)?(?P<wd>{'|'.join(_WEEKDAYS)})", _weekday),
    (
        rf"(?:(?P<mod>this|last|next)\s+|the\s+)?(?P<season>spring|summer|autumn|fall|winter)"
        rf"(?:\s+(?:of\s+)?(?P<year>{_YEAR})(?![\d]|[.:/-]\d))?",
        _season,
    ),
    (
        rf"(?P<yearword>(?:the\s+)?year\s+)?(?<![\d.,:/])(?<!\d-)(?P<year>{_YEAR})(?![\d]|[.:/,-]\d)",
        _bare_year,
    ),
]
_COMPILED = [(re.compile(rf"{_PREFIX}\b(?:{p})\b", re.IGNORECASE), r) for p, r in _PATTERNS]


def _resolve(m: re.Match[str], resolver: Resolver, now: datetime) -> Span | None:
    """Apply the resolver, then the part ("early ...") and "since" prefixes."""
    try:
        span = resolver(m, now)
        if span is None:
            return None
        if m.group("part"):
            span = _third(span, next(_PARTS[w] for w in m.group("part").lower().split() if w in _PARTS))
        if (m.group("prep") or "").lower() == "since":
            span = (span[0], now)
    except (ValueError, OverflowError):
        return None
    return span if span[0] < span[1] else None


def parse_time_expressions(text: str, now: datetime) -> list[TimeRange]:
    """All time expressions in ``text``, in order of appearance; ``[]`` when there are none.

    ``now`` must be timezone-aware; ranges are in its timezone. Where expressions overlap,
    the one starting first wins, then the longest.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    found: list[tuple[int, int, datetime, datetime]] = []
    for pattern, resolver in _COMPILED:
        for m in pattern.finditer(text):
            span = _resolve(m, resolver, now)
            if span is not None:
                found.append((m.start(), m.end(), *span))
    found.sort(key=lambda f: (f[0], -f[1]))
    ranges: list[TimeRange] = []
    last_end = 0
    for start_at, end_at, start, end in found:
        if start_at >= last_end:
            ranges.append(TimeRange(start, end, text[start_at:end_at]))
            last_end = end_at
    return ranges


def strip_time_expressions(text: str, ranges: list[TimeRange]) -> str:
    """``text`` without the ranges' expressions (each removed once, left to right), tidied."""
    pieces, pos = [], 0
    for r in ranges:
        at = text.find(r.text, pos)
        if at < 0:
            at = text.lower().find(r.text.lower(), pos)
        if at < 0 or not r.text:
            continue
        pieces.append(text[pos:at])
        pos = at + len(r.text)
    pieces.append(text[pos:])
    # Mark the cuts with NUL to drop the joining words left stranded ("yesterday or last May").
    out = "\0".join(p.replace("\0", "") for p in pieces)
    out = re.sub(r"\0\s*\b(?:and|or|to|until|through)\s*(?=\0)", "", out, flags=re.IGNORECASE)
    out = re.sub(r"\s\b(?:and|or)\s*\0(?=\s*(?:[?.!,;:]|$))", "", out, flags=re.IGNORECASE)
    out = re.sub(r"\s+", " ", out.replace("\0", " "))
    out = re.sub(r"\s+([?.!,;:])", r"\1", out)
    out = re.sub(r"[,;:]+(?=[?.!,;:]|$)", "", out)
    return re.sub(r"^[\s,;:]+", "", out).strip()


_ABSOLUTE = re.compile(rf"\b{_YEAR}\b|\b\d{{4}}-\d\d")


def _span_words(start: datetime, end: datetime) -> str:
    """'7 May 2023', 'week of 1 May 2023', 'May 2023' or '2022' for a resolved span."""
    days = (end - start).days
    if days <= 1:
        return f"{start.day} {start:%B %Y}"
    if days <= 7:
        return f"week of {start.day} {start:%B %Y}"
    if start.day == 1 and days <= 31:
        return f"{start:%B %Y}"
    if start.month == 1 and start.day == 1 and 365 <= days <= 366:
        return f"{start.year}"
    last = end - timedelta(days=1)
    return f"{start.day} {start:%B %Y} to {last.day} {last:%B %Y}"


_MAYBE_RELATIVE = re.compile(
    rf"\b(?:yesterday|today|tonight|tomorrow|ago|last|next|this|past|recent\w*|weekend|{_MONTH}|"
    + "|".join(_WEEKDAYS) + "|" + "|".join(_SEASON_START) + r")\b", re.IGNORECASE)


def annotate_relative_dates(text: str, when: datetime) -> str:
    """``text`` with the date that each relative time expression meant when it was said
    ("yesterday" in a message of 8 May 2023 → "yesterday (7 May 2023)"), so that what was
    said can be found and read by its date later. Absolute expressions stay as they are."""
    if not _MAYBE_RELATIVE.search(text):  # most turns name no time: skip the full parse
        return text
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    pieces, pos = [], 0
    for found in parse_time_expressions(text, when):
        if _ABSOLUTE.search(found.text) or found.end - found.start > timedelta(days=400):
            continue
        at = text.find(found.text, pos)
        if at < 0:
            continue
        end = at + len(found.text)
        pieces.append(text[pos:end] + f" ({_span_words(found.start, found.end)})")
        pos = end
    return "".join(pieces) + text[pos:]
