"""The control report's queries (request_audit and letters), on SQLite and PostgreSQL alike.

Aggregation that both dialects do the same way happens in SQL; the reply-time percentiles are
computed by the caller from the durations, because SQLite has no percentile function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.domain.letters import Status
from gateway.store.tables import letters, request_audit

# Letters in these statuses are done: they are never overdue.
FINISHED = (Status.ANSWERED.value, Status.CLOSED.value)


@dataclass(frozen=True)
class RequestCount:
    request_topic: str
    client_id: str
    outcome: str
    count: int


@dataclass(frozen=True)
class ReplyTime:
    request_topic: str
    seconds: float


@dataclass(frozen=True)
class LetterCount:
    key: str | None  # a status, or a department code
    name: str | None  # the department's name (None for statuses)
    count: int


@dataclass(frozen=True)
class OverdueLetter:
    registration_number: str
    department_code: str | None
    department_name: str | None
    due_date: date
    status: str | None


@dataclass(frozen=True)
class ReportData:
    requests: list[RequestCount]
    reply_times: list[ReplyTime]
    letters_by_status: list[LetterCount]
    letters_by_department: list[LetterCount]
    overdue: list[OverdueLetter]


async def report_data(
    engine: AsyncEngine,
    start: datetime,
    end: datetime,
    start_day: date,
    end_day: date,
    as_of: date,
) -> ReportData:
    """Requests received in [start, end); letters registered in [start_day, end_day); letters
    overdue on `as_of` (due date before it, not answered or closed, registered before end_day).
    """
    audit_in_period = and_(request_audit.c.received_at >= start, request_audit.c.received_at < end)
    registered_in_period = and_(
        letters.c.registration_date >= start_day, letters.c.registration_date < end_day
    )
    async with engine.connect() as conn:
        request_rows = await conn.execute(
            select(
                request_audit.c.request_topic,
                request_audit.c.client_id,
                request_audit.c.outcome,
                func.count(),
            )
            .where(audit_in_period)
            .group_by(
                request_audit.c.request_topic, request_audit.c.client_id, request_audit.c.outcome
            )
        )
        requests = [RequestCount(t, c, o, int(n)) for t, c, o, n in request_rows]

        # Only requests that got a reply (reply_hash set) have a reply time.
        time_rows = await conn.execute(
            select(
                request_audit.c.request_topic,
                request_audit.c.received_at,
                request_audit.c.replied_at,
            ).where(audit_in_period, request_audit.c.reply_hash.is_not(None))
        )
        reply_times = [
            ReplyTime(topic, (replied - received).total_seconds())
            for topic, received, replied in time_rows
        ]

        by_status = await conn.execute(
            select(letters.c.status, func.count())
            .where(registered_in_period)
            .group_by(letters.c.status)
        )
        letters_by_status = [LetterCount(s, None, int(n)) for s, n in by_status]

        by_department = await conn.execute(
            select(letters.c.department_code, letters.c.department_name, func.count())
            .where(registered_in_period)
            .group_by(letters.c.department_code, letters.c.department_name)
        )
        letters_by_department = [LetterCount(c, d, int(n)) for c, d, n in by_department]

        overdue_rows = await conn.execute(
            select(
                letters.c.registration_number,
                letters.c.department_code,
                letters.c.department_name,
                letters.c.due_date,
                letters.c.status,
            )
            .where(
                letters.c.due_date < as_of,
                letters.c.registration_date < end_day,
                letters.c.status.is_(None) | letters.c.status.not_in(FINISHED),
            )
            .order_by(letters.c.due_date, letters.c.registration_number)
        )
        overdue = [OverdueLetter(*row) for row in overdue_rows]
    return ReportData(requests, reply_times, letters_by_status, letters_by_department, overdue)
