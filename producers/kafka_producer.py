"""The gateway's one Kafka producer: acks from all in-sync replicas, idempotent, raw headers.

A send returns only once the broker has the record, so callers may commit offsets after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

Headers = Sequence[tuple[str, bytes]]


class KafkaProducer:
    def __init__(self, connection: dict[str, Any]) -> None:
        self._producer = AIOKafkaProducer(
            **connection,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            request_timeout_ms=15_000,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> None:
        await self._producer.send_and_wait(topic, value, key=key, headers=list(headers))
