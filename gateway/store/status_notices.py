"""The status-change notice outbox (SQL side of services.ports.StatusNoticeOutbox)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import RowMapping, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.letters import Department, Status
from gateway.domain.status_notices import NoticeExtension, StatusChangeNotice
from gateway.store.tables import status_notices


class SqlStatusNoticeOutbox:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection
        self._postgres = connection.dialect.name == "postgresql"

    async def last_noticed(self, numbers: Collection[str]) -> dict[str, int]:
        if not numbers:
            return {}
        t = status_notices
        query = (
            select(t.c.registration_number, func.max(t.c.sequence))
            .where(t.c.registration_number.in_(sorted(numbers)))
            .group_by(t.c.registration_number)
        )
        return {number: int(sequence) for number, sequence in await self._conn.execute(query)}

    async def add(self, notices: Collection[StatusChangeNotice], now: datetime) -> None:
        if not notices:
            return
        rows = [
            {
                "registration_number": n.registration_number,
                "sequence": n.sequence,
                "status": n.status.value,
                "at": n.at,
                "department_code": n.department.code if n.department else None,
                "department_name": n.department.name if n.department else None,
                "executor_name": n.executor_name,
                "executor_phone": n.executor_phone,
                "answer_date": n.answer_date,
                "created_at": now,
                **_extension_columns(n.extension),
            }
            for n in notices
        ]
        insert = postgresql.insert if self._postgres else sqlite.insert
        await self._conn.execute(insert(status_notices).on_conflict_do_nothing(), rows)

    async def pending(self, limit: int) -> list[StatusChangeNotice]:
        t = status_notices
        query = (
            select(t)
            .where(t.c.published_at.is_(None))
            .order_by(t.c.created_at, t.c.registration_number, t.c.sequence)
            .limit(limit)
            .with_for_update(skip_locked=True)  # replicas relaying at once take different rows
        )
        found = [_notice(r) for r in (await self._conn.execute(query)).mappings()]
        # Within what is sent together, a letter's changes go out in sequence order.
        return sorted(found, key=lambda n: (n.registration_number, n.sequence))

    async def pending_with_ids(self, notice_ids: Collection[str]) -> list[StatusChangeNotice]:
        keys = [_key(i) for i in notice_ids]
        wanted = [(number, sequence) for number, sequence in keys if sequence is not None]
        if not wanted:
            return []
        t = status_notices
        query = select(t).where(
            t.c.published_at.is_(None),
            or_(*(and_(t.c.registration_number == n, t.c.sequence == q) for n, q in wanted)),
        )
        return [_notice(r) for r in (await self._conn.execute(query)).mappings()]

    async def mark_published(self, notices: Collection[StatusChangeNotice], now: datetime) -> None:
        if not notices:
            return
        t = status_notices
        condition = or_(
            *(
                and_(t.c.registration_number == n.registration_number, t.c.sequence == n.sequence)
                for n in notices
            )
        )
        await self._conn.execute(update(t).where(condition).values(published_at=now))


def _key(notice_id: str) -> tuple[str, int | None]:
    """`NUMBER/SEQUENCE` (StatusChangeNotice.notice_id); another relay's id gives no sequence."""
    number, _, sequence = notice_id.rpartition("/")
    return number, int(sequence) if sequence.isdigit() else None


def _notice(r: RowMapping) -> StatusChangeNotice:
    return StatusChangeNotice(
        r["registration_number"],
        r["sequence"],
        Status(r["status"]),
        r["at"],
        Department(r["department_code"], r["department_name"])
        if r["department_code"] is not None
        else None,
        r["executor_name"],
        r["executor_phone"],
        r["answer_date"],
        NoticeExtension(
            r["extension_due_date"],
            r["extension_days"],
            r["extension_reason"],
            r["extension_provisional"],
        )
        if r["extension_due_date"] is not None
        else None,
    )


def _extension_columns(e: NoticeExtension | None) -> dict[str, object]:
    return {
        "extension_due_date": e.due_date if e else None,
        "extension_days": e.working_days if e else None,
        "extension_reason": e.reason if e else None,
        "extension_provisional": e.provisional if e else None,
    }
