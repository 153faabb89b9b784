"""The control report's queries (request_audit and letters), on SQLite and PostgreSQL.

Counts and groupings happen in SQL on both. The reply-time median and 95th percentile are
PostgreSQL's percentile_cont in SQL; SQLite has no percentile function, so there (the embedded,
single-replica store) the reply times are read and `percentile_cont` below computes the same
figure in Python. tests/integration/test_reports.py checks that both give the same figures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Float, and_, cast, extract, func, select
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from gateway.domain.letters import Status
from gateway.store.tables import letters, request_audit

# Letters in these statuses are done.
FINISHED = (Status.ANSWERED.value, Status.CLOSED.value)
MEDIAN, P95 = 0.5, 0.95


@dataclass(frozen=True)
class RequestCount:
    request_topic: str
    client_id: str
    outcome: str
    count: int


@dataclass(frozen=True)
class ReplyTiming:
    """Reply times (replied_at - received_at, seconds) of the requests that got a reply."""

    request_topic: str | None  # None: all topics together
    count: int
    median_s: float | None
    p95_s: float | None


@dataclass(frozen=True)
class LetterCount:
    key: str | None  # a status, or a department code
    name: str | None  # the department's name (None for statuses)
    count: int


@dataclass(frozen=True)
class RequestFigures:
    counts: list[RequestCount]
    reply_timings: list[ReplyTiming]


@dataclass(frozen=True)
class LetterFigures:
    by_status: list[LetterCount]
    by_department: list[LetterCount]


def percentile_cont(values: Sequence[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks, with the
    same arithmetic (lo + (hi - lo) * (rank - floor(rank))), so the figures are identical."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


async def request_figures(engine: AsyncEngine, start: datetime, end: datetime) -> RequestFigures:
    """Requests received in [start, end): counts, and reply times of those that got a reply."""
    audit_in_period = and_(request_audit.c.received_at >= start, request_audit.c.received_at < end)
    async with engine.connect() as conn:
        rows = await conn.execute(
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
        counts = [RequestCount(t, c, o, int(n)) for t, c, o, n in rows]
        # Only requests that got a reply (reply_hash set) have a reply time.
        replied = and_(audit_in_period, request_audit.c.reply_hash.is_not(None))
        if conn.dialect.name == "postgresql":
            timings = await _reply_timings_in_sql(conn, replied)
        else:
            timings = await _reply_timings_read(conn, replied)
    return RequestFigures(counts, timings)


async def letter_figures(engine: AsyncEngine, start_day: date, end_day: date) -> LetterFigures:
    """Letters registered in [start_day, end_day), by current status and by department."""
    registered_in_period = and_(
        letters.c.registration_date >= start_day, letters.c.registration_date < end_day
    )
    async with engine.connect() as conn:
        by_status = await conn.execute(
            select(letters.c.status, func.count())
            .where(registered_in_period)
            .group_by(letters.c.status)
        )
        by_department = await conn.execute(
            select(letters.c.department_code, letters.c.department_name, func.count())
            .where(registered_in_period)
            .group_by(letters.c.department_code, letters.c.department_name)
        )
        return LetterFigures(
            [LetterCount(s, None, int(n)) for s, n in by_status],
            [LetterCount(c, d, int(n)) for c, d, n in by_department],
        )


async def _reply_timings_in_sql(
    conn: AsyncConnection, replied: ColumnElement[bool]
) -> list[ReplyTiming]:
    """PostgreSQL: per topic and, by ROLLUP, for all topics; one sort serves both fractions.
    The seconds are exact (EXTRACT gives a numeric) before they become floats, as in Python."""
    topic = request_audit.c.request_topic
    seconds = cast(
        extract("epoch", request_audit.c.replied_at - request_audit.c.received_at), Float
    )
    rows = await conn.execute(
        select(
            func.grouping(topic),
            topic,
            func.count(),
            func.percentile_cont(array([MEDIAN, P95])).within_group(seconds),
        )
        .where(replied)
        .group_by(func.rollup(topic))
    )
    return [
        ReplyTiming(None if rolled_up else name, int(n), *(fractions or (None, None)))
        for rolled_up, name, n, fractions in rows
    ]


async def _reply_timings_read(
    conn: AsyncConnection, replied: ColumnElement[bool]
) -> list[ReplyTiming]:
    """SQLite: every reply time of the period read, the percentiles computed here."""
    rows = await conn.execute(
        select(
            request_audit.c.request_topic, request_audit.c.received_at, request_audit.c.replied_at
        ).where(replied)
    )
    by_topic: dict[str | None, list[float]] = defaultdict(list)
    for topic, received, replied_at in rows:
        seconds = (replied_at - received).total_seconds()
        by_topic[topic].append(seconds)
        by_topic[None].append(seconds)
    by_topic.setdefault(None, [])  # no replies: the "all" row still says 0
    return [
        ReplyTiming(
            topic, len(values), percentile_cont(values, MEDIAN), percentile_cont(values, P95)
        )
        for topic, values in by_topic.items()
    ]
