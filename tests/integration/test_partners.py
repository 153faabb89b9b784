"""Partner agencies over the real broker, with two partners configured: each operation, the
reference lookup, batch partial faults, scope, the spoofed header, and ordered notifications
exactly once across a gateway restart."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.app import Gateway, running
from gateway.domain.letters import Agency, LetterForwarded, Status, StatusChanged
from gateway.domain.partners import (
    BatchItem,
    BatchStatusQuery,
    LetterRef,
    OutcomeAccepted,
    OutcomeReport,
    PartnerLetterView,
    PartnerOutcome,
    StatusQuery,
)
from gateway.domain.requests import Fault, FaultView, RequestHeader
from gateway.kafka import kafka_connection
from gateway.settings import Settings
from gateway.tools.client import StatusClient
from gateway.tools.simulator import letter_events, registration_number
from gateway.xmlcodec.partner import PartnerReply
from tests.integration.conftest import settings_for
from tests.support.kafka_io import DmsPublisher, read_topic
from tests.support.store_snapshot import count
from tests.support.waiting import eventually

A = Agency("AZ-VXM", "Vergilər Nazirliyi")
B = Agency("AZ-DSX", "Dövlət Sərhəd Xidməti")


def registry(tmp_path: Path, prefix: str) -> Path:
    path = tmp_path / "partners.toml"
    path.write_text(
        "".join(
            f"""
[[partner]]
code = "{agency.code}"
name = "{agency.name}"
request_topic = "{prefix}.{agency.code}.requests"
reply_topic = "{prefix}.{agency.code}.replies"
notification_topic = "{prefix}.{agency.code}.notifications"
operations = {operations}
"""
            for agency, operations in (
                (A, '["status", "batch-status", "notifications", "report-outcome"]'),
                (B, '["status", "notifications"]'),
            )
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, tmp_path: Path) -> Settings:
    """This module's gateways have two partners (the `gateway` and `dms` fixtures use it)."""
    prefix = f"p{uuid.uuid4().hex[:8]}"
    return settings_for(
        kafka_bootstrap,
        database_url,
        partners_file=registry(tmp_path, prefix),
        partner_batch_max_items=5,
    )


class Partners:
    """Each partner's own client: its request topic, its reply topic."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.codec = gateway.partner_codec
        self.clients: dict[str, StatusClient] = {}

    async def start(self) -> None:
        for partner in self.gateway.partners:
            client = StatusClient(
                kafka_connection(self.gateway.settings), partner.request_topic, partner.reply_topic
            )
            await client.start()
            self.clients[partner.code] = client

    async def stop(self) -> None:
        for client in self.clients.values():
            await client.stop()

    async def ask(self, on: Agency, request: object) -> PartnerReply:
        raw = self.codec.encode_request(request)
        return self.codec.decode_reply(await self.clients[on.code].send(raw, timeout=20))


def header(client: Agency) -> RequestHeader:
    return RequestHeader(client.code, "partner-letter-status", str(uuid.uuid4()), "1.0")


async def test_partner_operations_scope_and_spoofing(gateway: Gateway, dms: DmsPublisher):
    a_letter = letter_events(1, random.Random(1), forwarded_by=A)
    b_letter = letter_events(2, random.Random(2), forwarded_by=B)
    ours = letter_events(3, random.Random(3))
    ours = [e for e in ours if e.sequence <= 2]
    ours.append(
        LetterForwarded(
            event_id=uuid.uuid4(),
            registration_number=registration_number(3),
            sequence=3,
            occurred_at=datetime.now(UTC),
            agency=A,
            outgoing_reference="DGK-OUT-3",
        )
    )
    await dms.publish([*a_letter, *b_letter, *ours])
    await eventually(
        lambda: count(gateway.engine), lambda n: n == len(a_letter) + len(b_letter) + len(ours)
    )
    partners = Partners(gateway)
    await partners.start()
    try:
        by_number = await partners.ask(A, StatusQuery(header(A), LetterRef(registration_number(1))))
        by_ref = await partners.ask(
            A, StatusQuery(header(A), LetterRef(sender_reference="AZ-VXM-00001"))
        )
        [r1], [r2] = by_number.results, by_ref.results
        assert isinstance(r1.result, PartnerLetterView) and isinstance(r2.result, PartnerLetterView)
        assert r1.result.registration_number == r2.result.registration_number

        # Scope: B sees neither A's letter (by number or reference) nor our letter to A.
        for ref in (
            LetterRef(registration_number(1)),
            LetterRef(sender_reference="AZ-VXM-00001"),
            LetterRef(registration_number(3)),
            LetterRef(registration_number(999)),
        ):
            [r] = (await partners.ask(B, StatusQuery(header(B), ref))).results
            assert r.result == FaultView(Fault.NOT_FOUND), ref

        batch = await partners.ask(
            A,
            BatchStatusQuery(
                header(A),
                (
                    BatchItem("mine", LetterRef(registration_number(1))),
                    BatchItem("theirs", LetterRef(registration_number(2))),
                    BatchItem("sent-to-us", LetterRef(registration_number(3))),
                    BatchItem("garbled", LetterRef("???")),
                ),
            ),
        )
        results = {r.item_id: r.result for r in batch.results}
        assert isinstance(results["mine"], PartnerLetterView)
        assert isinstance(results["sent-to-us"], PartnerLetterView)
        assert results["theirs"] == FaultView(Fault.NOT_FOUND)
        assert results["garbled"].code is Fault.MALFORMED_REGISTRATION_NUMBER

        report = OutcomeReport(
            header(A),
            registration_number(3),
            PartnerOutcome.RECEIVED,
            datetime.now(UTC),
            "VXM-IN-1",
        )
        assert (await partners.ask(A, report)).accepted == OutcomeAccepted(registration_number(3))

        spoofed = await partners.ask(B, StatusQuery(header(A), LetterRef(registration_number(1))))
        assert spoofed.fault == FaultView(Fault.ACCESS_DENIED)
        not_allowed = await partners.ask(
            B, BatchStatusQuery(header(B), (BatchItem("x", LetterRef(registration_number(2))),))
        )
        assert not_allowed.fault is not None and not_allowed.fault.code is Fault.ACCESS_DENIED
    finally:
        await partners.stop()


async def test_notifications_are_ordered_and_exactly_once_across_a_restart(
    settings: Settings, dms: DmsPublisher
):
    events = letter_events(4, random.Random(4), forwarded_by=A)
    number = registration_number(4)
    async with running(settings) as gateway:
        codec = gateway.partner_codec
        topic = next(p for p in gateway.partners if p.code == A.code).notification_topic
        await dms.publish(events)
        await eventually(
            lambda: read_topic(settings, topic), lambda found: len(found) == len(events)
        )
    more = [
        StatusChanged(
            event_id=uuid.uuid4(),
            registration_number=number,
            sequence=len(events) + 1,
            occurred_at=datetime.now(UTC),
            status=Status.IN_PROGRESS,
            public_note="Yenidən baxılır",
        )
    ]
    async with running(settings):
        await dms.publish([*events, *more])  # redelivered old ones and one new change
        await eventually(
            lambda: read_topic(settings, topic), lambda found: len(found) >= len(events) + 1
        )
        await asyncio.sleep(1.0)  # room for a wrong duplicate to show up
        found = await read_topic(settings, topic)
    notes = [codec.decode_notification(r.value) for r in found]
    assert [n.sequence for n in notes] == list(range(1, len(events) + 2))
    assert {n.registration_number for n in notes} == {number}
    assert all(r.key == number.encode() for r in found)
