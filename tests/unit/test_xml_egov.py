"""EgovXmlCodec: requests, replies and acceptance notices against the egov corpus."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

import pytest

from gateway.domain.deadlines import DeadlineState
from gateway.domain.letters import (
    Applicant,
    ApplicantKind,
    Channel,
    HistoryEntry,
    LetterRegistered,
    Status,
)
from gateway.domain.registration import RegistrationNumber
from gateway.domain.requests import (
    Fault,
    FaultView,
    RequestHeader,
    StatusRequest,
    StatusView,
)
from gateway.domain.status_notices import NoticeExtension
from gateway.domain.texts import Language
from gateway.xmlcodec import (
    AcceptanceNotice,
    DecodeError,
    DecodeFault,
    EgovXmlCodec,
    fault_for,
    parse_untrusted,
)

EGOV = Path(__file__).resolve().parents[2] / "schemas" / "egov" / "v1"
EXAMPLES = EGOV / "examples"
EXPECTED = json.loads((EGOV / "invalid" / "expected.json").read_text(encoding="utf-8"))
PATTERN = re.compile(r"[A-Z]{2,5}-[0-9]{4}-[0-9]{3,8}")  # a test pattern
BAKU = timezone(timedelta(hours=4))


@pytest.fixture(scope="module")
def codec() -> EgovXmlCodec:
    return EgovXmlCodec()


def _decoder(codec: EgovXmlCodec, kind: str):
    return {
        "request": codec.decode_request,
        "reply": codec.decode_reply,
        "notice": codec.decode_notice,
        "status-notice": codec.decode_status_notice,
    }[kind]


def test_example_requests_ask_for_letters_the_quick_start_simulates() -> None:
    """`simulate-dms --letters 50` registers these letters for these applicants, so sending an
    example to a gateway fed that way gets a status, not NOT_FOUND."""
    from gateway.tools.simulator import applicant_for, registration_number

    quick_start = {registration_number(i): applicant_for(i).identifier for i in range(1, 51)}
    for name in ("request-person.xml", "request-company.xml", "request-call-center.xml"):
        request = EgovXmlCodec().decode_request((EXAMPLES / name).read_bytes())
        number = RegistrationNumber.parse(request.registration_number, PATTERN)
        assert number in quick_start, name
        assert request.header.user_id in (None, quick_start[number]), name


def test_invalid_manifest_is_complete() -> None:
    on_disk = {p.name for p in (EGOV / "invalid").glob("*.xml")}
    assert on_disk == set(EXPECTED)
    assert {p.name for p in EXAMPLES.glob("*.xml")} >= {
        "request-person.xml",
        "request-company.xml",
        "request-call-center.xml",
        "reply-status.xml",
        "reply-fault.xml",
        "notice.xml",
    }


# ---- requests ------------------------------------------------------------------------


def test_person_request(codec: EgovXmlCodec) -> None:
    request = codec.decode_request((EXAMPLES / "request-person.xml").read_bytes())
    assert request == StatusRequest(
        RequestHeader(
            client_id="AZ/GOV/egov-portal",
            service_code="customs-letter-status",
            message_id="b7a3f0d2-5c1e-4a9b-8f64-2e7d9c1a3b50",
            protocol_version="1.0",
            user_id="L9R346P",
            user_kind=ApplicantKind.PERSON,
            auth_level="enhanced-signature",
        ),
        "DGK-2026-000007",
    )


def test_company_request_keeps_the_number_as_sent(codec: EgovXmlCodec) -> None:
    request = codec.decode_request((EXAMPLES / "request-company.xml").read_bytes())
    assert request.header.user_kind is ApplicantKind.COMPANY
    assert request.header.user_id == "7970309701"
    assert request.registration_number == " dgk-2026-000005 "
    assert RegistrationNumber.parse(request.registration_number, PATTERN) == "DGK-2026-000005"


def test_call_center_request(codec: EgovXmlCodec) -> None:
    request = codec.decode_request((EXAMPLES / "request-call-center.xml").read_bytes())
    assert request.header.operator_id == "OP-0318"
    assert request.header.user_id is None and request.header.auth_level is None


def test_a_password_sign_in_is_schema_valid_and_decoded_with_its_auth_level(
    codec: EgovXmlCodec,
) -> None:
    """Regulation 3.1 is the gateway's rule, not the schema's: the request decodes, and the
    service refuses it (tests/unit/test_status_requests_auth_level.py)."""
    request = codec.decode_request((EXAMPLES / "request-password.xml").read_bytes())
    assert request.header.auth_level == "password"


def test_the_auth_level_fault_reply_is_valid_v1(codec: EgovXmlCodec) -> None:
    request = codec.decode_request((EXAMPLES / "request-password.xml").read_bytes())
    raw = codec.encode_reply(request.header, "a" * 64, FaultView(Fault.AUTH_LEVEL_NOT_ACCEPTED))
    reply = codec.decode_reply(raw)  # decoding validates against the XSD
    assert reply.fault == FaultView(Fault.AUTH_LEVEL_NOT_ACCEPTED)
    assert b"<code>AUTH_LEVEL_NOT_ACCEPTED</code>" in raw
    assert reply.header == request.header


@pytest.mark.parametrize(
    "name",
    [
        "request-person.xml",
        "request-company.xml",
        "request-call-center.xml",
        "request-password.xml",
        "request-person-russian.xml",
    ],
)
def test_request_round_trips(codec: EgovXmlCodec, name: str) -> None:
    request = codec.decode_request((EXAMPLES / name).read_bytes())
    assert codec.decode_request(codec.encode_request(request)) == request


def test_request_without_number_round_trips(codec: EgovXmlCodec) -> None:
    request = codec.decode_request((EXAMPLES / "request-person.xml").read_bytes())
    bare = StatusRequest(request.header, None)
    assert codec.decode_request(codec.encode_request(bare)) == bare


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_case(codec: EgovXmlCodec, name: str) -> None:
    """Each case gets its decode code and path, the fault the requester would see, and
    the header echo (message id) that a fault reply can carry."""
    expected = EXPECTED[name]
    raw = (EGOV / "invalid" / name).read_bytes()
    decode = _decoder(codec, expected["decoder"])
    if expected["code"] is None:  # schema-valid; refused by RegistrationNumber.parse
        request = decode(raw)
        verdict = RegistrationNumber.parse(request.registration_number, PATTERN)
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
        assert fault_for(error).code == Fault(expected["fault"])
        echoed = error.header.message_id if error.header else None
        assert echoed == expected["header_id"]
        # a fault reply for it can always be encoded, echoing the salvaged header
        reply = codec.encode_reply(error.header, hashlib.sha256(raw).hexdigest(), fault_for(error))
        assert codec.decode_reply(reply).fault == fault_for(error)


def test_fault_for() -> None:
    assert fault_for(
        DecodeError(DecodeFault.SCHEMA_INVALID, "x", path="/StatusRequest")
    ) == FaultView(Fault.INVALID_REQUEST, "/StatusRequest")
    assert fault_for(DecodeError(DecodeFault.FORBIDDEN_CONSTRUCT)) == FaultView(
        Fault.INVALID_REQUEST, "FORBIDDEN_CONSTRUCT"
    )
    assert fault_for(DecodeError(DecodeFault.UNSUPPORTED_VERSION)).code is Fault.UNSUPPORTED_VERSION


def test_other_protocol_versions_can_be_served() -> None:
    codec = EgovXmlCodec(protocol_versions=frozenset({"1.0", "1.1"}))
    raw = (EXAMPLES / "request-person.xml").read_bytes().replace(b">1.0<", b">1.1<")
    assert codec.decode_request(raw).header.protocol_version == "1.1"


# ---- replies -------------------------------------------------------------------------


def _view() -> StatusView:
    return StatusView(
        registration_number="DGK-2026-004127",
        registration_date=date(2026, 3, 2),
        status=Status.IN_PROGRESS,
        last_change_at=datetime(2026, 3, 5, 10, 5, 12, tzinfo=BAKU),
        department_code="GOBI",
        department_name="Gömrük Ödənişləri Baş İdarəsi",
        executor_name="Hüseynova Aynur Elxan qızı",
        executor_phone="+994 12 404 12 34",
        due_date=date(2026, 4, 1),
        history=(
            HistoryEntry(1, Status.REGISTERED, datetime(2026, 3, 2, 9, 15, 27, tzinfo=BAKU)),
            HistoryEntry(2, Status.ASSIGNED, datetime(2026, 3, 2, 14, 40, tzinfo=BAKU)),
            HistoryEntry(
                3, Status.IN_PROGRESS, datetime(2026, 3, 5, 10, 5, 12, tzinfo=BAKU), "Baxılır"
            ),
        ),
        as_of=datetime(2026, 3, 11, 8, 0, 3, 125000, tzinfo=UTC),
    )


def test_status_reply_example(codec: EgovXmlCodec) -> None:
    reply = codec.decode_reply((EXAMPLES / "reply-status.xml").read_bytes())
    assert reply.fault is None and reply.status is not None
    assert (
        reply.header is not None
        and reply.header.message_id == "b7a3f0d2-5c1e-4a9b-8f64-2e7d9c1a3b50"
    )
    assert reply.status.status is Status.INFO_REQUESTED
    assert reply.status.executor_phone == "+994 12 404 12 34"
    assert [e.sequence for e in reply.status.history] == [1, 2, 3]
    assert reply.status.history[2].note is not None


@pytest.mark.parametrize(
    "name",
    [
        "reply-status.xml",
        "reply-status-deadline.xml",
        "reply-fault.xml",
        "reply-fault-no-header.xml",
        "reply-fault-auth-level.xml",
    ],
)
def test_reply_examples_round_trip(codec: EgovXmlCodec, name: str) -> None:
    reply = codec.decode_reply((EXAMPLES / name).read_bytes())
    result = reply.status if reply.status is not None else reply.fault
    again = codec.decode_reply(codec.encode_reply(reply.header, reply.request_hash, result))
    assert again == reply


def test_status_reply_round_trip_with_labels(codec: EgovXmlCodec) -> None:
    header = codec.decode_request((EXAMPLES / "request-person.xml").read_bytes()).header
    digest = hashlib.sha256(b"request").hexdigest()
    raw = codec.encode_reply(header, digest, _view())
    assert "<labelAz>İcradadır</labelAz>".encode() in raw  # from the texts catalogue
    assert b"<labelEn>In progress</labelEn>" in raw
    reply = codec.decode_reply(raw)
    assert reply.header == header and reply.request_hash == digest
    assert reply.status == _view() and reply.fault is None


def test_minimal_status_reply(codec: EgovXmlCodec) -> None:
    view = StatusView(
        registration_number="DGK-2026-000001",
        registration_date=None,
        status=Status.REGISTERED,
        last_change_at=datetime(2026, 1, 1, tzinfo=UTC),
        department_code=None,
        department_name=None,
        executor_name=None,
        executor_phone=None,
        due_date=None,
        history=(),
        as_of=datetime(2026, 1, 1, tzinfo=UTC),
    )
    reply = codec.decode_reply(codec.encode_reply(None, "0" * 64, view))
    assert reply.status == view and reply.header is None


def test_fault_reply_caps_the_detail(codec: EgovXmlCodec) -> None:
    raw = codec.encode_reply(None, "a" * 64, FaultView(Fault.INVALID_REQUEST, "/x" * 1000))
    reply = codec.decode_reply(raw)
    assert reply.fault is not None and reply.fault.code is Fault.INVALID_REQUEST
    assert reply.fault.detail is not None and len(reply.fault.detail) <= 300
    assert FaultView(Fault.INVALID_REQUEST).message.encode() in raw


def test_encode_reply_refuses_invalid_input(codec: EgovXmlCodec) -> None:
    with pytest.raises(ValueError):
        codec.encode_reply(None, "not-a-hash", FaultView(Fault.NOT_FOUND))
    with pytest.raises(ValueError, match="time zone"):
        codec.encode_reply(
            None, "a" * 64, StatusView(**{**_view().__dict__, "as_of": datetime(2026, 1, 1)})
        )
    with pytest.raises(ValueError):  # a department needs both code and name
        codec.encode_reply(
            None, "a" * 64, StatusView(**{**_view().__dict__, "department_name": None})
        )


# ---- acceptance notices ----------------------------------------------------------------


def test_notice_example_and_round_trip(codec: EgovXmlCodec) -> None:
    notice = codec.decode_notice((EXAMPLES / "notice.xml").read_bytes())
    assert notice == AcceptanceNotice(
        notice_id=UUID("3f6c2a1e-8b4d-4e2f-9a7c-1d5e8f0b2c41"),
        registration_number="DGK-2026-004127",
        registration_date=date(2026, 3, 2),
        channel=Channel.EGOV_PORTAL,
        user_id="5ZK3R8P",
        user_kind=ApplicantKind.PERSON,
    )
    assert codec.decode_notice(codec.encode_notice(notice)) == notice


def test_notice_from_registration_event(codec: EgovXmlCodec) -> None:
    event = LetterRegistered(
        event_id=UUID(int=7),
        registration_number="DGK-2026-000007",
        sequence=1,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        registration_date=date(2026, 1, 1),
        channel=Channel.WEBSITE,
        applicant=Applicant(ApplicantKind.COMPANY, "1401234561", "Xəzər Logistika MMC"),
        subject="s",
    )
    notice = AcceptanceNotice.for_registration(event)
    assert notice is not None
    assert notice.notice_id == event.event_id and notice.user_kind is ApplicantKind.COMPANY
    root = parse_untrusted(codec.encode_notice(notice))
    assert codec.gate.lxml_accepts(root) and codec.gate.xmlschema_accepts(root)


def test_status_change_notice_example_and_round_trip(codec: EgovXmlCodec) -> None:
    notice = codec.decode_status_notice((EXAMPLES / "status-change-notice.xml").read_bytes())
    assert (notice.registration_number, notice.sequence, notice.status) == (
        "DGK-2026-004127",
        3,
        Status.INFO_REQUESTED,
    )
    assert notice.department is not None and notice.department.code == "GOBI"
    assert notice.executor_phone == "+994 12 404 12 34" and notice.answer_date is None
    assert codec.decode_status_notice(codec.encode_status_notice(notice)) == notice
    answered = replace(notice, department=None, executor_name=None, executor_phone=None,
                       answer_date=date(2026, 3, 20))  # fmt: skip
    assert codec.decode_status_notice(codec.encode_status_notice(answered)) == answered
    assert notice.extension is None  # today's notices stay valid: the extension is optional


def test_a_status_change_notice_tells_of_an_extension(codec: EgovXmlCodec) -> None:
    raw = (EXAMPLES / "status-change-notice-extended.xml").read_bytes()
    notice = codec.decode_status_notice(raw)
    assert notice.extension == NoticeExtension(
        date(2026, 4, 21),
        10,
        "Gömrük dəyəri barədə xarici gömrük orqanına sorğu göndərilib.",
        provisional=False,
    )
    assert codec.decode_status_notice(codec.encode_status_notice(notice)) == notice
    markup = NoticeExtension(date(2027, 1, 4), 30, ' <b>a</b> & "b" ', provisional=True)
    provisional = replace(notice, extension=markup)
    assert codec.decode_status_notice(codec.encode_status_notice(provisional)) == provisional


def test_decoders_refuse_each_others_messages(codec: EgovXmlCodec) -> None:
    notice = (EXAMPLES / "notice.xml").read_bytes()
    request = (EXAMPLES / "request-person.xml").read_bytes()
    for decode, raw in [
        (codec.decode_reply, notice),
        (codec.decode_notice, request),
        (codec.decode_request, notice),
    ]:
        with pytest.raises(DecodeError) as caught:
            decode(raw)
        assert caught.value.code is DecodeFault.UNKNOWN_MESSAGE_TYPE


def test_the_language_is_optional_and_defaults_to_azerbaijani(codec: EgovXmlCodec) -> None:
    plain = codec.decode_request((EXAMPLES / "request-person.xml").read_bytes())
    russian = codec.decode_request((EXAMPLES / "request-person-russian.xml").read_bytes())
    assert plain.language is Language.AZ and russian.language is Language.RU
    assert b"<language>" not in codec.encode_request(plain)  # today's requests unchanged


def test_a_reply_carries_the_deadline_and_its_explanation(codec: EgovXmlCodec) -> None:
    reply = codec.decode_reply((EXAMPLES / "reply-status-deadline.xml").read_bytes())
    assert reply.status is not None and reply.status.deadline is not None
    deadline, explanation = reply.status.deadline, reply.status.explanation
    assert deadline.due_date == date(2026, 4, 30) == reply.status.due_date
    assert (deadline.state, deadline.working_days_left) == (DeadlineState.ON_TIME, 4)
    assert deadline.extension is not None and deadline.extension.applied_days == 20
    assert deadline.extension.applicant_told
    assert explanation is not None and explanation.language is Language.EN
    assert explanation.status.label == "In progress"
    assert [note.label for note in explanation.notes] == ["Time limit extended"]
