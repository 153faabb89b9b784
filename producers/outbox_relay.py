"""Relays queued messages from an outbox table in the store to Kafka.

Messages are queued in the same transaction as the change they announce, so one exists if and
only if the change was stored. The relay publishes a batch and marks it inside one transaction
that holds the rows (FOR UPDATE SKIP LOCKED on PostgreSQL), so replicas never relay the same
row twice. If the process dies between publishing and marking, the batch is published again
with the same id header, for the consumer to deduplicate: nothing is ever lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Tracer

from gateway.services.ports import UnitOfWork
from gateway.telemetry.metrics import Metrics
from producers.kafka_producer import KafkaProducer, Outgoing

log = logging.getLogger(__name__)
T = TypeVar("T")


class Outbox(Protocol[T]):
    name: str

    async def pending(self, uow: UnitOfWork, limit: int) -> list[T]: ...
    async def mark_published(self, uow: UnitOfWork, items: list[T], now: datetime) -> None: ...
    def outgoing(self, item: T) -> Outgoing: ...


class OutboxRelay(Generic[T]):
    def __init__(
        self,
        producer: KafkaProducer,
        outbox: Outbox[T],
        uow_factory: Callable[[], UnitOfWork],
        now: Callable[[], datetime],
        *,
        batch: int = 200,
        idle_poll_s: float = 2.0,
        metrics: Metrics | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._producer, self._outbox = producer, outbox
        self._uow_factory, self._now = uow_factory, now
        self._batch, self._idle_poll_s = batch, idle_poll_s
        self._wake = asyncio.Event()
        self._metrics, self._tracer = metrics, tracer or trace.NoOpTracer()

    def wake(self) -> None:
        """Called after an ingest queued messages, so they go out without waiting for the poll."""
        self._wake.set()

    async def relay_pending(self) -> int:
        name = self._outbox.name
        async with self._uow_factory() as uow:
            items = await self._outbox.pending(uow, self._batch)
            if self._metrics is not None:
                self._metrics.outbox_pending.labels(name).set(len(items))
            if not items:
                return 0
            with self._tracer.start_as_current_span(
                f"{name} relay", attributes={"messaging.batch.message_count": len(items)}
            ):
                # In order: per key, Kafka keeps the order of these sends.
                await self._producer.send_all([self._outbox.outgoing(item) for item in items])
                await self._outbox.mark_published(uow, items, self._now())
                await uow.commit()
        if self._metrics is not None:
            self._metrics.outbox_published.labels(name).inc(len(items))
        return len(items)

    async def run_forever(self) -> None:
        while True:
            try:
                sent = await self.relay_pending()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store or broker is away: try again on the next round
                log.warning("%s relay failed; will retry", self._outbox.name, exc_info=True)
                sent = 0
            if sent:
                continue  # more may be waiting
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._idle_poll_s)
            except TimeoutError:
                pass
