"""Relays acceptance notices from the store's outbox to the portal's notice topic.

Notices are queued in the same transaction that ingests the registration, so a notice exists
if and only if the registration was stored. The relay publishes and marks them inside one
transaction holding the rows, so replicas never relay the same notice twice. If the process dies
between publishing and marking, the notice is published again with the same notice id header
(consumers deduplicate on it); it is never lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from gateway.domain.letters import AcceptanceNotice
from gateway.services.unit_of_work import UnitOfWork
from producers.kafka_producer import KafkaProducer

log = logging.getLogger(__name__)


class AcceptanceNoticeRelay:
    def __init__(
        self,
        producer: KafkaProducer,
        topic: str,
        uow_factory: Callable[[], UnitOfWork],
        encode: Callable[[AcceptanceNotice], bytes],
        now: Callable[[], datetime],
        *,
        batch: int = 200,
        idle_poll_s: float = 2.0,
    ) -> None:
        self._producer, self._topic = producer, topic
        self._uow_factory, self._encode, self._now = uow_factory, encode, now
        self._batch, self._idle_poll_s = batch, idle_poll_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Called after an ingest queued notices, so they go out without waiting for the poll."""
        self._wake.set()

    async def relay_pending(self) -> int:
        async with self._uow_factory() as uow:
            notices = await uow.notices.pending(self._batch)
            for notice in notices:
                await self._producer.send(
                    self._topic,
                    self._encode(notice),
                    key=notice.registration_number.encode(),
                    headers=[("notice_id", str(notice.notice_id).encode())],
                )
            if notices:
                await uow.notices.mark_published([n.notice_id for n in notices], self._now())
                await uow.commit()
        return len(notices)

    async def run_forever(self) -> None:
        while True:
            try:
                sent = await self.relay_pending()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store or broker is away: try again on the next round
                log.warning("acceptance notice relay failed; will retry", exc_info=True)
                sent = 0
            if sent:
                continue  # more may be waiting
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._idle_poll_s)
            except TimeoutError:
                pass
