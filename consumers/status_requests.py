"""Entry point for requests (status requests from the portal and the call center, partner
requests): hand the bytes to the use case, publish its reply to the allowed reply topic, then
commit the offset. FastStream's own reply mechanism is switched off
(no_reply) because it would publish to whatever topic the requester names."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from gateway.metrics import Metrics
from gateway.services.audited_requests import AuditedRequestHandler, Delivery
from producers.replies import ReplyPublisher

log = logging.getLogger(__name__)


def _header(message: KafkaMessage, name: str) -> str | None:
    value = message.headers.get(name)
    return str(value) if value else None


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
    metrics: Metrics | None = None,
) -> None:
    @broker.subscriber(
        *topics,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,  # commit only once the reply is on the reply topic
        no_reply=True,
        title=title,
        description=description,
    )
    async def on_status_request(message: KafkaMessage) -> None:
        record = message.raw_message
        started = time.monotonic()
        delivery = Delivery(
            topic=record.topic,
            reply_to=_header(message, "reply_to"),
            correlation_id=_header(message, "correlation_id"),
        )
        decision = await service.handle(record.value or b"", delivery)
        if decision.reply is not None and decision.reply_topic is not None:
            try:
                await replies.publish(
                    decision.reply_topic,
                    decision.reply,
                    key=decision.key,
                    correlation_id=delivery.correlation_id,
                )
            except Exception:
                # Not committed: rewind so the request comes again; its stored reply is replayed.
                log.warning("reply publish failed; request will be redelivered", exc_info=True)
                await message.nack()
                await asyncio.sleep(publish_retry_s)
                return
        await message.ack()
        if metrics is not None:
            metrics.request_handled(
                record.topic, decision.client_id, decision.outcome, time.monotonic() - started
            )
            if not decision.audit_written:
                metrics.audit_write_failures.inc()
