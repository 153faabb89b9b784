"""Status replies, keyed by registration number and carrying the request's correlation id and
trace context (traceparent naming the reply's span, a child of the request's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from producers.kafka_producer import Headers, KafkaProducer, Outgoing


@dataclass(frozen=True)
class Reply:
    topic: str
    value: bytes
    key: str | None
    correlation_id: str | None
    trace_headers: Headers = ()


class ReplyPublisher:
    def __init__(self, producer: KafkaProducer) -> None:
        self._producer = producer

    async def publish(self, replies: Sequence[Reply]) -> None:
        """Returns once the broker has all of them."""
        await self._producer.send_all(
            [
                Outgoing(
                    r.topic,
                    r.key.encode() if r.key else None,
                    r.value,
                    [
                        *(
                            [("correlation_id", r.correlation_id.encode())]
                            if r.correlation_id
                            else []
                        ),
                        *r.trace_headers,
                    ],
                )
                for r in replies
            ]
        )


def _correlation(correlation_id: str | None) -> list[tuple[str, bytes]]:
    return [("correlation_id", correlation_id.encode())] if correlation_id else []
