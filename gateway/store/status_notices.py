"""The status-change notice outbox (SQL side of services.ports.StatusNoticeOutbox)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import RowMapping, String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.letters import Department, Status
from gateway.domain.status_notices import NoticeExtension, StatusChangeNotice
from gateway.store.dialects import INSERT
from gateway.store.selection import mark_published, oldest_unpublished, unpublished_with_ids
from gateway.store.tables import status_notices


class SqlStatusNoticeOutbox:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

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
        insert = INSERT[self._conn.dialect.name]
        await self._conn.execute(insert(status_notices).on_conflict_do_nothing(), rows)

    async def pending(self, limit: int) -> list[StatusChangeNotice]:
        return [_notice(r) for r in await oldest_unpublished(self._conn, status_notices, limit)]

    async def pending_with_ids(self, notice_ids: Collection[str]) -> list[StatusChangeNotice]:
        t = status_notices
        notice_id = t.c.registration_number + "/" + cast(t.c.sequence, String)  # .notice_id
        rows = await unpublished_with_ids(self._conn, t, notice_id, notice_ids)
        return [_notice(r) for r in rows]

    async def mark_published(self, notices: Collection[StatusChangeNotice], now: datetime) -> None:
        t = status_notices
        keys = {(n.registration_number, n.sequence) for n in notices}
        await mark_published(self._conn, t, (t.c.registration_number, t.c.sequence), keys, now)


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
