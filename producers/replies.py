"""Status replies, keyed by registration number and carrying the request's correlation id."""

from __future__ import annotations

from producers.kafka_producer import KafkaProducer


class ReplyPublisher:
    def __init__(self, producer: KafkaProducer) -> None:
        self._producer = producer

    async def publish(
        self, topic: str, reply: bytes, *, key: str | None, correlation_id: str | None
    ) -> None:
        headers = [("correlation_id", correlation_id.encode())] if correlation_id else []
        await self._producer.send(topic, reply, key=key.encode() if key else None, headers=headers)
