"""PartnerXmlCodec: partner requests, replies and status-change notifications against the
partner corpus (schemas/partner/v1)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.domain.letters import Status
from gateway.domain.partners import (
    BatchItem,
    BatchStatusQuery,
    ItemResult,
    LetterRef,
    OutcomeAccepted,
    OutcomeReport,
    PartnerLetterView,
    PartnerOutcome,
    StatusChangeNotification,
    StatusQuery,
)
from gateway.domain.registration import RegistrationNumber
from gateway.domain.requests import (
    Fault,
    FaultView,
    RequestHeader,
)
from gateway.domain.texts import Language
from gateway.xmlcodec import DecodeError, DecodeFault, fault_for, parse_untrusted
from gateway.xmlcodec.partner import PARTNER_NAMESPACE, PartnerReply, PartnerXmlCodec

PARTNER = Path(__file__).resolve().parents[2] / "schemas" / "partner" / "v1"
EXAMPLES = PARTNER / "examples"
INVALID = PARTNER / "invalid"
EXPECTED = json.loads((INVALID / "expected.json").read_text(encoding="utf-8"))
PATTERN = re.compile(r"[A-Z]{2,5}-[0-9]{4}-[0-9]{3,8}")  # a test pattern
BAKU = timezone(timedelta(hours=4))
HEADER = RequestHeader(
    client_id="AZ-VXM",
    service_code="customs-letter-status",
    message_id="VXM-2026-03-12-000417",
    protocol_version="1.0",
)
DIGEST = hashlib.sha256(b"request").hexdigest()


@pytest.fixture(scope="module")
def codec() -> PartnerXmlCodec:
    return PartnerXmlCodec()


def _decoder(codec: PartnerXmlCodec, kind: str):
    return {
        "request": codec.decode_request,
        "reply": codec.decode_reply,
        "notification": codec.decode_notification,
    }[kind]


def _view(**changes: Any) -> PartnerLetterView:
    view = PartnerLetterView(
        registration_number="DGK-2026-004127",
        registration_date=date(2026, 3, 2),
        sender_reference="VXM/2026/01-3381",
        status=Status.IN_PROGRESS,
        last_change_at=datetime(2026, 3, 5, 10, 5, 12, tzinfo=BAKU),
        department_code="GOBI",
        department_name="Gömrük Ödənişləri Baş İdarəsi",
        answer_date=None,
        as_of=datetime(2026, 3, 12, 9, 0, 1, 500000, tzinfo=UTC),
    )
    return replace(view, **changes)


def _batch(count: int) -> bytes:
    items = "".join(
        f'<item ref="{i}"><senderReference>R-{i}</senderReference></item>' for i in range(count)
    )
    return (
        f'<PartnerRequest xmlns="{PARTNER_NAMESPACE}"><header><client>AZ-VXM</client>'
        "<service>s</service><id>m-1</id><protocolVersion>1.0</protocolVersion></header>"
        f"<batchStatus>{items}</batchStatus></PartnerRequest>"
    ).encode()


def test_corpus_manifest_is_complete() -> None:
    assert {p.name for p in INVALID.glob("*.xml")} == set(EXPECTED)
    assert {p.name for p in EXAMPLES.glob("*.xml")} == {
        "request-status-number.xml",
        "request-status-number-english.xml",
        "request-status-reference.xml",
        "request-batch.xml",
        "request-outcome.xml",
        "reply-results.xml",
        "reply-results-deadline.xml",
        "reply-accepted.xml",
        "reply-fault.xml",
        "notification.xml",
    }


# ---- requests ------------------------------------------------------------------------


def test_status_by_number(codec: PartnerXmlCodec) -> None:
    request = codec.decode_request((EXAMPLES / "request-status-number.xml").read_bytes())
    assert request == StatusQuery(HEADER, LetterRef(registration_number="DGK-2026-004127"))


def test_status_by_reference(codec: PartnerXmlCodec) -> None:
    request = codec.decode_request((EXAMPLES / "request-status-reference.xml").read_bytes())
    assert isinstance(request, StatusQuery)
    assert request.header.message_id == "VXM-2026-03-12-000418"
    assert request.ref == LetterRef(sender_reference="VXM/2026/01-3381")


def test_batch_keeps_numbers_as_sent(codec: PartnerXmlCodec) -> None:
    request = codec.decode_request((EXAMPLES / "request-batch.xml").read_bytes())
    assert isinstance(request, BatchStatusQuery)
    assert request.items == (
        BatchItem("1", LetterRef(registration_number="DGK-2026-004127")),
        BatchItem("2", LetterRef(sender_reference="VXM/2026/01-3381")),
        BatchItem("3", LetterRef(registration_number=" dgk-2026-004188 ")),
        BatchItem("4", LetterRef(registration_number="12345")),
    )
    verdicts = [
        RegistrationNumber.parse(item.ref.registration_number, PATTERN)
        for item in request.items[2:]
    ]
    assert verdicts == ["DGK-2026-004188", Fault.MALFORMED_REGISTRATION_NUMBER]


def test_outcome_report(codec: PartnerXmlCodec) -> None:
    request = codec.decode_request((EXAMPLES / "request-outcome.xml").read_bytes())
    assert request == OutcomeReport(
        header=replace(
            HEADER, service_code="customs-letter-outcome", message_id="VXM-2026-03-14-000021"
        ),
        registration_number="DGK-2026-003990",
        outcome=PartnerOutcome.ANSWERED,
        at=datetime(2026, 3, 14, 11, 20, tzinfo=BAKU),
        partner_reference="VXM/IN/2026/7710",
        note="Ərizəçiyə 14.03.2026 tarixli məktubla cavab verilib.",
    )


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("request-*.xml")))
def test_request_examples_round_trip(codec: PartnerXmlCodec, name: str) -> None:
    request = codec.decode_request((EXAMPLES / name).read_bytes())
    assert codec.decode_request(codec.encode_request(request)) == request


def test_minimal_outcome_round_trips(codec: PartnerXmlCodec) -> None:
    report = OutcomeReport(HEADER, "DGK-2026-000001", PartnerOutcome.RECEIVED, datetime.now(UTC))
    assert codec.decode_request(codec.encode_request(report)) == report


def test_batch_size_is_capped_by_the_schema_only_at_1000(codec: PartnerXmlCodec) -> None:
    assert len(codec.decode_request(_batch(1000)).items) == 1000  # type: ignore[union-attr]
    with pytest.raises(DecodeError) as caught:
        codec.decode_request(_batch(1001))
    assert caught.value.code is DecodeFault.SCHEMA_INVALID
    assert caught.value.path == "/PartnerRequest/batchStatus"
    assert caught.value.header is not None and caught.value.header.message_id == "m-1"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_case(codec: PartnerXmlCodec, name: str) -> None:
    """Each case gets its decode code and path, the fault the partner would see, and the
    header echo (message id) that a fault reply can carry."""
    expected = EXPECTED[name]
    raw = (INVALID / name).read_bytes()
    decode = _decoder(codec, expected["decoder"])
    if expected["code"] is None:  # schema-valid; refused by RegistrationNumber.parse
        request = decode(raw)
        assert isinstance(request, StatusQuery)
        verdict = RegistrationNumber.parse(request.ref.registration_number, PATTERN)
        assert verdict is Fault(expected["fault"])
        assert request.header.message_id == expected["header_id"]
        return
    with pytest.raises(DecodeError) as caught:
        decode(raw)
    error = caught.value
    assert error.code == DecodeFault(expected["code"])
    assert error.path == expected.get("path")
    assert len(error.detail) <= 300
    if expected["decoder"] == "request":
        assert codec.fault_for(error).code == Fault(expected["fault"])
        echoed = error.header.message_id if error.header else None
        assert echoed == expected["header_id"]
        # a fault reply for it can always be encoded, echoing the salvaged header
        reply = codec.encode_reply(error.header, hashlib.sha256(raw).hexdigest(), fault_for(error))
        decoded = codec.decode_reply(reply)
        assert decoded.fault == fault_for(error) and decoded.header == error.header


def test_validators_agree_on_the_corpus(codec: PartnerXmlCodec) -> None:
    checked = 0
    for path in sorted(EXAMPLES.glob("*.xml")) + sorted(INVALID.glob("*.xml")):
        try:
            root = parse_untrusted(path.read_bytes())
        except DecodeError:
            continue
        if etree.QName(root).namespace != PARTNER_NAMESPACE:
            continue
        lxml_says = codec.gate.lxml_accepts(root)
        assert lxml_says == codec.gate.xmlschema_accepts(root), path.name
        entry = EXPECTED.get(path.name, {"code": None})  # examples: valid
        if entry["code"] in (None, "SCHEMA_INVALID"):
            assert lxml_says is entry.get("schema_valid", entry["code"] is None), path.name
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<PartnerRequest xmlns="urn:az:customs:appeals:partner:v1">&x;</PartnerRequest>',
            DecodeFault.FORBIDDEN_CONSTRUCT,
        ),
        (
            b'<PartnerRequest xmlns="urn:az:customs:appeals:partner:v1">'
            + b"<a>" * 100
            + b"</a>" * 100
            + b"</PartnerRequest>",
            DecodeFault.TOO_DEEP,
        ),
        (
            (EXAMPLES / "request-batch.xml").read_bytes().replace(b"partner:v1", b"partner:v2"),
            DecodeFault.UNSUPPORTED_VERSION,
        ),
        (
            (EXAMPLES / "request-batch.xml").read_bytes().replace(b">1.0<", b">2.0<"),
            DecodeFault.UNSUPPORTED_VERSION,
        ),
        (b"<PartnerRequest", DecodeFault.NOT_WELL_FORMED),
        ("<PartnerRequest/>".encode("utf-16"), DecodeFault.BAD_ENCODING),
        (b"", DecodeFault.EMPTY),
    ],
    ids=["entity", "too-deep", "namespace-v2", "protocol-2.0", "truncated", "utf16", "empty"],
)
def test_hostile_requests_are_refused(
    codec: PartnerXmlCodec, raw: bytes, code: DecodeFault
) -> None:
    with pytest.raises(DecodeError) as caught:
        codec.decode_request(raw)
    assert caught.value.code is code
    if code is DecodeFault.UNSUPPORTED_VERSION:
        assert codec.fault_for(caught.value).code is Fault.UNSUPPORTED_VERSION
        assert caught.value.header is not None
        assert caught.value.header.message_id == "VXM-2026-03-12-000419"
    else:
        assert codec.fault_for(caught.value) == FaultView(Fault.INVALID_REQUEST, code.value)


def test_size_and_depth_caps_are_configurable() -> None:
    raw = (EXAMPLES / "request-batch.xml").read_bytes()
    with pytest.raises(DecodeError) as caught:
        PartnerXmlCodec(max_bytes=256).decode_request(raw)
    assert caught.value.code is DecodeFault.OVERSIZED
    with pytest.raises(DecodeError) as caught:
        PartnerXmlCodec(max_depth=3).decode_request(raw)
    assert caught.value.code is DecodeFault.TOO_DEEP


def test_other_protocol_versions_can_be_served() -> None:
    codec = PartnerXmlCodec(protocol_versions=frozenset({"1.0", "1.1"}))
    raw = (EXAMPLES / "request-outcome.xml").read_bytes().replace(b">1.0<", b">1.1<")
    assert codec.decode_request(raw).header.protocol_version == "1.1"


def test_fault_for_is_the_status_service_mapping(codec: PartnerXmlCodec) -> None:
    assert PartnerXmlCodec.fault_for is fault_for
    assert codec.fault_for(DecodeError(DecodeFault.SCHEMA_INVALID, path="/x")) == FaultView(
        Fault.INVALID_REQUEST, "/x"
    )


# ---- replies -------------------------------------------------------------------------


def test_results_reply_example(codec: PartnerXmlCodec) -> None:
    reply = codec.decode_reply((EXAMPLES / "reply-results.xml").read_bytes())
    assert reply.accepted is None and reply.fault is None and reply.results is not None
    assert [r.item_id for r in reply.results] == ["1", "2", "3", "4"]
    first, second, third, _ = (r.result for r in reply.results)
    assert isinstance(first, PartnerLetterView) and first.department_code == "GOBI"
    assert isinstance(second, PartnerLetterView)
    assert second.sender_reference == "VXM/2026/01-3381"
    assert second.answer_date == date(2026, 3, 10) and second.department_code is None
    assert third == FaultView(Fault.NOT_FOUND)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("reply-*.xml")))
def test_reply_examples_round_trip(codec: PartnerXmlCodec, name: str) -> None:
    reply = codec.decode_reply((EXAMPLES / name).read_bytes())
    result = reply.results or reply.accepted or reply.fault
    assert result is not None
    assert codec.decode_reply(codec.encode_reply(reply.header, reply.request_hash, result)) == reply


def test_single_status_reply_has_no_ref(codec: PartnerXmlCodec) -> None:
    raw = codec.encode_reply(HEADER, DIGEST, (ItemResult(None, _view()),))
    assert b"ref=" not in raw
    assert "<labelAz>İcradadır</labelAz>".encode() in raw  # from the texts catalogue
    reply = codec.decode_reply(raw)
    assert reply == PartnerReply(HEADER, DIGEST, (ItemResult(None, _view()),), None, None)


def test_accepted_and_fault_replies(codec: PartnerXmlCodec) -> None:
    accepted = codec.decode_reply(codec.encode_reply(None, DIGEST, OutcomeAccepted("DGK-2026-1")))
    assert accepted == PartnerReply(None, DIGEST, None, OutcomeAccepted("DGK-2026-1"), None)
    raw = codec.encode_reply(None, DIGEST, FaultView(Fault.INVALID_REQUEST, "/x" * 1000))
    fault = codec.decode_reply(raw).fault
    assert fault is not None and fault.code is Fault.INVALID_REQUEST
    assert fault.detail is not None and len(fault.detail) <= 300
    assert FaultView(Fault.INVALID_REQUEST).message.encode() in raw


def test_per_item_fault_detail_is_capped(codec: PartnerXmlCodec) -> None:
    results = (ItemResult("a", FaultView(Fault.NOT_FOUND, "x" * 1000)),)
    reply = codec.decode_reply(codec.encode_reply(HEADER, DIGEST, results))
    assert reply.results is not None
    item = reply.results[0].result
    assert isinstance(item, FaultView) and item.detail is not None and len(item.detail) <= 300


@pytest.mark.parametrize(
    ("header", "result"),
    [
        (None, ()),  # no results at all
        (HEADER, (ItemResult("a b", _view()),)),  # whitespace in a ref
        (HEADER, (ItemResult(None, _view(as_of=datetime(2026, 1, 1))),)),  # no time zone
        (HEADER, (ItemResult(None, _view(department_name=None)),)),  # half a department
        (replace(HEADER, user_id="5ZK3R8P"), OutcomeAccepted("DGK-2026-1")),  # not a partner header
        (HEADER, OutcomeAccepted(" ")),  # blank number
    ],
    ids=["empty", "ref-space", "naive-time", "half-department", "user-header", "blank-number"],
)
def test_encode_reply_refuses_invalid_output(
    codec: PartnerXmlCodec, header: RequestHeader | None, result: object
) -> None:
    with pytest.raises(ValueError):
        codec.encode_reply(header, DIGEST, result)  # type: ignore[arg-type]


def test_encode_refuses_a_bad_hash_and_bad_requests(codec: PartnerXmlCodec) -> None:
    with pytest.raises(ValueError):
        codec.encode_reply(None, "not-a-hash", FaultView(Fault.NOT_FOUND))
    duplicate = BatchStatusQuery(
        HEADER, tuple(BatchItem("1", LetterRef(sender_reference=r)) for r in ("a", "b"))
    )
    with pytest.raises(ValueError):  # refs are unique within a batch
        codec.encode_request(duplicate)
    with pytest.raises(ValueError):
        codec.encode_request(BatchStatusQuery(HEADER, ()))


# ---- notifications -----------------------------------------------------------------------


def _notification(**changes: Any) -> StatusChangeNotification:
    notification = StatusChangeNotification(
        partner_code="AZ-VXM",
        registration_number="DGK-2026-003871",
        sender_reference="VXM/2026/01-3381",
        sequence=4,
        status=Status.ANSWERED,
        at=datetime(2026, 3, 10, 16, 30, tzinfo=BAKU),
        note="Cavab məktubu 10.03.2026 tarixində göndərilib.",
    )
    return replace(notification, **changes)


def test_notification_example_and_round_trip(codec: PartnerXmlCodec) -> None:
    notification = codec.decode_notification((EXAMPLES / "notification.xml").read_bytes())
    assert notification == _notification()
    assert notification.notification_id == "AZ-VXM/DGK-2026-003871/4"
    assert codec.decode_notification(codec.encode_notification(notification)) == notification
    minimal = _notification(sender_reference=None, note=None, sequence=2**63 - 1)
    assert codec.decode_notification(codec.encode_notification(minimal)) == minimal


def test_partner_code_comes_from_the_notification_id(codec: PartnerXmlCodec) -> None:
    """Even a code with slashes: the id ends with the message's own number and sequence."""
    odd = _notification(partner_code="AZ/GOV/x", registration_number="A/B-1")
    raw = codec.encode_notification(odd)
    assert codec.decode_notification(raw) == odd
    assert codec.decode_notification(raw, "AZ/GOV/x") == odd
    with pytest.raises(DecodeError) as caught:
        codec.decode_notification(raw, "AZ-VXM")
    assert caught.value.code is DecodeFault.SCHEMA_INVALID
    assert caught.value.path == "/StatusChangeNotification/notificationId"


