"""Entry point for DMS events: hand a poll of records to the ingestion use case, and commit the
offsets only once it returns (every record durable in the store or dead-lettered)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from consumers.raw import the_message
from gateway.services.ingestion import DmsIngestion

log = logging.getLogger(__name__)
REDELIVERY_DELAY_S = 1.0


def subscribe_dms_events(
    broker: KafkaBroker,
    topics: Sequence[str],
    *,
    group_id: str,
    max_records: int,
    ingestion: DmsIngestion,
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
