"""DMS events to the lookup store, on the real broker and both real stores."""

from __future__ import annotations

import random
from collections.abc import Iterable

from gateway.app import Gateway
from gateway.domain.letters import DmsEvent, Letter, LetterFold
from gateway.tools.simulator import generate_events, letter_events
from tests.support.kafka_io import DmsPublisher
from tests.support.store_snapshot import count, letters_by_number, snapshot
from tests.support.waiting import eventually


def reference(gateway: Gateway, events: Iterable[DmsEvent]) -> dict[str, Letter]:
    folds: dict[str, LetterFold] = {}
    for event in events:
        number = event.registration_number
        folds.setdefault(number, LetterFold(Letter(number))).apply(event, gateway.hasher)
    return {number: fold.letter for number, fold in folds.items()}


async def test_a_disordered_duplicated_stream_ends_in_the_reference_state(
    gateway: Gateway, dms: DmsPublisher
):
    events = list(generate_events(60, seed=11, disorder=0.5))
    unique_ids = {e.event_id for e in events}
    assert len(unique_ids) < len(events), "the stream should contain duplicates"
    await dms.publish(events)
    await eventually(lambda: count(gateway.engine), lambda n: n == len(unique_ids))
    assert await letters_by_number(gateway.engine) == reference(gateway, events)


async def test_status_before_registration_is_kept_and_completed_later(
    gateway: Gateway, dms: DmsPublisher
):
    events = list(generate_events(1, seed=12, disorder=0.0))
    registration, later = events[0], events[1:]
    await dms.publish(later)
    await eventually(lambda: count(gateway.engine), lambda n: n == len(later))
    early = (await letters_by_number(gateway.engine))[registration.registration_number]
    assert not early.is_registered and early.status is not None
    await dms.publish([registration])
    await eventually(lambda: count(gateway.engine), lambda n: n == len(events))
    assert await letters_by_number(gateway.engine) == reference(gateway, events)


async def test_redelivery_after_a_restart_applies_nothing_twice(settings, dms: DmsPublisher):
    from gateway.app import running

    events = list(generate_events(20, seed=13, disorder=0.0))
    async with running(settings) as first:
        await dms.publish(events)
        await eventually(lambda: count(first.engine), lambda n: n == len(events))
        before = await snapshot(first.engine)
    # The same events again (a DMS retry), read by a fresh gateway in the same group.
    async with running(settings) as second:
        await dms.publish(events)
        await dms.publish(letter_events(999, random.Random(1)))  # a new letter after them
        await eventually(lambda: count(second.engine), lambda n: n > len(events))
        after = await snapshot(second.engine)
    assert [r for r in after["letters"] if r in before["letters"]] == before["letters"]
    assert len(after["letters"]) == len(before["letters"]) + 1
