"""The one clock every stored timestamp comes from."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """Current time as an ISO-8601 UTC timestamp with microseconds (orders events within a millisecond)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")
