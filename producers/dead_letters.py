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
ORIGINAL_SIZE = "dlq-original-size"  # set when the value was cut to MAX_VALUE_BYTES

# A record the broker took compressed (10 MB of XML gzips to ~10 KB) is far over the producer's
# 1 MiB request limit when sent again uncompressed; the dead letter must still go out, or the
# batch it came in fails. Keep the first MAX_VALUE_BYTES (the gateway refuses anything over
# GATEWAY_XML_MAX_BYTES anyway) and the original headers only up to MAX_HEADER_BYTES.
MAX_VALUE_BYTES = 512 * 1024
MAX_HEADER_BYTES = 256 * 1024


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
        value = record.value or b""
        if len(value) > MAX_VALUE_BYTES:
            ours.append((ORIGINAL_SIZE, str(len(value)).encode()))
            value = value[:MAX_VALUE_BYTES]
        original, room = [], MAX_HEADER_BYTES
        for k, v in record.headers or ():
            if not k.startswith("dlq-") and (room := room - len(k) - len(v or b"")) >= 0:
                original.append((k, v or b""))
        key = record.key if record.key is None or len(record.key) <= MAX_HEADER_BYTES else None
        await self._producer.send(self._topic, value, key=key, headers=[*original, *ours])
