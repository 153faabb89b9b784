"""Reads back what is already on output topics: their end offsets, and the values of one header
in a range of offsets. The outbox relays use it to learn which messages a crashed predecessor
published but did not get to mark."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from gateway.services.ports import TopicPartition as Position

READ_TIMEOUT_S = 30.0


class TopicTail:
    def __init__(self, connection: dict[str, Any]) -> None:
        self._connection = connection
        self._consumer: AIOKafkaConsumer | None = None

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **self._connection,
                group_id=None,  # reads by offset; never joins a group, never commits
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    async def end_offsets(self, partitions: list[Position]) -> dict[Position, int]:
        consumer = await self._started()
        ends = await consumer.end_offsets([TopicPartition(t, p) for t, p in partitions])
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def header_values(
        self, ranges: Mapping[Position, tuple[int, int]], header: str
    ) -> set[str]:
        """The values of `header` on the records from each partition's first offset up to (not
        including) its end offset. Raises TimeoutError if that cannot be read in time."""
        consumer = await self._started()
        bounds = {TopicPartition(t, p): r for (t, p), r in ranges.items()}
        consumer.assign(list(bounds))
        beginnings = await consumer.beginning_offsets(list(bounds))
        for tp, (first, _) in bounds.items():
            consumer.seek(tp, max(first, beginnings[tp]))  # older records may be gone
        values: set[str] = set()
        async with asyncio.timeout(READ_TIMEOUT_S):
            remaining = {tp for tp, (_, end) in bounds.items() if await consumer.position(tp) < end}
            while remaining:
                fetched = await consumer.getmany(*remaining, timeout_ms=500)
                for tp, records in fetched.items():
                    end = bounds[tp][1]
                    values.update(
                        (value or b"").decode(errors="replace")
                        for record in records
                        if record.offset < end
                        for name, value in record.headers or ()
                        if name == header
                    )
                remaining = {tp for tp in remaining if await consumer.position(tp) < bounds[tp][1]}
        return values
