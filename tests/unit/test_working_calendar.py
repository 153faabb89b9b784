"""Working-day arithmetic: weekends, holidays, moved days, year boundaries and a missing year."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.calendar import WorkingCalendar, YearCalendar
from gateway.reference.calendar_files import CalendarFileError, load_calendar

SHIPPED = load_calendar()  # the calendar files in the package


def test_a_plain_week_skips_the_weekend():
    bare = WorkingCalendar.of([YearCalendar(2026)])
    # Thursday 15 October 2026 + 2 working days: Friday, then Monday
    due = bare.add_working_days(date(2026, 10, 15), 2)
    assert due.day == date(2026, 10, 19) and not due.provisional


def test_the_start_day_is_not_counted_and_zero_days_is_the_start_itself():
    assert SHIPPED.add_working_days(date(2026, 10, 14), 1).day == date(2026, 10, 15)
    assert SHIPPED.add_working_days(date(2026, 10, 14), 0).day == date(2026, 10, 14)


def test_public_holidays_are_not_working_days():
    # Novruz 2026: 20-27 March and 30 March are days off (file 2026.toml)
    assert not SHIPPED.is_working_day(date(2026, 3, 24))
    assert SHIPPED.add_working_days(date(2026, 3, 19), 1).day == date(2026, 3, 31)


def test_a_holiday_on_a_weekend_moves_to_the_next_monday():
    # 8 March 2026 is a Sunday: Monday 9 March is off
    assert not SHIPPED.is_working_day(date(2026, 3, 9))
    assert SHIPPED.add_working_days(date(2026, 3, 6), 1).day == date(2026, 3, 10)


def test_a_moved_saturday_is_a_working_day_and_its_friday_is_not():
    # 2025: Saturday 21 June worked, Friday 27 June off (Cabinet of Ministers decision)
    assert SHIPPED.is_working_day(date(2025, 6, 21))
    assert not SHIPPED.is_working_day(date(2025, 6, 27))
    assert SHIPPED.add_working_days(date(2025, 6, 20), 1).day == date(2025, 6, 21)


def test_fifteen_working_days_across_the_new_year():
    # 17 Dec 2026 + 15: 31 Dec, 1-2 Jan and 4 Jan 2027 (2 Jan on a Saturday) are off
    due = SHIPPED.add_working_days(date(2026, 12, 17), 15)
    assert due.day == date(2027, 1, 12) and not due.provisional


def test_a_year_without_a_calendar_counts_weekends_only_and_says_so():
    # 2028 has no file. 31 Dec 2027 is off (2027.toml); New Year 2028 falls on a weekend, so
    # the law would move it to Monday 3 January, but without the file that Monday counts.
    due = SHIPPED.add_working_days(date(2027, 12, 30), 1)
    assert due.day == date(2028, 1, 3) and due.provisional
    assert SHIPPED.missing(range(2026, 2029)) == [2028]


def test_counting_between_dates_is_the_inverse_of_adding():
    start = date(2026, 3, 2)
    due = SHIPPED.add_working_days(start, 30)
    assert SHIPPED.working_days_between(start, due.day).value == 30
    assert SHIPPED.working_days_between(due.day, start).value == -30


def test_counting_into_a_missing_year_is_provisional():
    counted = SHIPPED.working_days_between(date(2027, 12, 1), date(2028, 1, 10))
    assert counted.provisional
    assert not SHIPPED.working_days_between(date(2027, 1, 1), date(2027, 12, 31)).provisional


@given(
    st.dates(min_value=date(2024, 6, 1), max_value=date(2028, 6, 1)),
    st.integers(min_value=0, max_value=90),
)
def test_adding_lands_on_a_working_day_after_exactly_n_working_days(start, count):
    due = SHIPPED.add_working_days(start, count)
    assert SHIPPED.working_days_between(start, due.day).value == count
    if count:
        assert SHIPPED.is_working_day(due.day)
        before = due.day - timedelta(days=1)
        assert SHIPPED.working_days_between(start, before).value == count - 1


def _day_by_day_due(calendar: WorkingCalendar, start: date, count: int) -> date:
    day, left = start, count
    while left:
        day += timedelta(days=1)
        left -= calendar.is_working_day(day)
    return day


def _day_by_day_between(calendar: WorkingCalendar, start: date, end: date) -> int:
    first, last = sorted((start, end))
    days = (last - first).days
    count = sum(calendar.is_working_day(first + timedelta(days=i)) for i in range(1, days + 1))
    return count if end >= start else -count


@st.composite
def calendars(draw: st.DrawFn) -> WorkingCalendar:
    """Published years (some of 2025-2027, so some missing) with random days off and worked
    weekend days."""
    years = []
    for year in draw(st.sets(st.sampled_from([2025, 2026, 2027]))):
        days = draw(st.sets(st.dates(date(year, 1, 1), date(year, 12, 31)), max_size=60))
        years.append(
            YearCalendar(
                year,
                frozenset(d for d in days if d.weekday() < 5),
                frozenset(d for d in days if d.weekday() >= 5),
            )
        )
    return WorkingCalendar.of(years)


any_day = st.dates(min_value=date(2024, 6, 1), max_value=date(2028, 6, 1))


@given(calendars(), any_day, st.integers(min_value=0, max_value=400))
def test_adding_is_counting_the_days_one_by_one(calendar, start, count):
    """The calendar counts with per-year tables; the specification is the plain walk."""
    due = calendar.add_working_days(start, count)
    assert due.day == _day_by_day_due(calendar, start, count)
    assert due.provisional == bool(calendar.missing(range(start.year, due.day.year + 1)))


@given(calendars(), any_day, any_day)
def test_counting_between_is_counting_the_days_one_by_one(calendar, start, end):
    counted = calendar.working_days_between(start, end)
    assert counted.value == _day_by_day_between(calendar, start, end)
    first, last = sorted((start, end))
    assert counted.provisional == bool(calendar.missing(range(first.year, last.year + 1)))


def test_a_day_in_both_lists_is_refused():
    with pytest.raises(ValueError, match="both"):
        YearCalendar(2026, frozenset({date(2026, 6, 6)}), frozenset({date(2026, 6, 6)}))


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_an_operator_directory_replaces_the_shipped_files(tmp_path):
    folder = _write(
        tmp_path / "cal",
        "2030.toml",
        'year = 2030\n[[days_off]]\ndate = 2030-01-01\nname = "New Year"\nsource = "LC 105.1"\n',
    )
    calendar = load_calendar(folder)
    assert calendar.covers(2030) and not calendar.covers(2026)
    assert not calendar.is_working_day(date(2030, 1, 1))


@pytest.mark.parametrize(
    ("name", "text", "complaint"),
    [
        ("2030.toml", "year = 2031\n", "year = 2030"),
        ("2030.toml", 'year = 2030\n[[days_off]]\ndate = 2030-01-01\nname = "x"\n', "source"),
        (
            "2030.toml",
            'year = 2030\n[[days_off]]\ndate = 2031-01-01\nname = "x"\nsource = "y"\n',
            "not in 2030",
        ),
        ("2030.toml", "year = 2030\ndays_off = [", "2030.toml"),
    ],
)
def test_a_bad_calendar_file_is_refused_with_its_name_and_reason(tmp_path, name, text, complaint):
    folder = _write(tmp_path / "cal", name, text)
    with pytest.raises(CalendarFileError, match=complaint):
        load_calendar(folder)


def test_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(CalendarFileError, match="does not exist"):
        load_calendar(tmp_path / "nowhere")
