"""Offset commits off the request path.

A request batch's offsets are committed once its replies are on the broker, as always, but
the next batch no longer waits for that commit. Commits go out one at a time, each carrying
the highest offsets handed over so far. They name their offsets: the consumer's position has
already moved past requests fetched but not yet answered, and those must come again after a
crash (they are answered from the stored reply if they had been)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

log = logging.getLogger(__name__)


class BackgroundCommits:
    def __init__(self) -> None:
        self._pending: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._committing: asyncio.Task[None] | None = None

    def answered(self, consumer: AIOKafkaConsumer, records: Sequence[ConsumerRecord]) -> None:
        """Called once these records' replies are on the broker."""
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            self._pending[tp] = max(self._pending.get(tp, 0), record.offset + 1)
        self._consumer = consumer
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_pending())

    async def _commit_pending(self) -> None:
        while self._pending and self._consumer is not None:
            offsets, self._pending = self._pending, {}
            try:
                await self._consumer.commit(offsets)
            except Exception as error:  # noqa: BLE001 - e.g. a rebalance took the partitions
                # Not lost: whoever owns the partitions now gets these requests again and
                # answers them from the stored replies.
                log.warning("offset commit failed (%s); requests may be redelivered", error)
