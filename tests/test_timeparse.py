"""Rule-based time expressions: exact ranges for each form, no false positives, stripping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memory.timeparse import TimeRange, parse_time_expressions, strip_time_expressions

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday


def d(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_now_is_a_monday() -> None:
    assert NOW.weekday() == 0


# (question, start, end, matched text); start/end as (y, m, d[, h]) in UTC; NOW is 2026-11-23 15:00.
CASES = [
    ("what did I do today?", (2026, 11, 23), (2026, 11, 24), "today"),
    ("what did I plan for tonight", (2026, 11, 23), (2026, 11, 24), "tonight"),
    ("what did I eat this morning", (2026, 11, 23), (2026, 11, 24), "this morning"),
    ("what did we say yesterday?", (2026, 11, 22), (2026, 11, 23), "yesterday"),
    ("and the day before yesterday?", (2026, 11, 21), (2026, 11, 22), "the day before yesterday"),
    ("plans for tomorrow", (2026, 11, 24), (2026, 11, 25), "tomorrow"),
    ("anything this week", (2026, 11, 23), (2026, 11, 30), "this week"),
    ("what happened last week", (2026, 11, 16), (2026, 11, 23), "last week"),
    ("what's due next week", (2026, 11, 30), (2026, 12, 7), "next week"),
    ("this month's notes", (2026, 11, 1), (2026, 12, 1), "this month"),
    ("notes from last month", (2026, 10, 1), (2026, 11, 1), "from last month"),
    ("goals this year", (2026, 1, 1), (2027, 1, 1), "this year"),
    ("goals last year", (2025, 1, 1), (2026, 1, 1), "last year"),
    ("what did I do last weekend", (2026, 11, 21), (2026, 11, 23), "last weekend"),
    ("what did I do over the weekend", (2026, 11, 21), (2026, 11, 23), "over the weekend"),
    # N units ago: a day; weeks +-3 days around the point; months +-15 days; years +-6 months
    ("I said it 3 days ago", (2026, 11, 20), (2026, 11, 21), "3 days ago"),
    ("I said it three days ago", (2026, 11, 20), (2026, 11, 21), "three days ago"),
    ("a week ago", (2026, 11, 13), (2026, 11, 20), "a week ago"),
    ("two weeks ago", (2026, 11, 6), (2026, 11, 13), "two weeks ago"),
    ("12 weeks ago", (2026, 8, 28), (2026, 9, 4), "12 weeks ago"),
    ("two months ago", (2026, 9, 8), (2026, 10, 9), "two months ago"),
    ("a year ago", (2025, 5, 23), (2026, 5, 23), "a year ago"),
    ("a couple of days ago", (2026, 11, 20), (2026, 11, 22), "a couple of days ago"),
    ("a few days ago", (2026, 11, 17), (2026, 11, 22), "a few days ago"),
    ("a couple of weeks ago", (2026, 10, 30), (2026, 11, 13), "a couple of weeks ago"),
    ("a few weeks ago", (2026, 10, 9), (2026, 11, 13), "a few weeks ago"),
    # years
    ("what did I say in 2023?", (2023, 1, 1), (2024, 1, 1), "in 2023"),
    ("trips during 2019", (2019, 1, 1), (2020, 1, 1), "during 2019"),
    ("photos from 1999", (1999, 1, 1), (2000, 1, 1), "from 1999"),
    ("the summer trip of 2024", (2024, 1, 1), (2025, 1, 1), "of 2024"),
    ("anything about taxes 2023?", (2023, 1, 1), (2024, 1, 1), "2023"),
    ("since 2024", (2024, 1, 1), (2026, 11, 23, 15), "since 2024"),
    ("back in the year 2000", (2000, 1, 1), (2001, 1, 1), "in the year 2000"),
    # months without a year: latest one begun; "last" is strictly before this month
    ("what did I say last May?", (2026, 5, 1), (2026, 6, 1), "last May"),
    ("what about last november", (2025, 11, 1), (2025, 12, 1), "last november"),
    ("last December", (2025, 12, 1), (2026, 1, 1), "last December"),
    ("what did I do in May", (2026, 5, 1), (2026, 6, 1), "in May"),
    ("what did I do in may", (2026, 5, 1), (2026, 6, 1), "in may"),
    ("The May trip", (2026, 5, 1), (2026, 6, 1), "May"),
    ("in December", (2025, 12, 1), (2026, 1, 1), "in December"),
    ("during November", (2026, 11, 1), (2026, 12, 1), "during November"),
    ("this May", (2026, 5, 1), (2026, 6, 1), "this May"),
    ("next March", (2027, 3, 1), (2027, 4, 1), "next March"),
    ("May 2023", (2023, 5, 1), (2023, 6, 1), "May 2023"),
    ("in Sept. 2021", (2021, 9, 1), (2021, 10, 1), "in Sept. 2021"),
    ("March of 2020", (2020, 3, 1), (2020, 4, 1), "March of 2020"),
    # dates
    ("on May 3", (2026, 5, 3), (2026, 5, 4), "on May 3"),
    ("3 May", (2026, 5, 3), (2026, 5, 4), "3 May"),
    ("the 3rd of March", (2026, 3, 3), (2026, 3, 4), "the 3rd of March"),
    ("March 3", (2026, 3, 3), (2026, 3, 4), "March 3"),
    ("on December 25", (2025, 12, 25), (2025, 12, 26), "on December 25"),
    ("November 23", (2026, 11, 23), (2026, 11, 24), "November 23"),
    ("Nov 24", (2025, 11, 24), (2025, 11, 25), "Nov 24"),
    ("Feb 29", (2024, 2, 29), (2024, 3, 1), "Feb 29"),
    ("May 3rd, 2023", (2023, 5, 3), (2023, 5, 4), "May 3rd, 2023"),
    ("3 May 2023", (2023, 5, 3), (2023, 5, 4), "3 May 2023"),
    ("on 2023-05-03", (2023, 5, 3), (2023, 5, 4), "on 2023-05-03"),
    ("in 2023-05", (2023, 5, 1), (2023, 6, 1), "in 2023-05"),
    ("2023/05/03", (2023, 5, 3), (2023, 5, 4), "2023/05/03"),
    # weekdays: the latest one before today; "this"/"next" within this/next week
    ("last Monday", (2026, 11, 16), (2026, 11, 17), "last Monday"),
    ("what did I say on Monday", (2026, 11, 16), (2026, 11, 17), "on Monday"),
    ("on friday", (2026, 11, 20), (2026, 11, 21), "on friday"),
    ("last Sunday", (2026, 11, 22), (2026, 11, 23), "last Sunday"),
    ("this Friday", (2026, 11, 27), (2026, 11, 28), "this Friday"),
    ("next Tuesday", (2026, 12, 1), (2026, 12, 2), "next Tuesday"),
    # thirds
    ("early 2023", (2023, 1, 1), (2023, 5, 1), "early 2023"),
    ("in mid-2023", (2023, 5, 1), (2023, 9, 1), "in mid-2023"),
    ("late 2023", (2023, 9, 1), (2024, 1, 1), "late 2023"),
    ("early May", (2026, 5, 1), (2026, 5, 11), "early May"),
    ("mid May", (2026, 5, 11), (2026, 5, 21), "mid May"),
    ("late May", (2026, 5, 21), (2026, 6, 1), "late May"),
    ("in late February 2024", (2024, 2, 21), (2024, 3, 1), "in late February 2024"),
    ("at the end of last year", (2025, 9, 1), (2026, 1, 1), "at the end of last year"),
    ("early last week", (2026, 11, 16), (2026, 11, 18), "early last week"),
    # seasons (meteorological, northern hemisphere)
    ("last spring", (2026, 3, 1), (2026, 6, 1), "last spring"),
    ("last summer", (2026, 6, 1), (2026, 9, 1), "last summer"),
    ("last autumn", (2025, 9, 1), (2025, 12, 1), "last autumn"),
    ("last fall", (2025, 9, 1), (2025, 12, 1), "last fall"),
    ("last winter", (2025, 12, 1), (2026, 3, 1), "last winter"),
    ("this winter", (2026, 12, 1), (2027, 3, 1), "this winter"),
    ("over the summer", (2026, 6, 1), (2026, 9, 1), "over the summer"),
    ("in the fall", (2026, 9, 1), (2026, 12, 1), "in the fall"),
    ("the summer of 2023", (2023, 6, 1), (2023, 9, 1), "the summer of 2023"),
    ("early summer", (2026, 6, 1), (2026, 7, 1), "early summer"),
    # up to now
    ("since March", (2026, 3, 1), (2026, 11, 23, 15), "since March"),
    ("since last week", (2026, 11, 16), (2026, 11, 23, 15), "since last week"),
    ("since yesterday", (2026, 11, 22), (2026, 11, 23, 15), "since yesterday"),
    ("over the past 3 days", (2026, 11, 20, 15), (2026, 11, 23, 15), "over the past 3 days"),
    ("in the last two weeks", (2026, 11, 9, 15), (2026, 11, 23, 15), "in the last two weeks"),
    ("the past week", (2026, 11, 16, 15), (2026, 11, 23, 15), "the past week"),
    ("past 6 months", (2026, 5, 23, 15), (2026, 11, 23, 15), "past 6 months"),
    ("the last few days", (2026, 11, 17, 15), (2026, 11, 23, 15), "the last few days"),
    ("what have I said recently?", (2026, 10, 24, 15), (2026, 11, 23, 15), "recently"),
    ("anything lately", (2026, 10, 24, 15), (2026, 11, 23, 15), "lately"),
]


@pytest.mark.parametrize(("question", "start", "end", "text"), CASES, ids=[c[0] for c in CASES])
def test_forms(question: str, start: tuple[int, ...], end: tuple[int, ...], text: str) -> None:
    assert parse_time_expressions(question, NOW) == [TimeRange(d(*start), d(*end), text)]


@pytest.mark.parametrize(
    "question",
    [
        "May I ask you something?",
        "I may go",
        "this may be wrong",
        "it may be fine",
        "There were 2023 people",
        "version 3.11",
        "call me at 10",
        "What is the capital of France?",
        "",
        "the fall of Rome",
        "we march on",
        "I love the weekend",
        "meet at 10:30",
        "over 2000 people",
        "the 1984 novel",
        "Mondays are hard",
        "error code 2023-99",
        "order 12345 shipped",
        "tell me about summer camps",
    ],
)
def test_no_time_expression(question: str) -> None:
    assert parse_time_expressions(question, NOW) == []


def test_last_month_name_in_that_month_is_last_year() -> None:
    in_may = datetime(2026, 5, 15, 12, tzinfo=UTC)
    assert parse_time_expressions("last May", in_may)[0].start == d(2025, 5, 1)
    assert parse_time_expressions("in May", in_may)[0].start == d(2026, 5, 1)


def test_seasons_across_the_new_year() -> None:
    january = datetime(2026, 1, 10, tzinfo=UTC)
    (last,) = parse_time_expressions("last winter", january)
    assert (last.start, last.end) == (d(2024, 12, 1), d(2025, 3, 1))
    (this,) = parse_time_expressions("this winter", january)
    assert (this.start, this.end) == (d(2025, 12, 1), d(2026, 3, 1))
    (summer,) = parse_time_expressions("last summer", january)
    assert (summer.start, summer.end) == (d(2025, 6, 1), d(2025, 9, 1))


def test_several_expressions_in_order() -> None:
    ranges = parse_time_expressions("Did we talk yesterday or last Tuesday, or maybe in 2023?", NOW)
    assert [r.text for r in ranges] == ["yesterday", "last Tuesday", "in 2023"]
    assert [r.start for r in ranges] == [d(2026, 11, 22), d(2026, 11, 17), d(2023, 1, 1)]


def test_longest_expression_wins() -> None:
    texts = [r.text for r in parse_time_expressions("the day before yesterday", NOW)]
    assert texts == ["the day before yesterday"]
    assert [r.text for r in parse_time_expressions("May 3rd, 2023", NOW)] == ["May 3rd, 2023"]


def test_timezone_is_kept_and_days_are_local() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    now = datetime(2026, 11, 24, 0, 30, tzinfo=tokyo)  # still the 23rd in UTC
    (yesterday,) = parse_time_expressions("yesterday", now)
    assert yesterday.start == datetime(2026, 11, 23, tzinfo=tokyo)
    assert yesterday.start.tzinfo is tokyo and yesterday.end.tzinfo is tokyo
    new_york = ZoneInfo("America/New_York")
    now = datetime(2026, 11, 23, 10, tzinfo=new_york)
    (summer,) = parse_time_expressions("last summer", now)
    assert summer.start == datetime(2026, 6, 1, tzinfo=new_york)
    assert summer.start.utcoffset() == timedelta(hours=-4)  # summer time, not now's offset
    assert summer.end.tzinfo is new_york


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_time_expressions("yesterday", datetime(2026, 11, 23))


@pytest.mark.parametrize(
    ("question", "stripped"),
    [
        ("What did I say last May?", "What did I say?"),
        ("In May, what did I eat?", "what did I eat?"),
        ("what did I say in 2023 about the garden", "what did I say about the garden"),
        ("Did we talk yesterday or last Tuesday?", "Did we talk?"),
        ("what did I do from May to July", "what did I do"),
        ("tea and coffee", "tea and coffee"),
        ("  spaced   out  ", "spaced out"),
    ],
)
def test_strip(question: str, stripped: str) -> None:
    assert strip_time_expressions(question, parse_time_expressions(question, NOW)) == stripped


def test_strip_with_no_ranges_only_tidies() -> None:
    assert strip_time_expressions("what about   the  garden ?", []) == "what about the garden?"


_WORDS = [
    "in", "on", "last", "this", "next", "since", "early", "mid-", "late", "the", "of", "May", "may",
    "march", "June", "winter", "fall", "week", "weeks", "days", "ago", "a", "few", "couple",
    "past", "over", "2023", "1900", "2100", "9999", "3rd", "31", "29", "Feb", "2023-13-45",
    "2023-02", "yesterday", "Monday", "recently", "I", "be", ",", "?", "0", "twelve", "year",
]  # fmt: skip
_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=-11)), timezone(timedelta(hours=14)), ZoneInfo("Europe/London")]
)


@settings(max_examples=150, deadline=None)
@given(
    text=st.one_of(st.text(max_size=80), st.lists(st.sampled_from(_WORDS), max_size=12).map(" ".join)),
    now=st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2090, 12, 31), timezones=_ZONES),
)
def test_never_raises_and_ranges_are_sane(text: str, now: datetime) -> None:
    ranges = parse_time_expressions(text, now)
    pos = 0
    for r in ranges:
        assert r.start < r.end
        assert r.start.tzinfo is now.tzinfo and r.end.tzinfo is now.tzinfo
        pos = text.find(r.text, pos)
        assert r.text and pos >= 0  # each found after the one before
        pos += len(r.text)
    assert isinstance(strip_time_expressions(text, ranges), str)
