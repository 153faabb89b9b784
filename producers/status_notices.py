"""Status-change notices to the portal's notice topic, relayed from their outbox in sequence
order per letter (keyed by registration number: one partition keeps that order)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from gateway.domain.status_notices import StatusChangeNotice
from gateway.services.ports import UnitOfWork
from producers.kafka_producer import Outgoing


class StatusNoticeOutbox:
    name = "status-change notice"
    id_header = "notice_id"

    def __init__(self, topic: str, encode: Callable[[StatusChangeNotice], bytes]) -> None:
        self._topic, self._encode = topic, encode

    async def pending(self, uow: UnitOfWork, limit: int) -> list[StatusChangeNotice]:
        return await uow.status_notices.pending(limit)

    async def pending_with_ids(
        self, uow: UnitOfWork, ids: Collection[str]
    ) -> list[StatusChangeNotice]:
        return await uow.status_notices.pending_with_ids(ids)

    async def mark_published(
        self, uow: UnitOfWork, items: list[StatusChangeNotice], now: datetime
    ) -> None:
        await uow.status_notices.mark_published(items, now)

    def outgoing(self, notice: StatusChangeNotice) -> Outgoing:
        return Outgoing(
            self._topic,
            notice.registration_number.encode(),
            self._encode(notice),
            [(self.id_header, notice.notice_id.encode())],
        )