def test_encode_notification_refuses_invalid_output(codec: PartnerXmlCodec) -> None:
    with pytest.raises(ValueError, match="time zone"):
        codec.encode_notification(_notification(at=datetime(2026, 3, 10, 16, 30)))
    with pytest.raises(ValueError):
        codec.encode_notification(_notification(sequence=0))
    with pytest.raises(ValueError):
        codec.encode_notification(_notification(note="n" * 501))


def test_decoders_refuse_each_others_messages(codec: PartnerXmlCodec) -> None:
    notification = (EXAMPLES / "notification.xml").read_bytes()
    request = (EXAMPLES / "request-status-number.xml").read_bytes()
    reply = (EXAMPLES / "reply-accepted.xml").read_bytes()
    for decode, raw in [
        (codec.decode_reply, notification),
        (codec.decode_notification, request),
        (codec.decode_request, reply),
    ]:
        with pytest.raises(DecodeError) as caught:
            decode(raw)
        assert caught.value.code is DecodeFault.UNKNOWN_MESSAGE_TYPE


def test_a_partner_request_may_name_the_language_of_the_explanations(
    codec: PartnerXmlCodec,
) -> None:
    plain = codec.decode_request((EXAMPLES / "request-status-number.xml").read_bytes())
    english = codec.decode_request((EXAMPLES / "request-status-number-english.xml").read_bytes())
    assert isinstance(plain, StatusQuery) and isinstance(english, StatusQuery)
    assert (plain.language, english.language) == (Language.AZ, Language.EN)
    assert b"<language>" not in codec.encode_request(plain)
