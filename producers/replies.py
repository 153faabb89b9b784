"""Status replies, keyed by registration number and carrying the request's correlation id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from producers.kafka_producer import KafkaProducer, Outgoing


@dataclass(frozen=True)
class Reply:
    topic: str
    value: bytes
    key: str | None
    correlation_id: str | None


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
                    [("correlation_id", r.correlation_id.encode())] if r.correlation_id else [],
                )
                for r in replies
            ]
        )
