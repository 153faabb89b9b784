"""A letter's legal deadline in SQL, and its figures stored on the letter.

letter_deadlines is the one definition (mirrored by gateway.domain.deadlines; an integration
test checks the two agree letter for letter). Its figures (due date, the day the letter was
dealt with, the working days that took) are stored in the letters' legal_* columns, so reports
and the console read an indexed column instead of joining the calendar for every letter:
- follow: in every transaction that merges letters, for just those letters;
- rebase: for every letter, when the calendar rows or the rules differ from deadline_basis's.
Both compute from the rules recorded in deadline_basis, so replicas started with different
settings never mix figures of two rule sets; on PostgreSQL an advisory lock keeps a merge
from computing on the old basis while a rebase commits the new one.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Date, Select, and_, bindparam, case, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.deadlines import FINISHED, DeadlineRules
from gateway.domain.letters import DeadlineClass
from gateway.store import postgres
from gateway.store.selection import chunks
from gateway.store.tables import calendar_days, deadline_basis, letters

log = logging.getLogger(__name__)
FINISHED_STATUSES = sorted(status.value for status in FINISHED)
BASIS_KEY = 0x6465_6164  # PostgreSQL advisory lock: merges hold it shared, a rebase exclusively
_TERMS = ("general", "additional_study", "max_extension", "forwarding")


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


def fingerprint(calendar: Sequence[dict[str, Any]], rules: DeadlineRules) -> str:
    """Of the calendar rows (gateway.store.deadlines.calendar_rows) and the terms."""
    digest = hashlib.sha256(repr([getattr(rules, term) for term in _TERMS]).encode())
    for row in calendar:
        digest.update(f"{row['day']:%Y%m%d}{row['working']:d}{row['covered']:d}".encode())
    return digest.hexdigest()


async def basis_rules(conn: AsyncConnection) -> DeadlineRules | None:
    """The rules the stored figures come from; None before the calendar was first stored.
    Call before merging letters: on PostgreSQL it holds the basis until the transaction ends,
    locked before any letter row is, so a merge and a rebase cannot deadlock."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": BASIS_KEY})
    row = (await conn.execute(select(*(deadline_basis.c[t] for t in _TERMS)))).first()
    # due_soon is no part of a stored figure: read-time only
    return None if row is None else DeadlineRules(**row._asdict())


async def follow(conn: AsyncConnection, rules: DeadlineRules, numbers: Collection[str]) -> None:
    """Recompute the stored figures of the letters `numbers` (just merged)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(_follow_on_postgresql(rules), {"values": list(numbers)})
        return
    for chunk in chunks(sorted(numbers)):
        await conn.execute(_follow_on_sqlite(rules), {"numbers": chunk})


# Built once per rule set: built anew per batch, it cost ~7 µs per event in bench/store.py.
@functools.cache
def _follow_on_postgresql(rules: DeadlineRules) -> Any:
    return _recompute(rules, postgres.any_of(letters.c.registration_number))


@functools.cache
def _follow_on_sqlite(rules: DeadlineRules) -> Any:
    numbers = bindparam("numbers", type_=letters.c.registration_number.type, expanding=True)
    return _recompute(rules, letters.c.registration_number.in_(numbers))


async def rebase(conn: AsyncConnection, rules: DeadlineRules, new_fingerprint: str) -> None:
    """After the calendar rows are stored, in their transaction: recompute every letter's
    figures if the calendar or the rules differ from what they were computed from."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": BASIS_KEY})
    stored = await conn.scalar(select(deadline_basis.c.fingerprint))
    if stored == new_fingerprint:
        return
    log.info("calendar or deadline rules changed: recomputing every letter's legal deadline")
    await conn.execute(_recompute(rules, None))
    await conn.execute(deadline_basis.delete())
    await conn.execute(
        deadline_basis.insert().values(
            id=1, fingerprint=new_fingerprint, **{t: getattr(rules, t) for t in _TERMS}
        )
    )


def _recompute(rules: DeadlineRules, which: Any) -> Any:
    """UPDATE of the letters meeting `which` (None: all) whose stored figures differ from
    letter_deadlines'; a letter it has no row for (outside the calendar's range) gets nulls."""
    per_letter = letter_deadlines(rules)
    if which is not None:
        per_letter = per_letter.where(which)
    computed = per_letter.subquery("computed")
    figures = select(
        letters.c.registration_number.label("number"),
        computed.c.due_date,
        computed.c.done_on,
        computed.c.working_days_taken,
    ).outerjoin_from(
        letters, computed, computed.c.registration_number == letters.c.registration_number
    )
    if which is not None:
        figures = figures.where(which)
    new = figures.subquery("figures")
    pairs = (
        (letters.c.legal_due_date, new.c.due_date),
        (letters.c.legal_done_on, new.c.done_on),
        (letters.c.legal_working_days_taken, new.c.working_days_taken),
    )
    return (
        update(letters)
        .where(
            letters.c.registration_number == new.c.number,
            or_(*(old.is_distinct_from(value) for old, value in pairs)),
        )
        .values({old: value for old, value in pairs})
    )
