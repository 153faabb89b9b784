"""Legal deadlines in SQL, the same on SQLite and PostgreSQL: the working-day calendar as rows
(calendar_days), and the figures read from the letters' stored deadlines (computed by
gateway.store.legal_deadlines). What depends on today (overdue, due soon) is decided here, at
read time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.deadlines import DeadlineRules
from gateway.store.legal_deadlines import fingerprint, letter_deadlines, rebase
from gateway.store.sql import _INSERT
from gateway.store.tables import calendar_days, letters

_CHUNK = 500


# Years of calendar_days kept around the covered ones: letters registered this long before
# the first covered year still get (provisional) due dates in reports.
YEARS_BEFORE, YEARS_AFTER = 2, 2


def calendar_range(calendar: WorkingCalendar, today: date) -> tuple[date, date]:
    years = [*calendar.years, today.year]
    return date(min(years) - YEARS_BEFORE, 1, 1), date(max(years) + YEARS_AFTER, 12, 31)


def calendar_rows(calendar: WorkingCalendar, first: date, last: date) -> list[dict[str, Any]]:
    rows, ordinal, day = [], 0, first
    while day <= last:
        working = calendar.is_working_day(day)
        ordinal += working
        rows.append(
            {
                "day": day,
                "working": working,
                "ordinal": ordinal,
                "covered": calendar.covers(day.year),
            }
        )
        day += timedelta(days=1)
    return rows


async def store_calendar(
    engine: AsyncEngine,
    calendar: WorkingCalendar,
    first: date,
    last: date,
    rules: DeadlineRules,
) -> None:
    """Rewrite calendar_days for [first, last] and, if they or the rules changed, every
    letter's stored deadline figures, in one transaction. An upsert, so replicas starting
    together do not trip over each other's rows; days outside the range are removed."""
    rows = calendar_rows(calendar, first, last)
    async with engine.begin() as conn:
        insert = _INSERT[conn.dialect.name]
        await conn.execute(
            delete(calendar_days).where(
                or_(calendar_days.c.day < first, calendar_days.c.day > last)
            )
        )
        for start in range(0, len(rows), _CHUNK):
            statement = insert(calendar_days).values(rows[start : start + _CHUNK])
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[calendar_days.c.day],
                    set_={
                        name: statement.excluded[name] for name in ("working", "ordinal", "covered")
                    },
                )
            )
        await rebase(conn, rules, fingerprint(rows, rules))


def due_soon_until(rules: DeadlineRules, today: date) -> Select[tuple[date | None]]:
    """The last day an open letter's due date may be on for it to be due soon on `today`
    (null if today is outside the calendar rows). Due dates are working days, so "at most
    due_soon working days left" is this date bound on the stored due date."""
    today_ordinal = (
        select(calendar_days.c.ordinal).where(calendar_days.c.day == today).scalar_subquery()
    )
    return select(func.max(calendar_days.c.day)).where(
        calendar_days.c.ordinal <= today_ordinal + rules.due_soon
    )


def is_open() -> Any:
    """Letters with a stored due date, not yet dealt with (ix_letters_open_legal_due)."""
    return and_(letters.c.legal_done_on.is_(None), letters.c.legal_due_date.is_not(None))


@dataclass(frozen=True)
class DeadlineCounts:
    """Per department: open letters past their due date and open letters due soon."""

    department_code: str | None
    department_name: str | None
    overdue: int
    due_soon: int


async def open_deadline_counts(
    engine: AsyncEngine, rules: DeadlineRules, today: date
) -> tuple[list[DeadlineCounts], int]:
    """(overdue and due-soon counts by department, letters whose DMS date disagrees)."""
    async with engine.connect() as conn:
        soon_until = await conn.scalar(due_soon_until(rules, today))
        if soon_until is None:  # today outside the stored range: nothing to count against
            return [], 0
        due = letters.c.legal_due_date
        overdue = due < today
        due_soon = and_(due >= today, due <= soon_until)
        department = (letters.c.department_code, letters.c.department_name)
        rows = await conn.execute(
            select(
                *department,
                func.sum(case((overdue, 1), else_=0)),
                func.sum(case((due_soon, 1), else_=0)),
            )
            .where(is_open())
            .group_by(*department)
        )
        counts = [DeadlineCounts(code, name, int(o), int(s)) for code, name, o, s in rows]
        # the DMS's own date is no stored figure: compared on the computed deadlines
        per_letter = letter_deadlines(rules).subquery()
        disagreements = await conn.scalar(
            select(func.count()).where(
                ~per_letter.c.forwarding,
                per_letter.c.dms_due_date.is_not(None),
                per_letter.c.dms_due_date != per_letter.c.due_date,
            )
        )
    return counts, int(disagreements or 0)


@dataclass(frozen=True)
class OverdueNow:
    """One department's open letters past their legal due date on a day, and the oldest."""

    department_code: str | None
    department_name: str | None
    count: int
    oldest: str  # registration number; of equal due dates, the smallest number
    oldest_due_date: date


