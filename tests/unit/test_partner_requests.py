"""The partner use case on an in-memory store: identity from the topic, scope, batches, outcome
reports and status-change notifications."""

from __future__ import annotations

import random
import re
import uuid
from datetime import UTC, datetime

import pytest

from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import Agency, LetterForwarded
from gateway.domain.partners import (
    BatchItem,
    BatchStatusQuery,
    ItemResult,
    LetterRef,
    Operation,
    OutcomeAccepted,
    OutcomeReport,
    Partner,
    PartnerLetterView,
    PartnerOutcome,
    StatusQuery,
)
from gateway.domain.requests import Fault, FaultView, RequestHeader
from gateway.domain.texts import Language
from gateway.reference.status_texts import status_texts
from gateway.services.audited_requests import AuditedRequestHandler, Delivery
from gateway.services.ingestion import ingest_events
from gateway.services.partner_requests import PartnerRequests
from gateway.tools.simulator import letter_events
from gateway.xmlcodec.egov import fault_for
from tests.support.deadlines import shipped_deadlines
from tests.support.fakes import FakeStore, FakeUnitOfWork

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
hasher = IdentifierHasher(b"k")
ALL = frozenset(Operation)
A = Partner("AZ-VXM", "Vergilər Nazirliyi", "p.a.req", "p.a.rep", "p.a.not", ALL)
B = Partner(
    "AZ-DSX", "Sərhəd Xidməti", "p.b.req", "p.b.rep", "p.b.not", frozenset({Operation.STATUS})
)


class CannedCodec:
    """Requests are registered under their bytes; replies are the result objects themselves."""

    fault_for = staticmethod(fault_for)

    def __init__(self) -> None:
        self.requests: dict[bytes, object] = {}
        self.replies: dict[bytes, object] = {}

    def register(self, request: object) -> bytes:
        raw = uuid.uuid4().bytes
        self.requests[raw] = request
        return raw

    def decode_request(self, raw: bytes):  # type: ignore[no-untyped-def]
        return self.requests[raw]

    def encode_reply(self, header, request_sha256, result) -> bytes:  # type: ignore[no-untyped-def]
        raw = uuid.uuid4().bytes
        self.replies[raw] = result
        return raw


def header(client: str) -> RequestHeader:
    return RequestHeader(client, "partner-letter-status", str(uuid.uuid4()), "1.0")


def forwarded_letter(index: int, by: Partner) -> list:
    """A letter the partner forwarded to us, with the partner's own reference."""
    return letter_events(index, random.Random(index), forwarded_by=Agency(by.code, by.name))


@pytest.fixture
def world():
    store, codec = FakeStore(), CannedCodec()
    service = PartnerRequests(
        {A.request_topic: A, B.request_topic: B},
        codec,
        re.compile(r"[A-Z]{2,5}-[0-9]{4}-[0-9]{4,8}"),
        3,
        lambda: NOW,
        shipped_deadlines(),
    )
    handler = AuditedRequestHandler(service, lambda: FakeUnitOfWork(store), lambda: NOW)

    async def ask(partner: Partner, request: object):
        raw = codec.register(request)
        decision = await handler.handle(
            raw, Delivery(partner.request_topic, partner.reply_topic, "c-1")
        )
        return codec.replies[decision.reply]

    async def load(events) -> None:
        await ingest_events(
            events,
            FakeUnitOfWork(store),
            hasher,
            lambda: NOW,
            notify_partners=frozenset({A.code, B.code}),
        )

    return store, ask, load


def only(result) -> PartnerLetterView | FaultView:
    assert isinstance(result, tuple) and len(result) == 1 and isinstance(result[0], ItemResult)
    return result[0].result


async def test_a_partner_sees_its_letter_by_number_and_by_its_own_reference(world):
    store, ask, load = world
    await load(forwarded_letter(1, A))
    number = "DGK-2026-000001"
    by_number = only(await ask(A, StatusQuery(header(A.code), LetterRef(number))))
    by_ref = only(
        await ask(A, StatusQuery(header(A.code), LetterRef(sender_reference="AZ-VXM-00001")))
    )
    assert isinstance(by_number, PartnerLetterView) and isinstance(by_ref, PartnerLetterView)
    assert by_number.registration_number == by_ref.registration_number == number
    assert by_ref.sender_reference == "AZ-VXM-00001"
    # the same legal deadline the applicant sees, explained in Azerbaijani unless asked
    assert by_number.deadline is not None and by_number.explanation is not None
    assert by_number.explanation.language is Language.AZ
    assert by_number.explanation.deadline == status_texts().deadline(
        by_number.deadline.state, Language.AZ
    )
    in_russian = only(
        await ask(A, StatusQuery(header(A.code), LetterRef(number), language=Language.RU))
    )
    assert isinstance(in_russian, PartnerLetterView) and in_russian.explanation is not None
    assert in_russian.explanation.status == status_texts().status(in_russian.status, Language.RU)


