"""Relays queued messages from an outbox table in the store to Kafka, effectively once.

Messages are queued in the same transaction as the change they announce, so one exists if and
only if the change was stored. Every kind of outbox (acceptance notices, partner notifications,
...) goes through this one relay; an outbox says which header carries a message's id.

One relay per outbox at a time, across replicas (RelayPositions.claim). In one transaction it
takes a batch of pending messages, then compares the end of each output partition with where
it knows it has written (RelayPositions.written). Records beyond that were published by a relay
that died (or failed) before marking them: it reads them back, marks the pending messages whose
id it finds as published, publishes only the others (an idempotent producer, so no duplicates
within a run), marks them and advances its positions, and commits. A crash anywhere before the
commit leaves the positions behind the records it wrote, so the next relay reads them back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Tracer

from gateway.services.ports import TopicPartition, UnitOfWork
from gateway.telemetry.metrics import Metrics
from producers.kafka_producer import KafkaProducer, Outgoing
from producers.topic_tail import TopicTail

log = logging.getLogger(__name__)
T = TypeVar("T")


class Outbox(Protocol[T]):
    name: str  # also the relay's key in the store's relay positions
    id_header: str  # the header of `outgoing(item)` that carries the message's unique id

    async def pending(self, uow: UnitOfWork, limit: int) -> list[T]: ...
    async def pending_with_ids(self, uow: UnitOfWork, ids: Collection[str]) -> list[T]: ...
    async def mark_published(self, uow: UnitOfWork, items: list[T], now: datetime) -> None: ...
    def outgoing(self, item: T) -> Outgoing: ...


def _no_hook() -> None:
    pass


class OutboxRelay(Generic[T]):
    def __init__(
        self,
        producer: KafkaProducer,
        tail: TopicTail,
        outbox: Outbox[T],
        uow_factory: Callable[[], UnitOfWork],
        now: Callable[[], datetime],
        *,
        batch: int = 200,
        idle_poll_s: float = 2.0,
        after_publish: Callable[[], None] = _no_hook,  # fault injection in tests only
        metrics: Metrics | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._producer, self._tail, self._outbox = producer, tail, outbox
        self._uow_factory, self._now = uow_factory, now
        self._batch, self._idle_poll_s = batch, idle_poll_s
        self._after_publish = after_publish
        self._wake = asyncio.Event()
        self._metrics, self._tracer = metrics, tracer or trace.NoOpTracer()

    def wake(self) -> None:
        """Called after an ingest queued messages, so they go out without waiting for the poll."""
        self._wake.set()

    def _id(self, message: Outgoing) -> str:
        return next(v.decode() for k, v in message.headers if k == self._outbox.id_header)

    async def relay_pending(self) -> int:
        """Relays one batch; returns how many pending messages it settled."""
        name = self._outbox.name
        async with self._uow_factory() as uow:
            if not await uow.relay_positions.claim(name):
                return 0  # another replica is relaying this outbox right now
            items = await self._outbox.pending(uow, self._batch)
            if self._metrics is not None:
                self._metrics.outbox_pending.labels(name).set(len(items))
            if not items:
                return 0
            with self._tracer.start_as_current_span(
                f"{name} relay", attributes={"messaging.batch.message_count": len(items)}
            ):
                messages = [self._outbox.outgoing(item) for item in items]
                known = await uow.relay_positions.written(name)
                ends = await self._ends({m.topic for m in messages})
                there = await self._already_there(known, ends)
                # Every pending message found there is marked now, in this batch or not: the
                # positions move past those records, so they are never read back again.
                found = await self._outbox.pending_with_ids(uow, there) if there else []
                # In order: per key, Kafka keeps the order of these sends.
                rest = [m for m in messages if self._id(m) not in there]
                written = await self._producer.send_all(rest)
                if rest:
                    self._after_publish()
                await self._outbox.mark_published(uow, [*items, *found], self._now())
                positions = dict(ends)
                for w in written:
                    tp = (w.topic, w.partition)
                    positions[tp] = max(positions.get(tp, 0), w.offset + 1)
                await uow.relay_positions.advance(name, positions)
                await uow.commit()
        if self._metrics is not None:
            self._metrics.outbox_published.labels(name).inc(len(rest))
        if found:
            log.info(
                "%s relay: %d pending were already on the topic; marked, not re-sent",
                name,
                len(found),
            )
        return len(items)

    async def _ends(self, topics: set[str]) -> dict[TopicPartition, int]:
        partitions = [
            (t, p) for t in sorted(topics) for p in await self._producer.partitions_for(t)
        ]
        return await self._tail.end_offsets(partitions)

    async def _already_there(
        self, known: dict[TopicPartition, int], ends: dict[TopicPartition, int]
    ) -> set[str]:
        """Ids on records past where this relay knows it has written (none, normally)."""
        unknown = {
            tp: (known.get(tp, 0), end) for tp, end in ends.items() if end > known.get(tp, 0)
        }
        if not unknown:
            return set()
        return await self._tail.header_values(unknown, self._outbox.id_header)

    async def run_forever(self) -> None:
        try:
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
        finally:
            await self._tail.stop()
