"""Report periods: months, quarters, years and explicit ranges, as half-open day ranges."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.reports.periods import PeriodError, parse_period, parse_range, period_from


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-11", date(2026, 11, 1), date(2026, 12, 1)),
        ("2026-12", date(2026, 12, 1), date(2027, 1, 1)),
        ("2028-02", date(2028, 2, 1), date(2028, 3, 1)),
        ("2026-Q1", date(2026, 1, 1), date(2026, 4, 1)),
        ("2026-q4", date(2026, 10, 1), date(2027, 1, 1)),
        ("2026", date(2026, 1, 1), date(2027, 1, 1)),
    ],
)
def test_named_periods_cover_exactly_their_days(text: str, start: date, end: date):
    period = parse_period(text)
    assert (period.start, period.end) == (start, end)
    assert period.start_at == datetime(start.year, start.month, start.day, tzinfo=UTC)


def test_a_range_includes_both_ends():
    period = parse_range("2026-11-03", "2026-11-09")
    assert (period.start, period.end, period.last_day) == (
        date(2026, 11, 3),
        date(2026, 11, 10),
        date(2026, 11, 9),
    )


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-Q5", "26-11", "2026/11", "", "Q4"])
def test_nonsense_is_refused(text: str):
    with pytest.raises(PeriodError):
        parse_period(text)


def test_a_range_must_not_run_backwards_or_mix_with_a_period():
    with pytest.raises(PeriodError):
        parse_range("2026-11-09", "2026-11-03")
    with pytest.raises(PeriodError):
        period_from("2026-11", "2026-11-01", "2026-11-02")
    with pytest.raises(PeriodError):
        period_from(None, "2026-11-01", None)
    assert period_from(None, "2026-11-01", "2026-11-01").end == date(2026, 11, 2)
