"""Dead letters: a poison record's original bytes and headers, plus why and where it came from."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord

from producers.kafka_producer import KafkaProducer

# Header names on a dead-letter record; documented in schemas/README.md.
REASON = "dlq-reason"
DETAIL = "dlq-detail"
PATH = "dlq-path"
SOURCE_TOPIC = "dlq-source-topic"
SOURCE_PARTITION = "dlq-source-partition"
SOURCE_OFFSET = "dlq-source-offset"


class DeadLetterPublisher:
    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def publish(
        self, record: ConsumerRecord, reason: str, detail: str, path: str | None = None
    ) -> None:
        ours = [
            (REASON, reason.encode()),
            (DETAIL, detail.encode()),
            (SOURCE_TOPIC, record.topic.encode()),
            (SOURCE_PARTITION, str(record.partition).encode()),
            (SOURCE_OFFSET, str(record.offset).encode()),
        ]
        if path:
            ours.append((PATH, path.encode()))
        original = [(k, v or b"") for k, v in (record.headers or ()) if not k.startswith("dlq-")]
        await self._producer.send(
            self._topic, record.value or b"", key=record.key, headers=[*original, *ours]
        )
