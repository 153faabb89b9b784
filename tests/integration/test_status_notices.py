"""Status-change notices on the real broker: once per change and in order per letter, also when
the gateway restarts and the DMS redelivers what it had already sent; an extension reaches the
applicant with its new legal due date and reason."""

from __future__ import annotations

import random
from datetime import date

from gateway.app import running
from gateway.domain.letters import ELECTRONIC_CHANNELS, DmsEvent, LetterRegistered
from gateway.domain.status_notices import NoticeExtension, StatusChangeNotice
from gateway.settings import Settings
from gateway.tools.simulator import letter_events
from gateway.xmlcodec.egov import EgovXmlCodec
from tests.support.deadlines import EXTENSION_DAYS, extended_letter
from tests.support.kafka_io import DmsPublisher, read_topic
from tests.support.waiting import eventually


def electronic_letters(count: int) -> list[list[DmsEvent]]:
    found = []
    for index in range(1, 1000):
        events = letter_events(index, random.Random(index))
        registered = events[0]
        assert isinstance(registered, LetterRegistered)
        if registered.channel in ELECTRONIC_CHANNELS and len(events) >= 4:
            found.append(events)
        if len(found) == count:
            return found
    raise AssertionError("the simulator made too few such letters")


async def status_notices(settings: Settings) -> list[tuple[StatusChangeNotice, str]]:
    """Each status-change notice with its notice_id header, as on the topic."""
    codec = EgovXmlCodec()
    return [
        (codec.decode_status_notice(record.value), dict(record.headers)["notice_id"].decode())
        for record in await read_topic(settings, settings.topic_acceptance_notices)
        if record.value is not None and b"StatusChangeNotice" in record.value
    ]


async def notices_by_letter(settings: Settings) -> dict[str, list[tuple[int, str]]]:
    """(sequence, notice_id header) of each status-change notice, per letter, as on the topic."""
    found: dict[str, list[tuple[int, str]]] = {}
    for notice, header in await status_notices(settings):
        found.setdefault(notice.registration_number, []).append((notice.sequence, header))
    return found


async def test_notices_arrive_once_per_change_and_in_order_across_a_restart(
    settings: Settings, dms: DmsPublisher
):
    letters = electronic_letters(5)
    expected = {e[0].registration_number: [x.sequence for x in e[1:]] for e in letters}
    async with running(settings):
        await dms.publish(e for events in letters for e in events[:3])
        await eventually(
            lambda: notices_by_letter(settings),
            lambda found: sum(map(len, found.values())) == 2 * len(letters),
        )
    async with running(settings):  # a new process: redelivery of everything, then the rest
        await dms.publish(e for events in letters for e in events)
        await eventually(
            lambda: notices_by_letter(settings),
            lambda found: sum(map(len, found.values())) >= sum(map(len, expected.values())),
        )
    found = await notices_by_letter(settings)
    assert {n: [s for s, _ in notices] for n, notices in found.items()} == expected
    assert all(header == f"{n}/{s}" for n, notices in found.items() for s, header in notices)


async def test_an_extension_is_told_with_its_new_legal_due_date_and_reason(
    settings: Settings, dms: DmsPublisher
):
    registered_on, reason = date(2026, 10, 5), "Sorğu xarici gömrük orqanına <b>göndərilib</b>"
    events = extended_letter(registered_on, reason)
    async with running(settings) as gateway:
        await dms.publish(events[:3])
        await eventually(lambda: status_notices(settings), lambda found: len(found) == 2)
        await dms.publish(events[3:])
        await eventually(lambda: status_notices(settings), lambda found: len(found) == 4)
        deadlines = gateway.deadlines
    term = deadlines.rules.general + EXTENSION_DAYS
    due = deadlines.calendar.add_working_days(registered_on, term)
    told = NoticeExtension(due.day, EXTENSION_DAYS, reason, provisional=due.provisional)
    found = {notice.sequence: notice.extension for notice, _ in await status_notices(settings)}
    assert found == {2: None, 3: None, 4: told, 5: told}
