"""Entry point for DMS events: decode each record, dead-letter the poison ones, store the rest,
and only then commit the offsets.

On PostgreSQL a batch is stored per partition number, the partitions' transactions running
at once: while one waits on the database, the event loop decodes and folds another. The DMS
keys both topics by registration number, so one letter's events share a partition number
and never meet in two of these transactions; if they did (topics with different partition
counts), the store's merge would still lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from aiokafka.structs import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from consumers.raw import the_message
from gateway.domain.letters import DmsEvent
from gateway.metrics import Metrics
from gateway.services.ingest import IngestResult
from gateway.xmlcodec.errors import DecodeError
from producers.dead_letters import DeadLetterPublisher

log = logging.getLogger(__name__)
REDELIVERY_DELAY_S = 1.0


class DmsDecoder(Protocol):
    def decode(self, raw: bytes) -> DmsEvent: ...


class DmsEventIngestion:
    def __init__(
        self,
        decoder: DmsDecoder,
        store: Callable[[Sequence[DmsEvent]], Awaitable[IngestResult]],
        dead_letters: DeadLetterPublisher,
        *,
        by_partition: bool,
        metrics: Metrics | None = None,
    ) -> None:
        """`store` retries until the events are durable; it returns only then. SQLite has one
        writer: `by_partition` off, a batch is one transaction."""
        self._decoder, self._store, self._dead_letters = decoder, store, dead_letters
        self._by_partition, self._metrics = by_partition, metrics

    async def process(self, records: Sequence[ConsumerRecord]) -> IngestResult:
        if not self._by_partition:
            return await self._process_group(records)
        groups: dict[int, list[ConsumerRecord]] = {}
        for record in records:
            groups.setdefault(record.partition, []).append(record)
        total = IngestResult(applied=0, duplicates=0, notices_queued=0)
        for result in await asyncio.gather(*map(self._process_group, groups.values())):
            total += result
        return total

    async def _process_group(self, records: Sequence[ConsumerRecord]) -> IngestResult:
        events: list[DmsEvent] = []
        for record in records:
            try:
                events.append(self._decoder.decode(record.value or b""))
            except DecodeError as error:
                log.warning(
                    "dead-lettering %s[%d]@%d: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    error.code,
                )
                await self._dead_letters.publish(record, error.code, error.detail, error.path)
                if self._metrics is not None:
                    self._metrics.dead_letters.inc(reason=str(error.code))
        if not events:
            return IngestResult(applied=0, duplicates=0, notices_queued=0)
        result = await self._store(events)
        if self._metrics is not None:
            for event in events:
                self._metrics.event_stored(type(event).__name__, event.occurred_at)
        return result


def subscribe_dms_events(
    broker: KafkaBroker,
    topics: Sequence[str],
    *,
    group_id: str,
    max_records: int,
    ingestion: DmsEventIngestion,
) -> None:
    @broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        decoder=the_message,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,  # commit only after the batch's effect is durable
        no_reply=True,
        title="dms-events",
        description="Letter registrations and status events published by the DMS.",
    )
    async def on_dms_events(message: KafkaMessage) -> None:
        try:
            await ingestion.process(message.raw_message)
        except Exception:
            # Not committed, and FastStream does not rewind by itself (AckPolicy.MANUAL): without
            # this the next batch's commit would skip these records. Rewind, so they come again.
            log.warning("DMS batch failed; it will be redelivered", exc_info=True)
            await message.nack()
            await asyncio.sleep(REDELIVERY_DELAY_S)
            return
        await message.ack()
