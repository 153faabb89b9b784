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

from sqlalchemy import BigInteger, Select, and_, case, cast, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.deadlines import DeadlineRules
from gateway.store.dialects import INSERT
from gateway.store.legal_deadlines import fingerprint, letter_deadlines, rebase
from gateway.store.selection import chunks
from gateway.store.tables import calendar_days, letters

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
        insert = INSERT[conn.dialect.name]
        await conn.execute(
            delete(calendar_days).where(
                or_(calendar_days.c.day < first, calendar_days.c.day > last)
            )
        )
        for chunk in chunks(rows):
            statement = insert(calendar_days).values(chunk)
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
    `today`, by department: the same letters as gateway_letters_overdue counts. Counted in
    one pass over ix_letters_open_legal_due; then, per department, one index probe for the
    oldest letter (no sort of every overdue letter)."""
    department = (letters.c.department_code, letters.c.department_name)
    overdue = and_(is_open(), letters.c.legal_due_date < today)
    earliest = func.min(letters.c.legal_due_date).label("due")
    counted = (
        select(*department, func.count().label("n"), earliest)
        .where(overdue)
        .group_by(*department)
        .subquery()
    )

    def oldest(*same_department: Any) -> Any:
        return (
            select(func.min(letters.c.registration_number))
            .where(overdue, *same_department, letters.c.legal_due_date == counted.c.due)
            .scalar_subquery()
        )

    code, name = letters.c.department_code, letters.c.department_name
    # plain equality first: an index-only probe; the NULL-safe one only for the unassigned
    oldest_letter = func.coalesce(
        oldest(code == counted.c.department_code, name == counted.c.department_name),
        oldest(_same(code, counted.c.department_code), _same(name, counted.c.department_name)),
    )
    rows = await _all(engine, select(counted, oldest_letter))
    return [OverdueNow(code, name, int(n), first, due) for code, name, n, due, first in rows]


def _same(a: Any, b: Any) -> Any:
    """Equal, or both NULL (letters not yet assigned to a department)."""
    return or_(a == b, and_(a.is_(None), b.is_(None)))


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
    only). Percentiles by window functions, which both dialects have, over tallies."""
    c = letters.c
    if by_executor:
        keys: Sequence[Any] = (c.executor_id, c.executor_name, c.department_code)
    else:
        keys = (c.department_code, c.department_name, c.department_code)
    done = c.legal_done_on.is_not(None)

    def letters_where(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    # Letters tallied by group and working days taken: the percentiles then rank a few
    # hundred tallies instead of sorting every letter (a year is all of them).
    tally = (
        select(
            *(key.label(f"k{i}") for i, key in enumerate(keys)),
            done.label("done"),
            c.legal_working_days_taken.label("taken"),
            func.count().label("n"),
            letters_where(and_(done, c.legal_done_on <= c.legal_due_date)).label("on_time"),
            letters_where(and_(done, c.legal_done_on > c.legal_due_date)).label("late"),
            letters_where(and_(~done, c.legal_due_date < today)).label("overdue"),
        )
        .where(c.legal_due_date >= start, c.legal_due_date < end)
        .group_by(*keys, done, c.legal_working_days_taken)
        .subquery()
    )
    t = tally.c
    partition = (t.k0, t.k1, t.k2, t.done)
    running = (
        select(
            *t,
            cast(
                func.sum(t.n).over(partition_by=partition, order_by=t.taken.nulls_last()),
                BigInteger,
            ).label("up_to"),
            cast(func.sum(t.n).over(partition_by=partition), BigInteger).label("answered"),
        )
    ).subquery()
    r = running.c

    def nearest_rank(numerator: int, denominator: int) -> Any:
        # the ceil(n * numerator / denominator)-th smallest: the first tally reaching it
        at = (r.answered * numerator + denominator - 1) // denominator
        return func.min(case((and_(r.done, r.up_to >= at), r.taken)))

    group = (r.k0, r.k1, r.k2)
    rows = await _all(
        engine,
        select(
            *group,
            func.sum(r.n),
            func.sum(r.on_time),
            func.sum(r.late),
            func.sum(r.overdue),
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
