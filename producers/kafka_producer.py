"""The gateway's one Kafka producer: acks from all in-sync replicas, idempotent, raw headers.

A send returns only once the broker has the records, so callers may commit offsets after it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import OutOfOrderSequenceNumber, ProducerFenced

Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers = ()


@dataclass(frozen=True)
class Written:
    topic: str
    partition: int
    offset: int


class KafkaProducer:
    def __init__(self, connection: dict[str, Any]) -> None:
        self._connection = connection
        self._producer = self._new_producer()
        self._renewing = asyncio.Lock()

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **self._connection,
            acks="all",
            enable_idempotence=True,
            linger_ms=0,  # replies wait on this; concurrent sends still batch up
            request_timeout_ms=15_000,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> None:
        await self.send_all([Outgoing(topic, key, value, headers)])

    async def partitions_for(self, topic: str) -> set[int]:
        return set(await self._producer.partitions_for(topic))

    async def send_all(self, messages: Sequence[Outgoing]) -> list[Written]:
        """All in flight at once, appended in order (so per partition they keep it).
        Returns where each landed."""
        producer = self._producer
        try:
            delivered = [
                await producer.send(m.topic, m.value, key=m.key, headers=list(m.headers))
                for m in messages
            ]
            return [
                Written(r.topic, r.partition, r.offset) for r in await asyncio.gather(*delivered)
            ]
        except (OutOfOrderSequenceNumber, ProducerFenced):
            # aiokafka never resets an idempotent producer's sequence numbers: after a broker
            # restart with batches in flight, every later send to that partition fails with
            # OutOfOrderSequenceNumber, forever. Start a fresh producer (a new producer id);
            # the caller retries these sends as it does for any failed send.
            await self._renew(producer)
            raise

    async def _renew(self, failed: AIOKafkaProducer) -> None:
        async with self._renewing:
            if self._producer is not failed:  # a concurrent send renewed it already
                return
            fresh = self._new_producer()
            await fresh.start()
            self._producer = fresh
        with contextlib.suppress(Exception):
            await asyncio.wait_for(failed.stop(), 10)
