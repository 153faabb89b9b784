"""Acceptance notices (regulation 1.2) to the portal's notice topic, relayed from the outbox."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from gateway.domain.letters import AcceptanceNotice
from gateway.services.ports import UnitOfWork
from producers.kafka_producer import Outgoing


class AcceptanceNoticeOutbox:
    name = "acceptance notice"
    id_header = "notice_id"

    def __init__(self, topic: str, encode: Callable[[AcceptanceNotice], bytes]) -> None:
        self._topic, self._encode = topic, encode

    async def pending(self, uow: UnitOfWork, limit: int) -> list[AcceptanceNotice]:
        return await uow.notices.pending(limit)

    async def pending_with_ids(
        self, uow: UnitOfWork, ids: Collection[str]
    ) -> list[AcceptanceNotice]:
        return await uow.notices.pending_with_ids(ids)

    async def mark_published(
        self, uow: UnitOfWork, items: list[AcceptanceNotice], now: datetime
    ) -> None:
        await uow.notices.mark_published([n.notice_id for n in items], now)

    def outgoing(self, notice: AcceptanceNotice) -> Outgoing:
        return Outgoing(
            self._topic,
            notice.registration_number.encode(),
            self._encode(notice),
            [(self.id_header, str(notice.notice_id).encode())],
        )