async def overdue_now(engine: AsyncEngine, today: date) -> list[OverdueNow]:
    """Open letters (not answered, forwarded, or finished) whose legal due date is before
    `today`, by department: the same letters as gateway_letters_overdue counts. Hash
    aggregates only (a window ordering every overdue letter cost a sort of all of them)."""
    overdue = (
        select(
            letters.c.department_code.label("code"),
            letters.c.department_name.label("name"),
            letters.c.registration_number.label("number"),
            letters.c.legal_due_date.label("due_date"),
        )
        .where(is_open(), letters.c.legal_due_date < today)
        .cte("overdue")
    )
    department = (overdue.c.code, overdue.c.name)
    counted = (
        select(*department, func.count().label("n"), func.min(overdue.c.due_date).label("oldest"))
        .group_by(*department)
        .subquery()
    )
    same_department = and_(
        _same(overdue.c.code, counted.c.code), _same(overdue.c.name, counted.c.name)
    )
    rows = await _all(
        engine,
        select(
            counted.c.code,
            counted.c.name,
            counted.c.n,
            func.min(overdue.c.number),
            counted.c.oldest,
        )
        .join_from(counted, overdue, and_(same_department, overdue.c.due_date == counted.c.oldest))
        .group_by(counted.c.code, counted.c.name, counted.c.n, counted.c.oldest),
    )
    return [OverdueNow(code, name, int(n), first, due) for code, name, n, first, due in rows]


def _same(a: Any, b: Any) -> Any:
    """Equal, or both NULL (letters not yet assigned to a department)."""
    return or_(a == b, and_(a.is_(None), b.is_(None)))


_GROUP_KEYS = ("department_code", "department_name", "executor_id", "executor_name")


@dataclass(frozen=True)
class DeadlinePerformance:
    """Letters due in a period, for one department or one executor."""

    code: str | None
    name: str | None
    department_code: str | None  # the executor's department; in department rows, `code`
    due: int
    answered_on_time: int
    answered_late: int
    overdue_now: int
    median_working_days: int | None  # nearest rank: the ceil(n/2)-th of the sorted values
    p90_working_days: int | None  # nearest rank: the ceil(0.9 n)-th


async def deadline_performance(
    engine: AsyncEngine,
    start: date,
    end: date,
    today: date,
    by_executor: bool,
) -> list[DeadlinePerformance]:
    """Letters whose due date falls in [start, end): how many were dealt with on time, late,
    are overdue on `today`; median and 90th percentile of working days taken (dealt with
    only). Percentiles by window functions, which both dialects have."""
    per_letter_in_period = select(
        *(letters.c[name] for name in _GROUP_KEYS),
        letters.c.legal_due_date.label("due_date"),
        letters.c.legal_done_on.label("done_on"),
        letters.c.legal_working_days_taken.label("working_days_taken"),
    ).where(letters.c.legal_due_date >= start, letters.c.legal_due_date < end)
    per_letter = per_letter_in_period.subquery()
    if by_executor:
        keys: Sequence[Any] = (
            per_letter.c.executor_id,
            per_letter.c.executor_name,
            per_letter.c.department_code,
        )
    else:
        keys = (per_letter.c.department_code, per_letter.c.department_name)
        keys = (*keys, per_letter.c.department_code)
    done = per_letter.c.done_on.is_not(None)
    ranked = select(
        *(key.label(f"k{i}") for i, key in enumerate(keys)),
        per_letter.c.due_date,
        per_letter.c.done_on,
        per_letter.c.working_days_taken.label("taken"),
        func.row_number()
        .over(partition_by=(*keys, done), order_by=per_letter.c.working_days_taken)
        .label("rank"),
        func.count().over(partition_by=(*keys, done)).label("answered"),
    ).subquery()
    answered = ranked.c.done_on.is_not(None)

    def nearest_rank(numerator: int, denominator: int) -> Any:
        # ceil(n * numerator / denominator) in integer arithmetic, the same in both dialects
        at = (ranked.c.answered * numerator + denominator - 1) // denominator
        return func.min(case((and_(answered, ranked.c.rank == at), ranked.c.taken)))

    group = (ranked.c.k0, ranked.c.k1, ranked.c.k2)
    rows = await _all(
        engine,
        select(
            *group,
            func.count(),
            func.sum(case((and_(answered, ranked.c.done_on <= ranked.c.due_date), 1), else_=0)),
            func.sum(case((and_(answered, ranked.c.done_on > ranked.c.due_date), 1), else_=0)),
            func.sum(case((and_(~answered, ranked.c.due_date < today), 1), else_=0)),
            nearest_rank(1, 2),
            nearest_rank(9, 10),
        )
        .group_by(*group)
        .order_by(*group),
    )
    return [
        DeadlinePerformance(
            code, name, department, int(n), int(on_time), int(late), int(overdue), median, p90
        )
        for code, name, department, n, on_time, late, overdue, median, p90 in rows
    ]


async def _all(engine: AsyncEngine, query: Select[Any]) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(query))
