"""One rule for a registration number, over the real broker: the number a DMS event is stored
under is the number a status request looks up (trimmed, upper case, in the configured pattern),
and an event whose number breaks the pattern is dead-lettered with its reason, not stored where
no request could ever find it (issue 11)."""

from __future__ import annotations

import random
from dataclasses import replace

from gateway.app import Gateway
from gateway.domain.letters import LetterRegistered
from gateway.settings import Settings
from gateway.tools.client import StatusClient, build_request
from gateway.tools.simulator import letter_events
from producers import dead_letters as dlq
from tests.support.kafka_io import DmsPublisher, read_topic
from tests.support.store_snapshot import count, snapshot
from tests.support.waiting import eventually

TIMEOUT = 20.0


async def test_a_number_the_dms_sends_in_lower_case_is_found_by_a_status_request(
    gateway: Gateway, dms: DmsPublisher, egov_client: StatusClient
):
    events = letter_events(11, random.Random(11))
    registered = events[0]
    assert isinstance(registered, LetterRegistered)
    number = registered.registration_number
    await dms.publish(replace(e, registration_number=number.lower()) for e in events)
    await eventually(lambda: count(gateway.engine), lambda n: n == len(events))

    for typed in (number, f" {number.lower()} "):
        request = build_request(gateway.settings, typed, user=registered.applicant.identifier)
        raw = await egov_client.send(gateway.status_codec.encode_request(request), timeout=TIMEOUT)
        reply = gateway.status_codec.decode_reply(raw)
        assert reply.fault is None, (typed, reply.fault)
        assert reply.status is not None and reply.status.registration_number == number
        history = sorted(entry.sequence for entry in reply.status.history)
        assert history == sorted(e.sequence for e in events), "every event, under one number"


async def test_a_dms_number_outside_the_pattern_is_dead_lettered_with_its_reason(
    gateway: Gateway, dms: DmsPublisher, settings: Settings
):
    outside = replace(letter_events(12, random.Random(12))[0], registration_number="4127/2026")
    good = letter_events(13, random.Random(13))
    await dms.publish([outside, *good])

    await eventually(lambda: count(gateway.engine), lambda n: n == len(good))
    dead = await eventually(
        lambda: read_topic(settings, settings.topic_dead_letters), lambda records: len(records) > 0
    )
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert headers[dlq.REASON] == b"MALFORMED_REGISTRATION_NUMBER"
    assert headers[dlq.PATH] == b"/LetterRegistered/registrationNumber"
    assert b"4127/2026" in headers[dlq.DETAIL]
    assert dead[0].value == gateway.dms_codec.encode(outside), "the original bytes are kept"
    stored = {row["registration_number"] for row in (await snapshot(gateway.engine))["letters"]}
    assert stored == {good[0].registration_number}
