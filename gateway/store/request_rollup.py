"""The requests' rollup by day (request_days, reply_time_days), and reads that add to it the
audit rows it has not reached yet, so a figure is exact whatever the rollup's position.

A read takes the position, reads the rollup and the rows after the position, then takes the
position again: if the rollup moved meanwhile (it moves the position in the transaction that
adds to it), the read is repeated, so a request is never counted twice nor missed. The
position goes into the SQL as a literal: PostgreSQL then plans "the rows after it" as the
short range of the primary key it is, not as a third of the table.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Table,
    and_,
    bindparam,
    func,
    literal,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from gateway.domain.request_rollup import AuditedRequest, RequestTally, bucket_of
from gateway.store.dialects import INSERT, utc_day
from gateway.store.selection import chunks
from gateway.store.tables import (
    reply_time_days,
    request_audit,
    request_days,
    request_rollup_position,
)

Counts = list[tuple[str, str, str, int]]  # (request topic, client, outcome, requests)
DailyCounts = list[tuple[date, str, str, int]]  # (UTC day, request topic, outcome, requests)
Histograms = dict[str, Counter[int]]  # request topic -> bucket edge (ms) -> replies
T = TypeVar("T")
_ATTEMPTS = 20  # the rollup commits a batch every few seconds at most: one or two suffice


class SqlRequestRollup:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def claim(self) -> int | None:
        position = request_rollup_position
        return await self._conn.scalar(  # SQLite has one writer at a time and ignores this
            select(position.c.through_id).with_for_update(skip_locked=True)
        )

    async def audited(self, after_id: int, last_id: int, limit: int) -> list[AuditedRequest]:
        a = request_audit.c
        rows = await self._conn.execute(
            select(
                a.id,
                a.request_topic,
                a.client_id,
                a.outcome,
                a.received_at,
                a.replied_at,
                a.reply_hash.is_not(None),
            )
            .where(a.id > after_id, a.id <= last_id)
            .order_by(a.id)
            .limit(limit)
        )
        return [AuditedRequest(*row) for row in rows]

    async def add(self, tally: RequestTally, through_id: int) -> None:
        requests = [
            {"day": d, "request_topic": t, "client_id": c, "outcome": o, "requests": n}
            for (d, t, c, o), n in tally.requests.items()
        ]
        replies = [
            {"day": d, "request_topic": t, "upper_ms": edge, "replies": n}
            for (d, t, edge), n in tally.reply_times.items()
        ]
        await self._add_to(request_days, "requests", requests)
        await self._add_to(reply_time_days, "replies", replies)
        await self._conn.execute(update(request_rollup_position).values(through_id=through_id))

    async def _add_to(self, table: Table, count: str, rows: list[dict[str, Any]]) -> None:
        insert = INSERT[self._conn.dialect.name]
        for chunk in chunks(rows):
            statement = insert(table).values(chunk)
            await self._conn.execute(
                statement.on_conflict_do_update(
                    index_elements=list(table.primary_key.columns),
                    set_={count: table.c[count] + statement.excluded[count]},
                )
            )


# ---- reads: the rollup's days plus the audit rows after its position ----------------------


def _unrolled(position: int, start: date, end: date) -> ColumnElement[bool]:
    """Audit rows received in [start, end) that the rollup had not counted at `position`."""
    a = request_audit.c
    return and_(
        a.id > bindparam("position", position, literal_execute=True),
        a.received_at >= _midnight(start),
        a.received_at < _midnight(end),
    )


async def _position(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(request_rollup_position.c.through_id)) or 0)


async def _consistent(conn: AsyncConnection, read: Callable[[int], Awaitable[T]]) -> T:
    """`read(position)`, repeated until the position is the same after as before it."""
    for _ in range(_ATTEMPTS):
        position = await _position(conn)
        result = await read(position)
        if await _position(conn) == position:
            return result
    raise RuntimeError(f"the requests' rollup moved during {_ATTEMPTS} reads in a row")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _days(table: Table, start: date, end: date) -> ColumnElement[bool]:
    return and_(table.c.day >= start, table.c.day < end)


async def request_counts(conn: AsyncConnection, start: date, end: date) -> Counts:
    """Requests received on the days [start, end), by topic, client and outcome."""
    return await _consistent(conn, lambda position: _request_counts(conn, position, start, end))


async def _request_counts(conn: AsyncConnection, position: int, start: date, end: date) -> Counts:
    d, a = request_days.c, request_audit.c
    both = union_all(
        select(d.request_topic, d.client_id, d.outcome, d.requests.label("n")).where(
            _days(request_days, start, end)
        ),
        select(a.request_topic, a.client_id, a.outcome, literal(1, BigInteger)).where(
            _unrolled(position, start, end)
        ),
    ).subquery()
    keys = (both.c.request_topic, both.c.client_id, both.c.outcome)
    rows = await conn.execute(select(*keys, func.sum(both.c.n)).group_by(*keys))
    return [(topic, client, outcome, int(n)) for topic, client, outcome, n in rows]


async def daily_counts(conn: AsyncConnection, start: date, end: date) -> DailyCounts:
    """Requests received on each day of [start, end), by topic and outcome."""
    return await _consistent(conn, lambda position: _daily_counts(conn, position, start, end))


async def _daily_counts(
    conn: AsyncConnection, position: int, start: date, end: date
) -> DailyCounts:
    d, a = request_days.c, request_audit.c
    day = utc_day(conn.dialect.name, a.received_at)
    both = union_all(
        select(d.day, d.request_topic, d.outcome, d.requests.label("n")).where(
            _days(request_days, start, end)
        ),
        select(day, a.request_topic, a.outcome, literal(1, BigInteger)).where(
            _unrolled(position, start, end)
        ),
    ).subquery()
    keys = (both.c.day, both.c.request_topic, both.c.outcome)
    rows = await conn.execute(select(*keys, func.sum(both.c.n)).group_by(*keys).order_by(*keys))
    return [(_as_date(day), topic, outcome, int(n)) for day, topic, outcome, n in rows]


async def reply_time_histograms(conn: AsyncConnection, start: date, end: date) -> Histograms:
    """Reply times of the requests received on the days [start, end) that got a reply, by
    topic; the rows not rolled up yet are put in their buckets here, as the rollup would."""
    return await _consistent(conn, lambda position: _histograms(conn, position, start, end))


async def _histograms(conn: AsyncConnection, position: int, start: date, end: date) -> Histograms:
    r, a = reply_time_days.c, request_audit.c
    rolled = (
        select(r.request_topic, r.upper_ms, func.sum(r.replies).label("replies"))
        .where(_days(reply_time_days, start, end))
        .group_by(r.request_topic, r.upper_ms)
        .subquery()
    )
    both = union_all(  # the audit rows first: their columns type the union's
        select(
            a.request_topic,
            a.received_at,
            a.replied_at,
            null().cast(BigInteger).label("upper_ms"),
            null().cast(BigInteger).label("replies"),
        ).where(_unrolled(position, start, end), a.reply_hash.is_not(None)),
        select(rolled.c.request_topic, null(), null(), rolled.c.upper_ms, rolled.c.replies),
    )
    histograms: Histograms = defaultdict(Counter)
    for topic, received, replied, edge, replies in await conn.execute(both):
        if edge is None:
            histograms[topic][bucket_of(replied - received)] += 1
        else:
            histograms[topic][int(edge)] += int(replies)
    return histograms


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
