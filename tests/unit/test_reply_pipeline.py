"""The reply pipeline: the next batch is decided while the previous replies publish; offsets are
committed in order and only once the replies are out; a failed publish rewinds to the earliest
record whose reply is not on the broker (in-memory consumer; the fault suite runs it against a
broker that stops)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.offsets import BackgroundCommits
from consumers.reply_pipeline import ReplyPipeline

TOPIC = "requests"


class FakeConsumer:
    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: dict[TopicPartition, int] = {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset


def records(*at: tuple[int, int]) -> list[ConsumerRecord]:
    """Records at (partition, offset)."""
    return [ConsumerRecord(TOPIC, p, o, 0, 0, None, b"", None, 0, 0, ()) for p, o in at]


def tp(partition: int) -> TopicPartition:
    return TopicPartition(TOPIC, partition)


class Publishes:
    """Publish callables whose outcome the test decides, each recorded when it starts."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.outcomes: dict[str, asyncio.Future[bool]] = {}

    def of(self, name: str) -> Callable[[], asyncio.Future[bool]]:
        self.outcomes[name] = asyncio.get_running_loop().create_future()

        def publish() -> asyncio.Future[bool]:
            self.started.append(name)
            return self.outcomes[name]

        return publish


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_next_batch_is_decided_while_the_replies_publish_and_commits_follow_in_order():
    consumer, publishes = FakeConsumer(), Publishes()
    pipeline = ReplyPipeline(BackgroundCommits(), retry_s=0)
    await asyncio.wait_for(
        pipeline.send(consumer, records((0, 10), (1, 3)), publishes.of("first")), 1
    )  # returns with the replies still in flight: the handler takes the next batch
    await settle()
    assert publishes.started == ["first"] and consumer.commits == []

    second = asyncio.create_task(pipeline.send(consumer, records((0, 11)), publishes.of("second")))
    await settle()
    assert not second.done(), "the second batch's publish waits for the first one's"
    assert publishes.started == ["first"]

    publishes.outcomes["first"].set_result(True)
    await second
    await settle()
    assert publishes.started == ["first", "second"]
    assert consumer.commits == [{tp(0): 11, tp(1): 4}], "only the published batch is committed"

    publishes.outcomes["second"].set_result(True)
    await pipeline.send(consumer, records((2, 0)), publishes.of("third"))
    await settle()
    assert consumer.commits[-1] == {tp(0): 12}
    assert consumer.seeks == {}


async def test_a_failed_publish_rewinds_at_once_even_when_no_later_batch_comes():
    consumer, publishes = FakeConsumer(), Publishes()
    pipeline = ReplyPipeline(BackgroundCommits(), retry_s=0)
    await pipeline.send(consumer, records((0, 7), (0, 8), (3, 2)), publishes.of("only"))
    publishes.outcomes["only"].set_result(False)
    await settle()
    assert consumer.seeks == {tp(0): 7, tp(3): 2}
    assert consumer.commits == []


async def test_a_batch_decided_behind_a_failed_publish_is_not_published_and_rewinds_too():
    consumer, publishes = FakeConsumer(), Publishes()
    pipeline = ReplyPipeline(BackgroundCommits(), retry_s=0)
    await pipeline.send(consumer, records((0, 10), (0, 11), (1, 5)), publishes.of("failing"))
    later = asyncio.create_task(
        pipeline.send(consumer, records((0, 12), (2, 7)), publishes.of("decided meanwhile"))
    )
    await settle()
    consumer.seeks[tp(0)] = 13  # the consumer moved on meanwhile
    publishes.outcomes["failing"].set_result(False)
    await later
    await settle()
    assert publishes.started == ["failing"], "nothing of the later batch is published"
    assert consumer.seeks == {tp(0): 10, tp(1): 5, tp(2): 7}, "the earliest unpublished ones"
    assert consumer.commits == []

    # The rewound requests come again: published and committed as usual.
    await pipeline.send(consumer, records((0, 10), (0, 11), (0, 12)), publishes.of("again"))
    publishes.outcomes["again"].set_result(True)
    await settle()
    assert consumer.commits == [{tp(0): 13}]


async def test_a_publish_that_raises_counts_as_not_published():
    consumer = FakeConsumer()
    pipeline = ReplyPipeline(BackgroundCommits(), retry_s=0)

    async def broken() -> bool:
        raise ConnectionError("broker away")

    await pipeline.send(consumer, records((4, 40)), broken)
    await settle()
    assert consumer.seeks == {tp(4): 40} and consumer.commits == []
