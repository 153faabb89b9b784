"""Legal deadlines computed in SQL, on SQLite and PostgreSQL: the same due dates and states as
the domain, letter for letter, and exact control-report figures on a known set."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.deadlines import DeadlineKind, DeadlineRules, DeadlineState, deadline_of
from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import (
    Agency,
    DeadlineClass,
    Department,
    Executor,
    Letter,
    Status,
)
from gateway.reference.calendar_files import load_calendar
from gateway.store.console import SqlOversight
from gateway.store.deadlines import (
    OverdueNow,
    deadline_performance,
    open_deadline_counts,
    overdue_now,
    store_calendar,
)
from gateway.store.legal_deadlines import letter_deadlines
from gateway.store.migrate import upgrade_to_head
from gateway.store.sql import SqlUnitOfWork, create_engine
from gateway.store.tables import calendar_days, letters
from gateway.tools.simulator import generate_events

CALENDAR = load_calendar()
RULES = DeadlineRules()
FIRST, LAST = date(2025, 1, 1), date(2028, 12, 31)
TODAY = date(2026, 11, 2)  # a Monday
CUSTOMS = Department("GOBI", "Gömrük ödənişləri idarəsi")
LEGAL = Department("HSI", "Hüquq şöbəsi")
ALI = Executor("E1", "Əliyev Əli", "+994 12 000 00 01")
VUSALA = Executor("E2", "Həsənova Vüsalə", "+994 12 000 00 02")


async def _store(database_url: str, stored: list[Letter]):
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    await store_calendar(engine, CALENDAR, FIRST, LAST, RULES)
    async with SqlUnitOfWork(engine) as uow:
        await uow.letters.merge(stored)
        await uow.commit()
    return engine


def simulated_letters(count: int) -> list[Letter]:
    hasher, folded = IdentifierHasher(b"k"), {}
    for event in generate_events(count, seed=5, disorder=0.0):
        number = event.registration_number
        folded[number] = folded.get(number, Letter(number)).apply(event, hasher)
    return list(folded.values())


async def test_sql_due_dates_and_answers_equal_the_domains_for_every_letter(database_url):
    stored = simulated_letters(300)
    assert any(letter.extension_days for letter in stored)  # the set exercises extensions
    assert any(letter.deadline_class is DeadlineClass.ADDITIONAL_STUDY for letter in stored)
    assert any(letter.forwarding_date and not letter.answer_date for letter in stored)
    engine = await _store(database_url, stored)
    try:
        async with engine.connect() as conn:
            rows = {r.registration_number: r for r in await conn.execute(letter_deadlines(RULES))}
    finally:
        await engine.dispose()
    assert len(rows) == len(stored)
    for letter in stored:
        expected = deadline_of(letter, TODAY, RULES, CALENDAR)
        assert expected is not None
        row = rows[letter.registration_number]
        assert row.due_date == expected.due_date, letter.registration_number
        assert bool(row.forwarding) == (expected.kind is DeadlineKind.FORWARDING)
        if row.done_on is not None:
            taken = CALENDAR.working_days_between(letter.registration_date, row.done_on).value
            assert row.working_days_taken == taken


def _letter(n: int, registered: date, department: Department, executor: Executor, **more) -> Letter:
    return Letter(
        f"DGK-2026-{n:06d}",
        registration_seq=1,
        registration_date=registered,
        assignment_seq=2,
        department=department,
        executor=executor,
        **more,
    )


# Registered 5 Oct 2026: due 26 Oct. Registered 12 Oct: due 2 Nov (TODAY).
KNOWN = [
    _letter(1, date(2026, 10, 5), CUSTOMS, ALI, answer_date=date(2026, 10, 9)),  # 4 wd, on time
    _letter(2, date(2026, 10, 5), CUSTOMS, ALI, answer_date=date(2026, 10, 26)),  # 15, on time
    _letter(3, date(2026, 10, 5), CUSTOMS, VUSALA, answer_date=date(2026, 10, 28)),  # 17, late
    _letter(4, date(2026, 10, 5), CUSTOMS, VUSALA),  # open, overdue since 27 Oct
    _letter(5, date(2026, 10, 12), LEGAL, ALI),  # due 2 Nov (today): open, due soon
    _letter(  # extended by 10: due 9 Nov is off, so 11 Nov; open, not yet overdue
        6,
        date(2026, 10, 5),
        LEGAL,
        ALI,
        extension_seq=3,
        extension_days=10,
        extension_reason="sorğu",
        extension_applicant_told=True,
    ),
    _letter(7, date(2026, 9, 1), LEGAL, VUSALA, answer_date=date(2026, 9, 10)),  # due in Sept
    _letter(  # forwarded on day 2 of a 3-day term: dealt with on time, 2 working days
        8,
        date(2026, 10, 5),
        LEGAL,
        VUSALA,
        forwarding_seq=3,
        forwarded_to=Agency("DSX", "Sərhəd Xidməti"),
        forwarding_date=date(2026, 10, 7),
    ),
    _letter(  # closed by a status change alone on 23 Oct (UTC): on time, 14 working days
        9,
        date(2026, 10, 5),
        LEGAL,
        VUSALA,
        status_seq=4,
        status=Status.CLOSED,
        status_at=datetime(2026, 10, 23, 20, 30, tzinfo=UTC),
    ),
]


async def test_the_control_figures_per_department_and_executor(database_url):
    engine = await _store(database_url, KNOWN)
    try:
        departments = await deadline_performance(
            engine, date(2026, 10, 1), date(2026, 11, 30), TODAY, by_executor=False
        )
        executors = await deadline_performance(
            engine, date(2026, 10, 1), date(2026, 11, 30), TODAY, by_executor=True
        )
        counts, disagreements = await open_deadline_counts(engine, RULES, TODAY)
        overdue = await overdue_now(engine, TODAY)
    finally:
        await engine.dispose()
    by_department = {d.code: d for d in departments}
    customs, legal = by_department["GOBI"], by_department["HSI"]
    assert (customs.due, customs.answered_on_time, customs.answered_late) == (4, 2, 1)
    assert customs.overdue_now == 1
    # answered in 4, 15 and 17 working days: nearest-rank median 15, p90 17
    assert (customs.median_working_days, customs.p90_working_days) == (15, 17)
    assert (legal.due, legal.answered_on_time, legal.answered_late, legal.overdue_now) == (
        4,
        2,
        0,
        0,
    )
    assert (legal.median_working_days, legal.p90_working_days) == (2, 14)
    ali = next(e for e in executors if e.code == "E1" and e.department_code == "GOBI")
    assert (ali.due, ali.answered_on_time, ali.median_working_days) == (2, 2, 4)
    open_by_department = {c.department_code: (c.overdue, c.due_soon) for c in counts}
    assert open_by_department == {"GOBI": (1, 0), "HSI": (0, 1)}
    # the report's "overdue now" is the metric's count, with the oldest letter
    assert overdue == [OverdueNow("GOBI", CUSTOMS.name, 1, "DGK-2026-000004", date(2026, 10, 26))]
    assert disagreements == 0


async def test_a_dms_date_that_differs_is_counted(database_url):
    agrees = _letter(1, date(2026, 10, 5), CUSTOMS, ALI, due_date=date(2026, 10, 26))
    differs = _letter(2, date(2026, 10, 5), CUSTOMS, ALI, due_date=date(2026, 11, 4))
    engine = await _store(database_url, [agrees, differs])
    try:
        _, disagreements = await open_deadline_counts(engine, RULES, TODAY)
    finally:
        await engine.dispose()
    assert disagreements == 1


async def test_storing_the_calendar_twice_keeps_one_row_per_day(database_url):
    engine = await _store(database_url, [])
    try:
        await store_calendar(engine, CALENDAR, date(2026, 1, 1), LAST, RULES)
        async with engine.connect() as conn:
            days = list(await conn.execute(select(calendar_days.c.day)))
    finally:
        await engine.dispose()
    assert len(days) == (LAST - date(2026, 1, 1)).days + 1


def test_the_known_states_hold_in_the_domain_too():
    states = {
        letter.registration_number[-1]: deadline_of(letter, TODAY, RULES, CALENDAR)
        for letter in KNOWN
    }
    assert states["4"] is not None and states["4"].state is DeadlineState.OVERDUE
    assert states["5"] is not None and states["5"].state is DeadlineState.DUE_SOON
    assert states["6"] is not None and states["6"].due_date == date(2026, 11, 11)


async def test_a_department_heads_workload_is_the_domains_overdue_and_due_soon(database_url):
    # open letters registered on each of the last 40 days: every number of working days left,
    # the due-soon boundary included
    sweep = [_letter(900 + d, TODAY - timedelta(days=d), CUSTOMS, ALI) for d in range(40)]
    stored = simulated_letters(300) + sweep
    engine = await _store(database_url, stored)
    departments = {letter.department.code for letter in stored if letter.department}
    try:
        workload = await SqlOversight(engine, RULES).workload(sorted(departments), TODAY)
    finally:
        await engine.dispose()
    wanted = {DeadlineState.OVERDUE, DeadlineState.DUE_SOON}
    expected = {
        letter.registration_number: deadline.due_date
        for letter in stored
        if letter.department
        and (deadline := deadline_of(letter, TODAY, RULES, CALENDAR)) is not None
        and deadline.state in wanted
    }
    assert expected  # the set has letters to show
    assert {w.registration_number: w.due_date for w in workload} == expected
    assert [w.due_date for w in workload] == sorted(w.due_date for w in workload)


async def test_a_letter_on_the_longest_term_counts_in_the_period_it_falls_due(database_url):
    # additional study (30) extended by the most (30): 60 working days, the longest term;
    # the report reads only letters registered early enough to fall due in its period
    letter = _letter(
        1,
        date(2026, 6, 1),
        CUSTOMS,
        ALI,
        deadline_class=DeadlineClass.ADDITIONAL_STUDY,
        extension_seq=3,
        extension_days=30,
        extension_reason="sorğu",
        extension_applicant_told=True,
    )
    deadline = deadline_of(letter, TODAY, RULES, CALENDAR)
    assert deadline is not None
    due = deadline.due_date
    engine = await _store(database_url, [letter])
    try:
        that_day, day_before = [
            await deadline_performance(
                engine, first, first + timedelta(days=1), TODAY, by_executor=False
            )
            for first in (due, due - timedelta(days=1))
        ]
    finally:
        await engine.dispose()
    assert [(d.code, d.due) for d in that_day] == [("GOBI", 1)]
    assert day_before == []


# ---- the figures stored on the letters --------------------------------------------------


async def _stored(engine) -> dict[str, tuple[date | None, date | None, int | None]]:
    figures = ("legal_due_date", "legal_done_on", "legal_working_days_taken")
    columns = (letters.c[name] for name in figures)
    async with engine.connect() as conn:
        rows = await conn.execute(select(letters.c.registration_number, *columns))
        return {number: (due, done, taken) for number, due, done, taken in rows}


def _assert_stored_as_the_domain_says(stored, expected: list[Letter], rules, calendar) -> None:
    """Every letter's stored due date is the domain's; it has a day it was dealt with exactly
    when the domain says it was answered (or forwarded), and the working days up to it."""
    dealt_with = {DeadlineState.ANSWERED_ON_TIME, DeadlineState.ANSWERED_LATE}
    assert set(stored) == {letter.registration_number for letter in expected}
    for letter in expected:
        deadline = deadline_of(letter, TODAY, rules, calendar)
        assert deadline is not None and letter.registration_date is not None
        due, done, taken = stored[letter.registration_number]
        assert due == deadline.due_date, letter.registration_number
        assert (done is not None) == (deadline.state in dealt_with), letter.registration_number
        if done is not None:
            assert taken == calendar.working_days_between(letter.registration_date, done).value


async def test_ingested_letters_carry_the_domains_deadline_figures(database_url):
    stored = simulated_letters(300)
    engine = await _store(database_url, stored)
    try:
        figures = await _stored(engine)
    finally:
        await engine.dispose()
    _assert_stored_as_the_domain_says(figures, stored, RULES, CALENDAR)


async def test_letters_stored_before_the_calendar_get_their_figures_when_it_is_stored(
    database_url,
):
    # as after the migration that added the figures: letters there, no basis recorded yet
    stored = simulated_letters(100)
    engine = create_engine(database_url)
    try:
        await upgrade_to_head(engine)
        async with SqlUnitOfWork(engine) as uow:
            await uow.letters.merge(stored)
            await uow.commit()
        before = await _stored(engine)
        await store_calendar(engine, CALENDAR, FIRST, LAST, RULES)
        after = await _stored(engine)
    finally:
        await engine.dispose()
    assert set(before.values()) == {(None, None, None)}
    _assert_stored_as_the_domain_says(after, stored, RULES, CALENDAR)


async def test_a_letter_answered_extended_or_forwarded_has_its_figures_recomputed(database_url):
    engine = await _store(database_url, KNOWN)
    answered = replace(KNOWN[3], conclusion_seq=5, answer_date=date(2026, 10, 30))
    extended = replace(
        KNOWN[4],
        extension_seq=5,
        extension_days=5,
        extension_reason="sorğu",
        extension_applicant_told=True,
    )
    forwarded = replace(
        KNOWN[5],
        forwarding_seq=5,
        forwarded_to=Agency("DSX", "Sərhəd Xidməti"),
        forwarding_date=date(2026, 10, 8),
    )
    changed = [answered, extended, forwarded]
    try:
        before = await _stored(engine)
        async with SqlUnitOfWork(engine) as uow:
            await uow.letters.merge(changed)
            await uow.commit()
        after = await _stored(engine)
    finally:
        await engine.dispose()
    now = {letter.registration_number: letter for letter in (*KNOWN, *changed)}
    _assert_stored_as_the_domain_says(after, list(now.values()), RULES, CALENDAR)
    for letter in changed:  # each change moved a figure
        assert before[letter.registration_number] != after[letter.registration_number]


def _with_day_off(calendar: WorkingCalendar, day: date) -> WorkingCalendar:
    return WorkingCalendar.of(
        replace(year, days_off=year.days_off | {day}) if year.year == day.year else year
        for year in calendar.years.values()
    )


async def test_a_holiday_added_to_the_calendar_moves_the_stored_due_dates(database_url):
    holiday = date(2026, 10, 20)  # a Tuesday inside the known letters' terms
    calendar = _with_day_off(CALENDAR, holiday)
    engine = await _store(database_url, KNOWN)
    try:
        await store_calendar(engine, calendar, FIRST, LAST, RULES)
        figures = await _stored(engine)
    finally:
        await engine.dispose()
    _assert_stored_as_the_domain_says(figures, KNOWN, RULES, calendar)
    # registered 5 Oct: due 26 Oct, one working day later with the holiday
    assert figures["DGK-2026-000004"][0] == date(2026, 10, 27)


async def test_other_rules_recompute_every_letter_and_apply_to_letters_merged_after(
    database_url,
):
    shorter = DeadlineRules(general=10, additional_study=20, max_extension=5, forwarding=2)
    engine = await _store(database_url, KNOWN[:5])
    try:
        await store_calendar(engine, CALENDAR, FIRST, LAST, shorter)
        async with SqlUnitOfWork(engine) as uow:
            await uow.letters.merge(KNOWN[5:])
            await uow.commit()
        figures = await _stored(engine)
    finally:
        await engine.dispose()
    _assert_stored_as_the_domain_says(figures, KNOWN, shorter, CALENDAR)
    # registered 5 Oct, 10 working days: due 19 Oct
    assert figures["DGK-2026-000004"][0] == date(2026, 10, 19)


async def test_a_calendar_stored_while_letters_are_merged_waits_and_recomputes_them(
    database_url,
):
    holiday = date(2026, 10, 20)
    calendar = _with_day_off(CALENDAR, holiday)
    engine = await _store(database_url, [])
    try:
        async with SqlUnitOfWork(engine) as uow:
            await uow.letters.merge(KNOWN)  # figures from the calendar without the holiday
            storing = asyncio.create_task(store_calendar(engine, calendar, FIRST, LAST, RULES))
            await asyncio.sleep(0.5)
            assert not storing.done()  # waits for the merge's transaction
            await uow.commit()
        await storing
        figures = await _stored(engine)
    finally:
        await engine.dispose()
    _assert_stored_as_the_domain_says(figures, KNOWN, RULES, calendar)
