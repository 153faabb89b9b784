"""Working days: weekends, public holidays and the days the government moves every year.

The calendar is data (one file per year, loaded by gateway.reference.calendar_files); this
module only counts. A year the data does not cover is counted on weekends alone, and every
answer that touched such a year says so (provisional): a missing year is never guessed silently.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

SATURDAY = 5  # date.weekday(): Monday 0 ... Sunday 6


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
    # Per year, working days among its first i days (index i), built when a year is first
    # counted: every reply computes a deadline, and counting day by day cost ~10% of it.
    _counts: dict[int, list[int]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

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
        if not count:
            return DueDay(start, self._any_missing(start, start))
        year, target = start.year, self._counted(start) + count
        while target > (counts := self._year_counts(year))[-1]:
            target -= counts[-1]
            year += 1
        # The year's first day by which `target` working days are reached: a working day.
        day = date(year, 1, 1) + timedelta(days=bisect_left(counts, target) - 1)
        return DueDay(day, self._any_missing(start, day))

    def working_days_between(self, start: date, end: date) -> Counted:
        """Working days after `start` up to and including `end`; negative when `end` is earlier
        (then: minus the working days after `end` up to and including `start`)."""
        if end < start:
            counted = self.working_days_between(end, start)
            return Counted(-counted.value, counted.provisional)
        whole_years = sum(self._year_counts(year)[-1] for year in range(start.year, end.year))
        count = whole_years + self._counted(end) - self._counted(start)
        return Counted(count, self._any_missing(start, end))

    def _counted(self, day: date) -> int:
        """Working days of `day`'s year up to and including `day`."""
        return self._year_counts(day.year)[day.toordinal() - date(day.year, 1, 1).toordinal() + 1]

    def _year_counts(self, year: int) -> list[int]:
        counts = self._counts.get(year)
        if counts is None:
            counts = [0]
            for ordinal in range(date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal() + 1):
                counts.append(counts[-1] + self.is_working_day(date.fromordinal(ordinal)))
            self._counts[year] = counts
        return counts

    def _any_missing(self, first: date, last: date) -> bool:
        return any(year not in self.years for year in range(first.year, last.year + 1))
