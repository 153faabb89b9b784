"""One relay mechanism for every outbox: what a relay that died before marking left on the topic
is read back and marked, never sent again (acceptance notices and partner notifications alike).
The real broker and SIGKILLs: tests/integration/test_notices_exactly_once.py."""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest

from gateway.domain.letters import AcceptanceNotice, ApplicantKind, Channel, Status
from gateway.domain.partners import Operation, Partner, StatusChangeNotification
from producers.acceptance_notices import AcceptanceNoticeOutbox
from producers.kafka_producer import Outgoing, Written
from producers.outbox_relay import OutboxRelay
from producers.partner_notifications import PartnerNotificationOutbox
from tests.support.fakes import FakeStore, FakeUnitOfWork

NOW = datetime(2026, 11, 28, 10, tzinfo=UTC)
PARTITIONS = 3


class FakeTopics:
    """A broker's topics, as the relay's producer and its tail reader see them."""

    def __init__(self) -> None:
        self.logs: dict[tuple[str, int], list[Outgoing]] = {}

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    async def send_all(self, messages: Sequence[Outgoing]) -> list[Written]:
        written = []
        for m in messages:
            partition = zlib.crc32(m.key or b"") % PARTITIONS
            log = self.logs.setdefault((m.topic, partition), [])
            log.append(m)
            written.append(Written(m.topic, partition, len(log) - 1))
        return written

    async def end_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return {tp: len(self.logs.get(tp, [])) for tp in partitions}

    async def header_values(
        self, ranges: Mapping[tuple[str, int], tuple[int, int]], header: str
    ) -> set[str]:
        return {
            value.decode()
            for tp, (first, end) in ranges.items()
            for m in self.logs.get(tp, [])[first:end]
            for name, value in m.headers
            if name == header
        }

    async def stop(self) -> None:
        pass

    def ids(self, header: str) -> Counter[str]:
        return Counter(
            v.decode()
            for log in self.logs.values()
            for m in log
            for k, v in m.headers
            if k == header
        )


class Crash(Exception):
    pass


def crash() -> None:
    raise Crash("killed between publishing and marking")


def notices(store: FakeStore, count: int) -> AcceptanceNoticeOutbox:
    for i in range(count):
        number = f"DGK-2026-{i:06d}"
        notice = AcceptanceNotice(
            UUID(int=i + 1),
            number,
            date(2026, 1, 5),
            Channel.EGOV_PORTAL,
            ApplicantKind.PERSON,
            "L9R346P",
        )
        store.notices[number] = (notice, None)
    return AcceptanceNoticeOutbox("notices", lambda n: str(n.notice_id).encode())


def partner_notifications(store: FakeStore, count: int) -> PartnerNotificationOutbox:
    partner = Partner("AZ-VXM", "Vergilər", "vxm.req", "vxm.rep", "vxm.notes", frozenset(Operation))
    for i in range(count):
        n = StatusChangeNotification(
            "AZ-VXM", f"DGK-2026-{i // 3:06d}", None, i % 3 + 1, Status.IN_PROGRESS, NOW
        )
        store.partner_notifications[("AZ-VXM", n.registration_number, n.sequence)] = (n, None)
    return PartnerNotificationOutbox({"AZ-VXM": partner}, lambda n: n.notification_id.encode())


def relay(
    store: FakeStore, topics: FakeTopics, outbox: Any, batch: int = 4, **options: Any
) -> OutboxRelay[Any]:
    return OutboxRelay(
        topics,  # type: ignore[arg-type]
        topics,  # type: ignore[arg-type]
        outbox,
        lambda: FakeUnitOfWork(store),
        lambda: NOW,
        batch=batch,
        **options,
    )


@pytest.mark.parametrize("make_outbox", [notices, partner_notifications])
async def test_what_a_crashed_relay_published_is_marked_not_sent_again(make_outbox) -> None:
    store, topics = FakeStore(), FakeTopics()
    outbox = make_outbox(store, 10)
    with pytest.raises(Crash):
        await relay(store, topics, outbox, after_publish=crash).relay_pending()
    assert sum(topics.ids(outbox.id_header).values()) == 4  # on the topic, not marked

    # A smaller batch than the crashed one's (another setting, or rows that tie on their
    # queue time come back in another order): what it finds beyond its batch is marked too.
    successor = relay(store, topics, outbox, batch=2)
    while await successor.relay_pending():
        pass

    on_topic = topics.ids(outbox.id_header)
    assert len(on_topic) == 10 and set(on_topic.values()) == {1}
    async with FakeUnitOfWork(store) as uow:
        assert await outbox.pending(uow, 100) == []


async def test_without_a_crash_nothing_is_read_back() -> None:
    store, topics = FakeStore(), FakeTopics()
    outbox = notices(store, 10)
    reads: list[object] = []
    original = topics.header_values

    async def counted(ranges: Any, header: str) -> set[str]:
        reads.append(ranges)
        return await original(ranges, header)

    topics.header_values = counted  # type: ignore[method-assign]
    relaying = relay(store, topics, outbox)
    while await relaying.relay_pending():
        pass
    assert reads == [] and len(topics.ids("notice_id")) == 10
