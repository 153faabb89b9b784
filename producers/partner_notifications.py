"""Status-change notifications to each partner's notification topic, relayed from the outbox
in order per letter (keyed by registration number)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime

from gateway.domain.partners import Partner, StatusChangeNotification
from gateway.services.ports import UnitOfWork
from producers.kafka_producer import Outgoing


class PartnerNotificationOutbox:
    name = "partner notification"
    id_header = "notification_id"

    def __init__(
        self,
        partners: Mapping[str, Partner],  # by code
        encode: Callable[[StatusChangeNotification], bytes],
    ) -> None:
        self._partners, self._encode = partners, encode

    async def pending(self, uow: UnitOfWork, limit: int) -> list[StatusChangeNotification]:
        return await uow.partners.pending_notifications(limit)

    async def pending_with_ids(
        self, uow: UnitOfWork, ids: Collection[str]
    ) -> list[StatusChangeNotification]:
        return await uow.partners.pending_notifications_with_ids(ids)

    async def mark_published(
        self, uow: UnitOfWork, items: list[StatusChangeNotification], now: datetime
    ) -> None:
        await uow.partners.mark_notified(items, now)

    def outgoing(self, notification: StatusChangeNotification) -> Outgoing:
        return Outgoing(
            self._partners[notification.partner_code].notification_topic,
            notification.registration_number.encode(),
            self._encode(notification),
            [(self.id_header, notification.notification_id.encode())],
        )
