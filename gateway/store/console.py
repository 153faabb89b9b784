"""The operator console's store adapters: local accounts (argon2id), the sign-in audit, the
dead-letter log and the read queries behind the console's pages (aggregated in SQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import asdict
from datetime import date, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.domain.console import (
    AccessRecord,
    Account,
    AccountError,
    ConsoleRole,
    DailyRequests,
    DeadLetterEntry,
    SignInAttempt,
    WorkloadLetter,
    check_account,
)
from gateway.domain.deadlines import DeadlineRules
from gateway.store.deadlines import due_soon_until, is_open
from gateway.store.request_rollup import daily_counts
from gateway.store.tables import (
    console_accounts,
    console_signins,
    dead_letters,
    letters,
    request_audit,
)

_HASHER = PasswordHasher()  # argon2id, a random salt per hash, the library's current parameters
# Verified against when the username is unknown, so that answering takes as long either way.
_NO_SUCH_USER = _HASHER.hash("no such user")


def _split(csv: str) -> frozenset[str]:
    return frozenset(part for part in csv.split(",") if part)


class SqlAccounts:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def verify(self, username: str, password: str) -> Account | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(console_accounts).where(console_accounts.c.username == username)
                )
            ).first()
        stored = row.password_hash if row is not None else _NO_SUCH_USER
        try:  # argon2 takes tens of milliseconds of CPU: off the event loop
            await asyncio.to_thread(_HASHER.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row.disabled:
            return None
        return _account(row)

    async def add(
        self,
        username: str,
        password: str,
        roles: frozenset[ConsoleRole],
        departments: frozenset[str],
        now: datetime,
    ) -> None:
        check_account(username, roles, departments)
        if len(password) < 12:
            raise AccountError("a password has at least 12 characters")
        hashed = await asyncio.to_thread(_HASHER.hash, password)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(console_accounts).values(
                        username=username,
                        password_hash=hashed,
                        roles=",".join(sorted(roles)),
                        departments=",".join(sorted(departments)),
                        disabled=False,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise AccountError(f"account {username!r} exists already") from exc

    async def set_disabled(self, username: str, disabled: bool) -> bool:
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(console_accounts)
                .where(console_accounts.c.username == username)
                .values(disabled=disabled)
            )
        return done.rowcount == 1

    async def all(self) -> list[Account]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(console_accounts).order_by(console_accounts.c.username)
            )
            return [_account(row) for row in rows]


def _account(row: object) -> Account:
    return Account(
        username=row.username,  # type: ignore[attr-defined]
        roles=frozenset(ConsoleRole(r) for r in _split(row.roles)),  # type: ignore[attr-defined]
        departments=_split(row.departments),  # type: ignore[attr-defined]
        disabled=bool(row.disabled),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
    )


class SqlSignInLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, attempt: SignInAttempt) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(console_signins).values(
                    {**asdict(attempt), "outcome": attempt.outcome.value}
                )
            )


class SqlDeadLetterLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, entry: DeadLetterEntry) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(dead_letters).values(**asdict(entry)))


class SqlOversight:
    def __init__(self, engine: AsyncEngine, rules: DeadlineRules) -> None:
        self._engine, self._rules = engine, rules

    async def workload(self, departments: Collection[str], today: date) -> list[WorkloadLetter]:
        if not departments:
            return []
        # overdue, or due soon: a due date before today is before the due-soon bound too
        soon_until = due_soon_until(self._rules, today).scalar_subquery()
        query = (
            select(
                letters.c.registration_number,
                letters.c.department_code,
                letters.c.department_name,
                letters.c.executor_name,
                letters.c.executor_phone,
                letters.c.status,
                letters.c.legal_due_date,
            )
            .where(
                letters.c.department_code.in_(list(departments)),
                is_open(),
                or_(letters.c.legal_due_date < today, letters.c.legal_due_date <= soon_until),
            )
            .order_by(letters.c.legal_due_date, letters.c.registration_number)
        )
        async with self._engine.connect() as conn:
            return [WorkloadLetter(*row) for row in await conn.execute(query)]

    async def access_trail(self, registration_number: str, limit: int) -> list[AccessRecord]:
        a = request_audit.c
        query = (
            select(
                a.received_at,
                a.request_topic,
                a.client_id,
                a.operator_id,
                a.end_user_hash,
                a.outcome,
            )
            .where(a.registration_number == registration_number)
            .order_by(a.received_at.desc(), a.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [AccessRecord(*row) for row in await conn.execute(query)]

    async def recent_dead_letters(self, limit: int) -> list[DeadLetterEntry]:
        d = dead_letters.c
        query = (
            select(d.recorded_at, d.topic, d.partition, d.offset, d.reason, d.detail, d.path)
            .order_by(d.recorded_at.desc(), d.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [DeadLetterEntry(*row) for row in await conn.execute(query)]

    async def requests_per_day(self, start: date, end: date) -> list[DailyRequests]:
        async with self._engine.connect() as conn:
            rows = await daily_counts(conn, start, end)
        return [DailyRequests(*row) for row in rows]
