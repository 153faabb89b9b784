"""Request offsets are committed behind the request path: explicitly, highest first-unanswered
offset per partition, one commit at a time, and a failed commit does not stop later ones."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.offsets import BackgroundCommits


def record(partition: int, offset: int) -> ConsumerRecord:
    return ConsumerRecord("req", partition, offset, 0, 0, None, b"", None, 0, 0, [])


class Consumer:
    def __init__(self, fail_first: bool = False) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.release = asyncio.Event()
        self._fail_first = fail_first

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))
        await self.release.wait()
        if self._fail_first and len(self.commits) == 1:
            raise RuntimeError("rebalanced")


async def until(condition) -> None:  # type: ignore[no-untyped-def]
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_batches_answered_during_a_commit_go_out_together_in_the_next_one():
    consumer, commits = Consumer(), BackgroundCommits()
    commits.answered(consumer, [record(0, 4), record(1, 7)])  # type: ignore[arg-type]
    await until(lambda: len(consumer.commits) == 1)
    commits.answered(consumer, [record(0, 5)])  # type: ignore[arg-type]
    commits.answered(consumer, [record(0, 6), record(2, 0)])  # type: ignore[arg-type]
    consumer.release.set()
    await until(lambda: len(consumer.commits) == 2)
    assert consumer.commits == [
        {TopicPartition("req", 0): 5, TopicPartition("req", 1): 8},
        {TopicPartition("req", 0): 7, TopicPartition("req", 2): 1},
    ]


async def test_a_failed_commit_is_logged_and_later_ones_still_go_out(caplog):
    consumer, commits = Consumer(fail_first=True), BackgroundCommits()
    consumer.release.set()
    commits.answered(consumer, [record(0, 1)])  # type: ignore[arg-type]
    await until(lambda: len(consumer.commits) == 1)
    await asyncio.sleep(0.01)
    commits.answered(consumer, [record(0, 2)])  # type: ignore[arg-type]
    await until(lambda: len(consumer.commits) == 2)
    assert consumer.commits[1] == {TopicPartition("req", 0): 3}
    assert "offset commit failed" in caplog.text
