"""Legal deadlines in SQL, the same on SQLite and PostgreSQL: the working-day calendar as rows
(calendar_days) and, per letter, its due date, the day it was dealt with and the working days
that took. The rules are the domain's (gateway.domain.deadlines); an integration test checks
that this SQL and the domain agree letter for letter (tests/integration/test_deadline_store).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Date, Select, and_, case, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.deadlines import FINISHED, DeadlineRules
from gateway.domain.letters import DeadlineClass
from gateway.store.dialects import INSERT
from gateway.store.tables import calendar_days, letters

_CHUNK = 500
FINISHED_STATUSES = sorted(status.value for status in FINISHED)


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
    engine: AsyncEngine, calendar: WorkingCalendar, first: date, last: date
) -> None:
    """Rewrite calendar_days for [first, last]. An upsert, so replicas starting together do not
    trip over each other's rows; days outside the range are removed."""
    rows = calendar_rows(calendar, first, last)
    async with engine.begin() as conn:
        insert = INSERT[conn.dialect.name]
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


def letter_deadlines(rules: DeadlineRules) -> Select[Any]:
    """One row per registered letter inside the calendar's range: its group keys, due date,
    the day it was answered (or forwarded, for the forwarding term) and the working days that
    took. Mirrors gateway.domain.deadlines.deadline_of."""
    registered, due, done = (calendar_days.alias(n) for n in ("reg_day", "due_day", "done_day"))
    forwarding = and_(letters.c.answer_date.is_(None), letters.c.forwarding_date.is_not(None))
    answer_term = case(
        (letters.c.deadline_class == DeadlineClass.ADDITIONAL_STUDY.value, rules.additional_study),
        else_=rules.general,
    ) + case(
        (letters.c.extension_days.is_(None), 0),
        (letters.c.extension_days > rules.max_extension, rules.max_extension),
        else_=letters.c.extension_days,
    )
    term = case((forwarding, rules.forwarding), else_=answer_term)
    # finished by a status change alone: the (UTC) day of that change, as the domain does
    finished_on = case(
        (letters.c.status.in_(FINISHED_STATUSES), func.date(letters.c.status_at, type_=Date))
    )
    done_on = case(
        (letters.c.answer_date.is_not(None), letters.c.answer_date),
        (letters.c.forwarding_date.is_not(None), letters.c.forwarding_date),
        else_=finished_on,
    )
    dms_due = case(
        (letters.c.extension_seq > 0, letters.c.extension_due_date), else_=letters.c.due_date
    )
    return (
        select(
            letters.c.registration_number,
            letters.c.department_code,
            letters.c.department_name,
            letters.c.executor_id,
            letters.c.executor_name,
            due.c.day.label("due_date"),
            due.c.ordinal.label("due_ordinal"),
            done_on.label("done_on"),
            (done.c.ordinal - registered.c.ordinal).label("working_days_taken"),
            forwarding.label("forwarding"),
            dms_due.label("dms_due_date"),
            (registered.c.covered & due.c.covered).label("covered"),
        )
        .select_from(letters)
        .join(registered, registered.c.day == letters.c.registration_date)
        .join(
            due,
            and_(due.c.working.is_(True), due.c.ordinal == registered.c.ordinal + term),
        )
        .outerjoin(done, done.c.day == done_on)
    )


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
    per_letter = letter_deadlines(rules).subquery()
    async with engine.connect() as conn:
        today_ordinal = await conn.scalar(
            select(calendar_days.c.ordinal).where(calendar_days.c.day == today)
        )
        if today_ordinal is None:  # today outside the stored range: nothing to count against
            return [], 0
        is_open = per_letter.c.done_on.is_(None)
        overdue = and_(is_open, per_letter.c.due_date < today)
        due_soon = and_(
            is_open,
            per_letter.c.due_date >= today,
            per_letter.c.due_ordinal - today_ordinal <= rules.due_soon,
        )
        rows = await conn.execute(
            select(
                per_letter.c.department_code,
                per_letter.c.department_name,
                func.sum(case((overdue, 1), else_=0)),
                func.sum(case((due_soon, 1), else_=0)),
            )
            .where(is_open)
            .group_by(per_letter.c.department_code, per_letter.c.department_name)
        )
        counts = [DeadlineCounts(code, name, int(o), int(s)) for code, name, o, s in rows]
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


async def overdue_now(engine: AsyncEngine, rules: DeadlineRules, today: date) -> list[OverdueNow]:
    """Open letters (not answered, forwarded, or finished) whose legal due date is before
    `today`, by department: the same letters as gateway_letters_overdue counts. Hash
    aggregates only (a window ordering every overdue letter cost a sort of all of them)."""
    per_letter = letter_deadlines(rules).subquery()
    overdue = (
        select(
            per_letter.c.department_code.label("code"),
            per_letter.c.department_name.label("name"),
            per_letter.c.registration_number.label("number"),
            per_letter.c.due_date,
        )
        .where(per_letter.c.done_on.is_(None), per_letter.c.due_date < today)
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
    rules: DeadlineRules,
    start: date,
    end: date,
    today: date,
    by_executor: bool,
) -> list[DeadlinePerformance]:
    """Letters whose due date falls in [start, end): how many were dealt with on time, late,
    are overdue on `today`; median and 90th percentile of working days taken (dealt with
    only). Percentiles by window functions, which both dialects have."""
    per_letter = letter_deadlines(rules).where(*_may_fall_due_in(rules, start, end)).subquery()
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
    ranked = (
        select(
            *(key.label(f"k{i}") for i, key in enumerate(keys)),
            per_letter.c.due_date,
            per_letter.c.done_on,
            per_letter.c.working_days_taken.label("taken"),
            func.row_number()
            .over(partition_by=(*keys, done), order_by=per_letter.c.working_days_taken)
            .label("rank"),
            func.count().over(partition_by=(*keys, done)).label("answered"),
        )
        .where(per_letter.c.due_date >= start, per_letter.c.due_date < end)
        .subquery()
    )
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


def _may_fall_due_in(rules: DeadlineRules, start: date, end: date) -> list[Any]:
    """Conditions on letters alone (checked before the calendar joins) that every letter due
    in [start, end) meets, so a month's report does not compute a year's due dates. Exact, as
    a term is 1 to `longest` working days (the DMS contract accepts extensions of 1 or more):
    the due date is after the registration date, and at most `longest` working days after."""
    longest = max(
        rules.forwarding, max(rules.general, rules.additional_study) + rules.max_extension
    )
    first_due = (
        select(func.min(calendar_days.c.ordinal))
        .where(calendar_days.c.day >= start, calendar_days.c.working.is_(True))
        .scalar_subquery()
    )
    earliest = (
        select(func.min(calendar_days.c.day))
        .where(calendar_days.c.ordinal >= first_due - longest)
        .scalar_subquery()
    )
    return [letters.c.registration_date >= earliest, letters.c.registration_date < end]


async def _all(engine: AsyncEngine, query: Select[Any]) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(query))
