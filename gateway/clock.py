"""The wall clock, in one place so that every use case takes it as a parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utc_now() -> datetime:
    return datetime.now(UTC)


def today_in(zone: str) -> date:
    """Today's date where `zone` is: for commands, the authority's date (the running gateway
    takes it from its Deadlines service)."""
    return utc_now().astimezone(ZoneInfo(zone)).date()
