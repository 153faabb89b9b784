"""The control report's queries, on SQLite and PostgreSQL alike: requests from their daily
rollup (gateway/store/request_rollup.py), letters from the letters table, counted in SQL.
tests/integration/test_reports.py checks that both databases give the same figures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.domain.request_rollup import percentile_bound
from gateway.store.request_rollup import Histograms, reply_time_histograms, request_counts
from gateway.store.tables import letters

MEDIAN, P95 = 0.5, 0.95


@dataclass(frozen=True)
class RequestCount:
    request_topic: str
    client_id: str
    outcome: str
    count: int


@dataclass(frozen=True)
class ReplyTiming:
    """Reply times (replied_at - received_at, seconds) of the requests that got a reply: the
    median and 95th percentile as upper bounds from the rollup's histogram (within 5% or 1 ms,
    gateway/domain/request_rollup.py)."""

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


async def request_figures(engine: AsyncEngine, start: date, end: date) -> RequestFigures:
    """Requests received on the days [start, end): counts, and reply times of those that got
    a reply."""
    async with engine.connect() as conn:
        counts = [RequestCount(*row) for row in await request_counts(conn, start, end)]
        histograms = await reply_time_histograms(conn, start, end)
    return RequestFigures(counts, reply_timings(histograms))


def reply_timings(histograms: Histograms) -> list[ReplyTiming]:
    """All topics together (always, if only to say 0), then each topic that had replies."""
    everything: Counter[int] = Counter()
    for histogram in histograms.values():
        everything.update(histogram)
    return [_timing(None, everything)] + [_timing(t, h) for t, h in histograms.items()]


def _timing(topic: str | None, histogram: Counter[int]) -> ReplyTiming:
    return ReplyTiming(
        topic,
        histogram.total(),
        percentile_bound(histogram, MEDIAN),
        percentile_bound(histogram, P95),
    )


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
