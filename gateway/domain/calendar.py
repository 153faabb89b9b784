"""Working days: weekends, public holidays and the days the government moves every year.

The calendar is data (one file per year, loaded by gateway.reference.calendar_files); this
module only counts. A year the data does not cover is counted on weekends alone, and every
answer that touched such a year says so (provisional): a missing year is never guessed silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

SATURDAY = 5  # date.weekday(): Monday 0 ... Sunday 6
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class YearCalendar:
    """One year as published: weekdays that are days off, weekend days that are worked."""

    year: int
    days_off: frozenset[date] = frozenset()
    working_weekend_days: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        for day in self.days_off | self.working_weekend_days:
            if day.year != self.year:
                raise ValueError(f"{day} is not in {self.year}")
        if both := self.days_off & self.working_weekend_days:
            raise ValueError(f"both a day off and a working day: {sorted(both)}")


@dataclass(frozen=True)
class Counted:
    """A result of calendar arithmetic; provisional if it relied on a year the data lacks."""

    value: int
    provisional: bool


@dataclass(frozen=True)
class DueDay:
    day: date
    provisional: bool


@dataclass(frozen=True)
class WorkingCalendar:
    years: Mapping[int, YearCalendar] = field(default_factory=dict)

    @classmethod
    def of(cls, years: Iterable[YearCalendar]) -> WorkingCalendar:
        by_year: dict[int, YearCalendar] = {}
        for year in years:
            if year.year in by_year:
                raise ValueError(f"{year.year} is given twice")
            by_year[year.year] = year
        return cls(by_year)

    def covers(self, year: int) -> bool:
        return year in self.years

    def missing(self, years: Iterable[int]) -> list[int]:
        return sorted(year for year in set(years) if year not in self.years)

    def is_working_day(self, day: date) -> bool:
        known = self.years.get(day.year)
        if known is not None:
            if day in known.days_off:
                return False
            if day in known.working_weekend_days:
                return True
        return day.weekday() < SATURDAY

    def add_working_days(self, start: date, count: int) -> DueDay:
        """The `count`-th working day after `start` (`start` itself is not counted; the law's
        term begins the day after registration). `count` 0 gives `start` back."""
        if count < 0:
            raise ValueError("count must not be negative")
        day, left = start, count
        while left:
            day += ONE_DAY
            if self.is_working_day(day):
                left -= 1
        return DueDay(day, self._any_missing(start, day))

    def working_days_between(self, start: date, end: date) -> Counted:
        """Working days after `start` up to and including `end`; negative when `end` is earlier
        (then: minus the working days after `end` up to and including `start`)."""
        if end < start:
            counted = self.working_days_between(end, start)
            return Counted(-counted.value, counted.provisional)
        count, day = 0, start
        while day < end:
            day += ONE_DAY
            count += self.is_working_day(day)
        return Counted(count, self._any_missing(start, end))

    def _any_missing(self, first: date, last: date) -> bool:
        return any(year not in self.years for year in range(first.year, last.year + 1))
