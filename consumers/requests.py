"""Entry point for requests (status requests from the portal and the call center, partner
requests): hand the bytes to the use case, publish its reply to the allowed reply topic, then
hand the offsets to the background committer (consumers/offsets.py). FastStream's own reply
mechanism is switched off (no_reply) because it would publish to whatever topic the requester
names."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiokafka.structs import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from consumers.offsets import BackgroundCommits
from consumers.raw import the_message
from gateway.services.audited_requests import AuditedRequestHandler, Delivery
from gateway.telemetry.metrics import Metrics
from producers.replies import Reply, ReplyPublisher

log = logging.getLogger(__name__)


def _header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name and value:
            return value.decode("utf-8", errors="replace")
    return None


def subscribe_requests(
    broker: KafkaBroker,
    topics: Sequence[str],
    *,
    title: str,
    description: str,
    group_id: str,
    service: AuditedRequestHandler,
    replies: ReplyPublisher,
    publish_retry_s: float,
    max_records: int = 200,
    metrics: Metrics | None = None,
) -> None:
    """Requests are taken in batches (whatever has arrived, up to `max_records`): answered in one
    transaction, their replies published together, then the offsets committed once."""
    commits = BackgroundCommits()

    @broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        # An empty poll is followed by a sleep as long as its timeout (FastStream's loop): at
        # the default 200 ms, a request arriving in a quiet moment would wait up to 400 ms.
        batch_timeout_ms=5,
        decoder=the_message,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,  # commit only once the replies are on their reply topics
        no_reply=True,
        title=title,
        description=description,
    )
    async def on_requests(message: KafkaMessage) -> None:
        records: Sequence[ConsumerRecord] = message.raw_message
        started = time.monotonic()
        deliveries = [
            Delivery(r.topic, _header(r, "reply_to"), _header(r, "correlation_id")) for r in records
        ]
        decisions = await service.handle_batch(
            [(r.value or b"", d) for r, d in zip(records, deliveries, strict=True)]
        )
        try:
            await replies.publish(
                [
                    Reply(d.reply_topic, d.reply, d.key, delivery.correlation_id)
                    for d, delivery in zip(decisions, deliveries, strict=True)
                    if d.reply is not None and d.reply_topic is not None
                ]
            )
        except Exception:
            # Not committed: rewind so the requests come again; their stored replies are replayed.
            log.warning("reply publish failed; requests will be redelivered", exc_info=True)
            await message.nack()
            await asyncio.sleep(publish_retry_s)
            return
        commits.answered(message.consumer, records)
        for delivery, decision in zip(deliveries, decisions, strict=True):
            log.info(
                "request %s",
                decision.outcome,
                extra={
                    "topic": delivery.topic,
                    "correlation_id": delivery.correlation_id,
                    "message_id": decision.message_id,
                    "registration_number": decision.key,
                    "outcome": decision.outcome,
                },
            )
        if metrics is not None:
            elapsed = time.monotonic() - started
            for record, decision in zip(records, decisions, strict=True):
                metrics.request_handled(record.topic, decision.client_id, decision.outcome, elapsed)
                if not decision.audit_written:
                    metrics.audit_write_failures.inc()
