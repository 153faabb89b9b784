"""The replies of one request batch go out while the next batch is decided.

A batch is decided (assessed, answered and audited in one committed transaction) by the
consumer's handler, which then hands its publish over to this pipeline and returns, so the next
batch is fetched and decided while the broker acknowledges the previous replies. What stays:

- offsets are committed in order, and only for a batch whose replies are all on their topics:
  a batch's publish starts only after the previous batch's has ended, and its offsets go to the
  committer only when it succeeded;
- at most one publish is in flight beside the batch being decided (memory stays bounded);
- a failed publish rewinds every partition to the earliest record whose reply is not on the
  broker: at once (so it also acts when no later batch comes), and again from the next batch's
  handler, which adds its own records (decided, not published) and publishes nothing. The
  rewound requests come again and get their stored replies, byte for byte.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.offsets import BackgroundCommits

log = logging.getLogger(__name__)

Publish = Callable[[], Awaitable[bool]]  # True once every reply of the batch is on the broker


def earliest_offsets(records: Sequence[ConsumerRecord]) -> dict[TopicPartition, int]:
    earliest: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        earliest[tp] = min(earliest.get(tp, record.offset), record.offset)
    return earliest


class ReplyPipeline:
    def __init__(self, commits: BackgroundCommits, retry_s: float) -> None:
        self._commits, self._retry_s = commits, retry_s
        self._in_flight: asyncio.Task[dict[TopicPartition, int] | None] | None = None

    async def send(
        self, consumer: AIOKafkaConsumer, records: Sequence[ConsumerRecord], publish: Publish
    ) -> None:
        """Called by the handler once `records` are decided: waits for the previous batch's
        publish, then starts this one's (or, if the previous one failed, rewinds)."""
        if self._in_flight is not None:
            unpublished = await self._in_flight
            self._in_flight = None
            if unpublished is not None:
                for tp, offset in earliest_offsets(records).items():
                    unpublished[tp] = min(unpublished.get(tp, offset), offset)
                _rewind(consumer, unpublished)
                await asyncio.sleep(self._retry_s)
                return
        self._in_flight = asyncio.create_task(self._publish(consumer, records, publish))

    async def _publish(
        self, consumer: AIOKafkaConsumer, records: Sequence[ConsumerRecord], publish: Publish
    ) -> dict[TopicPartition, int] | None:
        """None once published and handed to the committer; else the offsets to rewind to."""
        try:
            published = await publish()
        except Exception:  # noqa: BLE001 - whatever failed, the replies are not known to be out
            log.warning("reply publish failed; requests will be redelivered", exc_info=True)
            published = False
        if published:
            self._commits.answered(consumer, records)
            return None
        unpublished = earliest_offsets(records)
        _rewind(consumer, unpublished)
        return unpublished


def _rewind(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
    for tp, offset in offsets.items():
        try:
            consumer.seek(tp, offset)
        except Exception as error:  # noqa: BLE001 - e.g. a rebalance took the partition
            # Not lost: not committed, so whoever owns the partition now gets them again.
            log.warning("could not rewind %s to %d (%s)", tp, offset, error)
