"""Entry point for DMS events: hand a poll of records to the ingestion use case, and commit the
offsets only once it returns (every record durable in the store or dead-lettered)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace
from opentelemetry.trace import Tracer

from consumers.raw import the_message
from gateway.services.ingestion import DmsIngestion
from gateway.telemetry.tracing import links_to

log = logging.getLogger(__name__)
REDELIVERY_DELAY_S = 1.0


def subscribe_dms_events(
    broker: KafkaBroker,
    topics: Sequence[str],
    *,
    group_id: str,
    group_instance_id: str | None,
    session_timeout_ms: int,
    max_records: int,
    ingestion: DmsIngestion,
    tracer: Tracer | None = None,
) -> None:
    tracer = tracer or trace.NoOpTracer()
    traced = not isinstance(tracer, trace.NoOpTracer)  # 2,000 records a poll: skip the links

    @broker.subscriber(
        *topics,
        group_id=group_id,
        group_instance_id=group_instance_id,
        session_timeout_ms=session_timeout_ms,
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
        records = message.raw_message
        try:
            with tracer.start_as_current_span(
                "dms-events ingest",  # decode, dead-letter, store: children of this span
                links=links_to([r.headers for r in records]) if traced else None,
                attributes={"messaging.batch.message_count": len(records)},
            ):
                await ingestion.process(records)
        except Exception:
            # Not committed, and FastStream does not rewind by itself (AckPolicy.MANUAL): without
            # this the next batch's commit would skip these records. Rewind, so they come again.
            log.warning("DMS batch failed; it will be redelivered", exc_info=True)
            await message.nack()
            await asyncio.sleep(REDELIVERY_DELAY_S)
            return
        await message.ack()
