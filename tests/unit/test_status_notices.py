"""Status-change notices to the portal, as ingestion queues them (in-memory store)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime

from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import (
    ELECTRONIC_CHANNELS,
    DmsEvent,
    LetterRegistered,
    Status,
    StatusChanged,
)
from gateway.domain.status_notices import NoticeExtension
from gateway.services.ingestion import ingest_events
from gateway.tools.simulator import letter_events
from tests.support.deadlines import EXTENSION_DAYS, extended_letter, shipped_deadlines
from tests.support.fakes import FakeStore, FakeUnitOfWork

NOW = datetime(2026, 11, 28, 10, tzinfo=UTC)
hasher = IdentifierHasher(b"unit")
DEADLINES = shipped_deadlines()
REGISTERED_ON = date(2026, 10, 5)
EXTENSION_REASON = 'Inquiry to <b>another</b> customs service & "more"'


def a_letter(electronic: bool, events_at_least: int = 4) -> list[DmsEvent]:
    for index in range(1, 500):
        events = letter_events(index, random.Random(index))
        registered = events[0]
        assert isinstance(registered, LetterRegistered)
        if (registered.channel in ELECTRONIC_CHANNELS) is electronic and len(events) >= (
            events_at_least
        ):
            return events
    raise AssertionError("the simulator made no such letter")


async def ingest(store: FakeStore, events: list[DmsEvent], **options: object) -> None:
    options.setdefault("notify_status_changes", DEADLINES)
    await ingest_events(events, FakeUnitOfWork(store), hasher, lambda: NOW, **options)  # type: ignore[arg-type]


def noticed(store: FakeStore) -> list[int]:
    return sorted(sequence for _, sequence in store.status_notices)


async def test_each_visible_change_of_an_electronic_letter_is_noticed_once_after_registration():
    store = FakeStore()
    events = a_letter(electronic=True)
    await ingest(store, events[:2])
    await ingest(store, events[2:])
    await ingest(store, events)  # redelivered: nothing new
    assert noticed(store) == [e.sequence for e in events[1:]]  # registration: acceptance notice
    last = max(store.status_notices.values(), key=lambda pair: pair[0].sequence)[0]
    assert last.notice_id == f"{events[0].registration_number}/{events[-1].sequence}"
    assert last.department is not None  # the letter as it stands


async def test_a_letter_by_post_gets_no_notices_and_rebuild_or_the_setting_queue_none():
    store = FakeStore()
    await ingest(store, a_letter(electronic=False))
    electronic = a_letter(electronic=True)
    await ingest(store, electronic, queue_notices=False)  # rebuild replays history
    assert store.status_notices == {}
    other = FakeStore()
    await ingest(other, electronic, notify_status_changes=None)
    assert other.status_notices == {}


async def test_a_change_older_than_one_noticed_is_not_noticed_out_of_order():
    store = FakeStore()
    events = a_letter(electronic=True, events_at_least=4)
    await ingest(store, [events[0], events[1], events[3]])
    await ingest(store, [events[2]])  # arrives late: after sequence 4 was noticed
    assert noticed(store) == [events[1].sequence, events[3].sequence]


async def test_changes_before_the_registration_are_noticed_when_it_arrives():
    store = FakeStore()
    events = a_letter(electronic=True)
    await ingest(store, events[1:])  # channel unknown yet: nothing to notice
    assert store.status_notices == {}
    await ingest(store, events[:1])
    statuses = [store.status_notices[k][0].status for k in sorted(store.status_notices)]
    assert noticed(store) == [e.sequence for e in events[1:]]
    assert Status.REGISTERED not in statuses


def notices_by_sequence(store: FakeStore) -> dict[int, NoticeExtension | None]:
    return {seq: notice.extension for (_, seq), (notice, _) in store.status_notices.items()}


async def test_the_extensions_notice_tells_the_new_legal_due_date_and_why():
    store = FakeStore()
    events = extended_letter(REGISTERED_ON, EXTENSION_REASON)
    await ingest(store, events[:3])
    await ingest(store, events[3:4])
    await ingest(store, events[4:])
    # art. 10.1 + 10.2: 15 + 10 working days after registration, on the shipped calendar
    term = DEADLINES.rules.general + EXTENSION_DAYS
    due = DEADLINES.calendar.add_working_days(REGISTERED_ON, term)
    told = NoticeExtension(due.day, EXTENSION_DAYS, EXTENSION_REASON, provisional=due.provisional)
    # in batches as they happened: before the extension none; its own notice and later ones tell it
    assert notices_by_sequence(store) == {2: None, 3: None, 4: told, 5: told}


async def test_an_extension_that_arrives_late_reaches_the_applicant_with_the_next_notice():
    store = FakeStore()
    events = extended_letter(REGISTERED_ON, EXTENSION_REASON)
    await ingest(store, [*events[:3], events[4]])
    await ingest(store, [events[3]])  # after sequence 5 was noticed: no notice of its own
    assert notices_by_sequence(store) == {2: None, 3: None, 5: None}
    later = StatusChanged(
        event_id=uuid.uuid4(),
        registration_number=events[0].registration_number,
        sequence=6,
        occurred_at=datetime(2026, 10, 20, tzinfo=UTC),
        status=Status.IN_PROGRESS,
    )
    await ingest(store, [later])
    extension = notices_by_sequence(store)[6]
    assert extension is not None and extension.reason == EXTENSION_REASON
