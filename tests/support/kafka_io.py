"""Test-side Kafka helpers: publish DMS events as the DMS would, read whole topics back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from gateway.domain.letters import DmsEvent, LetterRegistered
from gateway.kafka import kafka_connection
from gateway.settings import Settings
from gateway.xmlcodec.dms import DmsXmlCodec


class DmsPublisher:
    def __init__(self, settings: Settings, codec: DmsXmlCodec) -> None:
        self._settings, self._codec = settings, codec
        self._producer = AIOKafkaProducer(**kafka_connection(settings), acks="all", linger_ms=5)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    def topic_for(self, event: DmsEvent) -> str:
        if isinstance(event, LetterRegistered):
            return self._settings.topic_dms_registrations
        return self._settings.topic_dms_status

    async def publish(self, events: Iterable[DmsEvent]) -> int:
        count = 0
        for event in events:
            await self.publish_raw(
                self.topic_for(event), self._codec.encode(event), event.registration_number
            )
            count += 1
        await self._producer.flush()
        return count

    async def publish_raw(
        self, topic: str, value: bytes, key: str, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        await self._producer.send(topic, value, key=key.encode(), headers=list(headers))


async def read_topic(
    settings: Settings, topic: str, *, timeout_ms: int = 2000
) -> list[ConsumerRecord]:
    """Everything on a topic right now, from the beginning, without joining a group."""
    consumer = AIOKafkaConsumer(**kafka_connection(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        found = consumer.partitions_for_topic(topic) or ()
        partitions = [TopicPartition(topic, p) for p in sorted(found)]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        while any([await consumer.position(p) < ends[p] for p in partitions]):
            batch = await consumer.getmany(timeout_ms=timeout_ms)
            if not batch:
                break
            for part_records in batch.values():
                records.extend(part_records)
        return records
    finally:
        await consumer.stop()
