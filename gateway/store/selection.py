"""Selecting rows by many keys on either database, and the outboxes of per-letter sequenced
messages (status-change notices to the portal, status-change notifications to partners), whose
queries are the same but for the table and the id."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, RowMapping, Select, Table, and_, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store import postgres

CHUNK = 500  # keeps IN (...) lists and multi-row inserts within every driver's limits


def chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


async def rows_where_in(
    conn: AsyncConnection, query: Select[Any], column: Any, values: Collection[Any]
) -> list[RowMapping]:
    """Rows of `query` whose `column` is one of `values`: on PostgreSQL one statement with an
    array parameter; elsewhere IN lists of bounded length."""
    if not values:
        return []
    if conn.dialect.name == "postgresql":
        result = await conn.execute(query.where(postgres.any_of(column)), {"values": list(values)})
        return list(result.mappings())
    rows: list[RowMapping] = []
    for chunk in chunks(sorted(values)):
        rows.extend((await conn.execute(query.where(column.in_(chunk)))).mappings())
    return rows


async def oldest_unpublished(conn: AsyncConnection, outbox: Table, limit: int) -> list[RowMapping]:
    """The oldest unpublished rows of a sequenced outbox; within what is sent together, a
    letter's changes go out in sequence order."""
    c = outbox.c
    query = (
        select(outbox)
        .where(c.published_at.is_(None))
        .order_by(c.created_at, c.registration_number, c.sequence)
        .limit(limit)
        .with_for_update(skip_locked=True)  # replicas relaying at once take different rows
    )
    rows = list((await conn.execute(query)).mappings())
    return sorted(rows, key=lambda r: (r["registration_number"], r["sequence"]))


async def unpublished_with_ids(
    conn: AsyncConnection, outbox: Table, row_id: Any, ids: Collection[str]
) -> list[RowMapping]:
    """Unpublished rows whose id (`row_id`, the message id as an SQL expression) is in `ids`;
    ids of other outboxes simply match nothing."""
    query = select(outbox).where(outbox.c.published_at.is_(None))
    return await rows_where_in(conn, query, row_id, ids)


async def mark_published(
    conn: AsyncConnection,
    outbox: Table,
    key: Sequence[Column[Any]],
    keys: Collection[tuple[Any, ...]],
    now: datetime,
) -> None:
    if not keys:
        return
    condition = (
        tuple_(*key).in_(list(keys))
        if conn.dialect.name == "postgresql"
        else or_(*(and_(*(c == v for c, v in zip(key, k, strict=True))) for k in keys))
    )
    await conn.execute(update(outbox).where(condition).values(published_at=now))
