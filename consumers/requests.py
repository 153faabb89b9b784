"""Entry point for requests (status requests from the portal and the call center, partner
requests): hand the bytes to the use case, then its replies to the reply pipeline
(consumers/reply_pipeline.py), which publishes them to the allowed reply topics while the next
batch is decided and hands the offsets to the background committer (consumers/offsets.py).
FastStream's own reply mechanism is switched off (no_reply) because it would publish to
whatever topic the requester names."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from aiokafka.structs import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, StatusCode, Tracer

from consumers.offsets import BackgroundCommits
from consumers.raw import the_message
from consumers.reply_pipeline import ReplyPipeline
from gateway.services.audited_requests import AuditedRequestHandler, Decision, Delivery
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.tracing import context_from, headers_for
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
    group_instance_id: str | None,
    session_timeout_ms: int,
    service: AuditedRequestHandler,
    replies: ReplyPublisher,
    publish_retry_s: float,
    max_records: int = 200,
    metrics: Metrics | None = None,
    tracer: Tracer | None = None,
) -> None:
    """Requests are taken in batches (whatever has arrived, up to `max_records`): answered in one
    transaction, their replies published together (while the next batch is decided), then the
    offsets committed once."""
    pipeline = ReplyPipeline(BackgroundCommits(), publish_retry_s)
    tracer = tracer or trace.NoOpTracer()

    @broker.subscriber(
        *topics,
        group_id=group_id,
        group_instance_id=group_instance_id,
        session_timeout_ms=session_timeout_ms,
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
        spans = _request_spans(tracer, records)
        try:
            with tracer.start_as_current_span(
                f"{title} store",  # assess, answer and audit: one transaction for the batch
                links=[Link(s.get_span_context()) for s in spans],
                attributes={"messaging.batch.message_count": len(records)},
            ):
                decisions = await service.handle_batch(
                    [(r.value or b"", d) for r, d in zip(records, deliveries, strict=True)]
                )
        except BaseException:
            for span in spans:
                span.end()
            raise

        async def publish() -> bool:
            try:
                if not await _publish_replies(tracer, replies, deliveries, decisions, spans):
                    return False  # not committed: the pipeline rewinds, stored replies replay
                _log_outcomes(deliveries, decisions, spans)
            finally:
                for span in spans:
                    span.end()
            if metrics is not None:
                elapsed = time.monotonic() - started
                for record, decision in zip(records, decisions, strict=True):
                    metrics.request_handled(
                        record.topic, decision.client_id, decision.outcome, elapsed
                    )
                    if not decision.audit_written:
                        metrics.audit_write_failures.inc()
            return True

        await pipeline.send(message.consumer, records, publish)


def _log_outcomes(
    deliveries: Sequence[Delivery], decisions: Sequence[Decision], spans: Sequence[Span]
) -> None:
    for delivery, decision, span in zip(deliveries, decisions, spans, strict=True):
        span.set_attribute("gateway.outcome", decision.outcome)
        with trace.use_span(span):  # the log line carries the request's trace id
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


def _request_spans(tracer: Tracer, records: Sequence[ConsumerRecord]) -> list[Span]:
    """One span per request, the child of the caller's span when its record carries a
    traceparent, linked to FastStream's span for the whole poll (the current one)."""
    poll = trace.get_current_span().get_span_context()
    return [
        tracer.start_span(
            f"{r.topic} request",
            context_from(r.headers),
            kind=SpanKind.CONSUMER,
            links=[Link(poll)] if poll.is_valid else None,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": r.topic,
                "messaging.destination.partition.id": str(r.partition),
                "messaging.kafka.offset": r.offset,
            },
        )
        for r in records
    ]


async def _publish_replies(
    tracer: Tracer,
    replies: ReplyPublisher,
    deliveries: Sequence[Delivery],
    decisions: Sequence[Decision],
    spans: Sequence[Span],
) -> bool:
    """Each reply gets a publish span, the child of its request's span, named in its headers."""
    outgoing, publishing = [], []
    for decision, delivery, span in zip(decisions, deliveries, spans, strict=True):
        if decision.reply is None or decision.reply_topic is None:
            continue
        publish = tracer.start_span(
            f"{decision.reply_topic} publish",
            trace.set_span_in_context(span),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": decision.reply_topic,
            },
        )
        publishing.append(publish)
        outgoing.append(
            Reply(
                decision.reply_topic,
                decision.reply,
                decision.key,
                delivery.correlation_id,
                headers_for(publish),
            )
        )
    try:
        await replies.publish(outgoing)
    except Exception as exc:
        log.warning("reply publish failed; requests will be redelivered", exc_info=True)
        for publish in publishing:
            publish.record_exception(exc)
            publish.set_status(StatusCode.ERROR)
        return False
    finally:
        for publish in publishing:
            publish.end()
    return True
