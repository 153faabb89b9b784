"""Report periods: `2026-11` (a month), `2026-Q4` (a quarter), `2026` (a year), or an explicit
`--from DATE --to DATE` (both days included). Pure: no clock, no I/O.

A period is a half-open range of days [start, end) and of UTC instants [start 00:00, end 00:00).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])")
_YEAR = re.compile(r"(\d{4})")


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    label: str
    start: date  # first day, included
    end: date  # first day after the period

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(), UTC)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end, time(), UTC)

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


def _first_of_month(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def parse_period(text: str) -> Period:
    text = text.strip()
    if match := _MONTH.fullmatch(text):
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"no month {month} in {text!r}")
        return Period(text, date(year, month, 1), _first_of_month(year, month + 1))
    if match := _QUARTER.fullmatch(text):
        year, quarter = int(match.group(1)), int(match.group(2))
        first = 3 * (quarter - 1) + 1
        return Period(f"{year}-Q{quarter}", date(year, first, 1), _first_of_month(year, first + 3))
    if match := _YEAR.fullmatch(text):
        year = int(match.group(1))
        return Period(text, date(year, 1, 1), date(year + 1, 1, 1))
    raise PeriodError(f"{text!r} is not a period: use YYYY-MM, YYYY-Qn or YYYY")


def parse_range(start: str, end: str) -> Period:
    """`--from 2026-11-03 --to 2026-11-09`: both days included."""
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        raise PeriodError(f"dates are YYYY-MM-DD: {exc}") from None
    if last < first:
        raise PeriodError(f"--to {last} is before --from {first}")
    return Period(f"{first.isoformat()}..{last.isoformat()}", first, last + timedelta(days=1))


def period_from(
    period: str | None = None, start: str | None = None, end: str | None = None
) -> Period:
    """Either a named period or both ends of a range, never a mix."""
    if period and not (start or end):
        return parse_period(period)
    if start and end and not period:
        return parse_range(start, end)
    raise PeriodError("give either a period (YYYY-MM, YYYY-Qn, YYYY) or both --from and --to")