async def test_another_partners_letter_is_exactly_not_found(world):
    store, ask, load = world
    await load(forwarded_letter(2, A))
    by_number = only(await ask(B, StatusQuery(header(B.code), LetterRef("DGK-2026-000002"))))
    by_ref = only(
        await ask(B, StatusQuery(header(B.code), LetterRef(sender_reference="AZ-VXM-00002")))
    )
    absent = only(await ask(B, StatusQuery(header(B.code), LetterRef("DGK-2026-999999"))))
    assert by_number == by_ref == absent == FaultView(Fault.NOT_FOUND)


async def test_a_header_naming_another_client_is_refused_and_audited(world):
    store, ask, load = world
    await load(forwarded_letter(3, A))
    reply = await ask(B, StatusQuery(header(A.code), LetterRef("DGK-2026-000003")))
    assert reply == FaultView(Fault.ACCESS_DENIED)
    assert [(e.client_id, e.request_topic, e.outcome) for e in store.audit] == [
        (A.code, B.request_topic, "ACCESS_DENIED")
    ]


async def test_an_operation_outside_the_partners_role_is_refused(world):
    _, ask, _ = world
    batch = BatchStatusQuery(header(B.code), (BatchItem("1", LetterRef("DGK-2026-000001")),))
    assert await ask(B, batch) == FaultView(Fault.ACCESS_DENIED, "operation")


async def test_a_batch_answers_or_faults_each_item_on_its_own(world):
    _, ask, load = world
    await load(forwarded_letter(4, A))
    batch = BatchStatusQuery(
        header(A.code),
        (
            BatchItem("ok", LetterRef("DGK-2026-000004")),
            BatchItem("bad", LetterRef("nonsense")),
            BatchItem("ref", LetterRef(sender_reference="AZ-VXM-00004")),
        ),
    )
    results = {r.item_id: r.result for r in await ask(A, batch)}
    assert isinstance(results["ok"], PartnerLetterView)
    assert results["bad"] == FaultView(Fault.MALFORMED_REGISTRATION_NUMBER)
    assert isinstance(results["ref"], PartnerLetterView)


async def test_a_batch_over_the_limit_is_refused_whole(world):
    _, ask, _ = world
    items = tuple(BatchItem(str(i), LetterRef("DGK-2026-000001")) for i in range(4))
    reply = await ask(A, BatchStatusQuery(header(A.code), items))
    assert isinstance(reply, FaultView) and reply.code is Fault.INVALID_REQUEST


async def test_outcome_reports_are_accepted_only_for_letters_we_forwarded_to_that_partner(world):
    store, ask, load = world
    events = letter_events(5, random.Random(5))
    last = max(e.sequence for e in events)
    events.append(
        LetterForwarded(
            event_id=uuid.uuid4(),
            registration_number="DGK-2026-000005",
            sequence=last + 1,
            occurred_at=NOW,
            agency=Agency(A.code, A.name),
            outgoing_reference="OUT-5",
        )
    )
    await load(events)
    report = OutcomeReport(
        header(A.code), "DGK-2026-000005", PartnerOutcome.RECEIVED, NOW, "VXM-IN-77"
    )
    assert await ask(A, report) == OutcomeAccepted("DGK-2026-000005")
    assert [r.partner_reference for r in store.reports] == ["VXM-IN-77"]
    stranger = OutcomeReport(header(A.code), "DGK-2026-000006", PartnerOutcome.ANSWERED, NOW)
    assert await ask(A, stranger) == FaultView(Fault.NOT_FOUND)


async def test_every_change_of_a_forwarded_letter_is_queued_once_for_its_partner(world):
    store, _, load = world
    events = forwarded_letter(7, A)
    await load(events)
    await load(events)  # redelivered: nothing new
    queued = sorted(store.partner_notifications)
    assert queued == [(A.code, "DGK-2026-000007", e.sequence) for e in events]


async def test_changes_before_the_registration_are_notified_once_it_arrives(world):
    store, _, load = world
    events = forwarded_letter(8, A)
    await load(events[1:])  # the partner is not known yet: nothing to notify
    assert store.partner_notifications == {}
    await load(events[:1])
    assert sorted(seq for _, _, seq in store.partner_notifications) == sorted(
        e.sequence for e in events
    )
