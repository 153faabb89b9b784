"""The sealed audit log's tables (SQL side of services.ports.AuditLedger)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from typing import cast

from sqlalchemy import RowMapping, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.audit_chain import BlockHead
from gateway.services.ports import AuditRow, UnsealedRows
from gateway.store.tables import audit_blocks, audit_seals, request_audit

# PostgreSQL advisory lock keys (any constants, distinct from store.migrate's).
# Journal writes hold BARRIER shared while they insert; the sealer takes it exclusively for an
# instant, after which every row id at or below the highest one it sees has committed.
JOURNAL_BARRIER_KEY = 0x6175_6469
SEALER_KEY = 0x7365_616C  # held by the one replica sealing, for its sealing transaction


def _head(row: RowMapping) -> BlockHead:
    return BlockHead(
        row["number"],
        row["after_row_id"],
        row["last_row_id"],
        row["row_count"],
        row["rows_root"],
        row["previous_hash"],
        row["sealed_at"],
        row["block_hash"],
    )


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


class SqlAuditLedger:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection
        self._postgres = connection.dialect.name == "postgresql"

    async def settled_row_id(self) -> int:
        if self._postgres:  # SQLite has one writer, and a new row's id is above every other
            await self._conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": JOURNAL_BARRIER_KEY}
            )
        highest = await self._conn.scalar(select(func.max(request_audit.c.id)))
        return int(highest or 0)

    async def claim_sealer(self) -> bool:
        if not self._postgres:
            return True  # one writer at a time; a second sealer's block number would collide
        claimed = await self._conn.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SEALER_KEY}
        )
        return bool(claimed)

    async def last_block(self) -> BlockHead | None:
        query = select(audit_blocks).order_by(audit_blocks.c.number.desc()).limit(1)
        row = (await self._conn.execute(query)).mappings().first()
        return _head(row) if row else None

    async def block(self, number: int) -> BlockHead | None:
        query = select(audit_blocks).where(audit_blocks.c.number == number)
        row = (await self._conn.execute(query)).mappings().first()
        return _head(row) if row else None

    async def blocks(self, first_day: date | None, last_day: date | None) -> list[BlockHead]:
        t = audit_blocks
        query = select(t).order_by(t.c.number)
        if first_day is not None:
            query = query.where(t.c.sealed_at >= _start_of(first_day))
        if last_day is not None:
            query = query.where(t.c.sealed_at < _start_of(last_day + timedelta(days=1)))
        return [_head(r) for r in (await self._conn.execute(query)).mappings()]

    async def rows(
        self, after_id: int, last_id: int | None, limit: int | None
    ) -> Sequence[AuditRow]:
        t = request_audit
        query = select(t).where(t.c.id > after_id).order_by(t.c.id).limit(limit)
        if last_id is not None:
            query = query.where(t.c.id <= last_id)
        rows = (await self._conn.execute(query)).mappings().all()
        return cast(Sequence[AuditRow], rows)  # RowMapping is keyed by Any; these are column names

    async def add_block(self, head: BlockHead, seals: Sequence[tuple[int, str]]) -> None:
        await self._conn.execute(insert(audit_blocks).values(**asdict(head)))
        await self._conn.execute(
            insert(audit_seals),
            [{"row_id": i, "block_number": head.number, "row_hash": h} for i, h in seals],
        )

    async def seals(self, block_number: int) -> dict[int, str]:
        t = audit_seals
        query = select(t.c.row_id, t.c.row_hash).where(t.c.block_number == block_number)
        return {r.row_id: r.row_hash for r in await self._conn.execute(query)}

    async def unsealed(self, after_id: int) -> UnsealedRows:
        t = request_audit
        query = select(func.count(), func.min(t.c.received_at)).where(t.c.id > after_id)
        count, oldest = (await self._conn.execute(query)).one()
        if oldest is not None and oldest.tzinfo is None:  # SQLite drops the zone in min()
            oldest = datetime.fromisoformat(str(oldest)).replace(tzinfo=UTC)
        return UnsealedRows(int(count), oldest)

    async def unwitnessed(self, limit: int) -> list[BlockHead]:
        t = audit_blocks
        query = (
            select(t)
            .where(t.c.witnessed_at.is_(None))
            .order_by(t.c.number)
            .limit(limit)
            .with_for_update(skip_locked=True)  # replicas relaying at once take different rows
        )
        return [_head(r) for r in (await self._conn.execute(query)).mappings()]

    async def unwitnessed_among(self, numbers: Collection[int]) -> list[BlockHead]:
        t = audit_blocks
        query = (
            select(t)
            .where(t.c.witnessed_at.is_(None), t.c.number.in_(list(numbers)))
            .order_by(t.c.number)
        )
        return [_head(r) for r in (await self._conn.execute(query)).mappings()]

    async def mark_witnessed(self, numbers: Collection[int], now: datetime) -> None:
        t = audit_blocks
        await self._conn.execute(
            update(t).where(t.c.number.in_(list(numbers))).values(witnessed_at=now)
        )
