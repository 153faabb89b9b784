"""DmsXmlCodec: the example corpus, the invalid corpus and encode/decode round trips."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.letters import (
    Agency,
    Applicant,
    ApplicantKind,
    Channel,
    DeadlineClass,
    Department,
    Executor,
    LetterAssigned,
    LetterConcluded,
    LetterExtended,
    LetterForwarded,
    LetterRegistered,
    Status,
    StatusChanged,
)
from gateway.domain.registration import DEFAULT_PATTERN
from gateway.settings import Settings
from gateway.xmlcodec import DecodeError, DecodeFault, DmsXmlCodec, parse_untrusted
from gateway.xmlcodec.dms import MESSAGE_TYPES
from gateway.xmlcodec.loading import load_codecs

DMS = Path(__file__).resolve().parents[2] / "schemas" / "dms" / "v1"
EXAMPLES = sorted((DMS / "examples").glob("*.xml"))
EXPECTED = json.loads((DMS / "invalid" / "expected.json").read_text(encoding="utf-8"))
BAKU = timezone(timedelta(hours=4))


@pytest.fixture(scope="module")
def codec() -> DmsXmlCodec:
    return DmsXmlCodec()


def test_corpus_is_complete() -> None:
    roots = {parse_untrusted(p.read_bytes()).tag.split("}")[1] for p in EXAMPLES}
    assert roots == {
        "LetterRegistered",
        "LetterAssigned",
        "StatusChanged",
        "LetterForwarded",
        "LetterExtended",
        "LetterAnswered",
        "LetterClosed",
    }
    on_disk = {p.name for p in (DMS / "invalid").glob("*.xml")}
    assert on_disk == set(EXPECTED), "every invalid file needs an entry in expected.json"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_decodes_and_round_trips(codec: DmsXmlCodec, path: Path) -> None:
    event = codec.decode(path.read_bytes())
    encoded = codec.encode(event)
    root = parse_untrusted(encoded)
    assert codec.gate.lxml_accepts(root) and codec.gate.xmlschema_accepts(root)
    assert codec.decode(encoded) == event


def test_example_values(codec: DmsXmlCodec) -> None:
    registered = codec.decode((DMS / "examples" / "letter-registered.xml").read_bytes())
    assert registered == LetterRegistered(
        event_id=UUID("3f6c2a1e-8b4d-4e2f-9a7c-1d5e8f0b2c41"),
        registration_number="DGK-2026-004127",
        sequence=1,
        occurred_at=datetime(2026, 3, 2, 9, 15, 27, tzinfo=BAKU),
        registration_date=date(2026, 3, 2),
        channel=Channel.EGOV_PORTAL,
        applicant=Applicant(ApplicantKind.PERSON, "5ZK3R8P", "Məmmədov Elçin Rauf oğlu"),
        subject="Artıq ödənilmiş gömrük rüsumunun geri qaytarılması barədə müraciət "
        "(bəyannamə № 10101/020326/0012345).",
        due_date=date(2026, 4, 1),
    )
    forwarded = codec.decode((DMS / "examples" / "letter-registered-forwarded.xml").read_bytes())
    assert isinstance(forwarded, LetterRegistered)
    assert forwarded.applicant == Applicant(
        ApplicantKind.COMPANY, "1401234561", '"Xəzər Logistika" MMC'
    )
    assert forwarded.forwarded_by == Agency(
        "IQTN", "Azərbaycan Respublikasının İqtisadiyyat Nazirliyi"
    )
    assert forwarded.sender_reference == "İN-12/3-0457"
    assert forwarded.occurred_at == datetime(2026, 3, 3, 11, 2, 9, 250000, tzinfo=UTC)
    closed = codec.decode((DMS / "examples" / "letter-closed.xml").read_bytes())
    assert isinstance(closed, LetterConcluded) and closed.outcome is Status.CLOSED
    answered = codec.decode((DMS / "examples" / "letter-answered.xml").read_bytes())
    assert isinstance(answered, LetterConcluded) and answered.outcome is Status.ANSWERED


def test_deadline_class_defaults_to_general_and_extensions_carry_term_reason_and_told(
    codec: DmsXmlCodec,
) -> None:
    general = codec.decode((DMS / "examples" / "letter-registered.xml").read_bytes())
    study = codec.decode((DMS / "examples" / "letter-registered-additional-study.xml").read_bytes())
    assert isinstance(general, LetterRegistered) and isinstance(study, LetterRegistered)
    assert general.deadline_class is DeadlineClass.GENERAL
    assert study.deadline_class is DeadlineClass.ADDITIONAL_STUDY
    extended = codec.decode((DMS / "examples" / "letter-extended.xml").read_bytes())
    assert extended == LetterExtended(
        event_id=UUID("8a1d3c5e-2f4b-4c6d-9e8f-0a1b2c3d4e5f"),
        registration_number="DGK-2026-004127",
        sequence=4,
        occurred_at=datetime(2026, 3, 18, 11, 40, tzinfo=BAKU),
        working_days=20,
        reason="Bəyannamə üzrə Bakı Baş Gömrük İdarəsindən əlavə məlumat sorğulanıb.",
        applicant_told=True,
        due_date=date(2026, 4, 30),
    )
    told_as_zero = (
        (DMS / "examples" / "letter-extended.xml")
        .read_bytes()
        .replace(b"<applicantTold>true<", b"<applicantTold>0<")
    )
    decoded = codec.decode(told_as_zero)
    assert isinstance(decoded, LetterExtended) and decoded.applicant_told is False


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_case_has_its_code_and_path(codec: DmsXmlCodec, name: str) -> None:
    expected = EXPECTED[name]
    with pytest.raises(DecodeError) as caught:
        codec.decode((DMS / "invalid" / name).read_bytes())
    assert caught.value.code == DecodeFault(expected["code"])
    assert caught.value.path == expected.get("path")
    assert len(caught.value.detail) <= 300


def test_tokens_are_collapsed_like_the_validators_do(codec: DmsXmlCodec) -> None:
    raw = (DMS / "examples" / "letter-assigned.xml").read_bytes()
    raw = raw.replace(b"<code>GOBI</code>", b"<code>\n  GOBI \t</code>")
    raw = raw.replace(b"Aynur Elxan", b"Aynur \n   Elxan")
    event = codec.decode(raw)
    assert isinstance(event, LetterAssigned)
    assert event.department.code == "GOBI"
    assert event.executor.full_name == "Hüseynova Aynur Elxan qızı"


# ---- registration numbers: the gateway's one rule (gateway.domain.registration) ------


def _status_changed_with(number: bytes) -> bytes:
    raw = (DMS / "examples" / "status-changed.xml").read_bytes()
    return raw.replace(b"DGK-2026-004127", number)


@pytest.mark.parametrize("sent", [b"dgk-2026-004127", b"  Dgk-2026-004127\n", b"DGK-2026-004127"])
def test_a_number_is_stored_as_a_request_looks_it_up(codec: DmsXmlCodec, sent: bytes) -> None:
    assert codec.decode(_status_changed_with(sent)).registration_number == "DGK-2026-004127"


@pytest.mark.parametrize("sent", [b"4127/2026", b"DGK-2026-12", b"DGK 2026 004127"])
def test_a_number_outside_the_pattern_is_refused_with_its_own_reason(
    codec: DmsXmlCodec, sent: bytes
) -> None:
    with pytest.raises(DecodeError) as caught:
        codec.decode(_status_changed_with(sent))
    assert caught.value.code is DecodeFault.MALFORMED_REGISTRATION_NUMBER
    assert caught.value.path == "/StatusChanged/registrationNumber"
    assert sent.decode() in caught.value.detail


def test_the_codec_factory_gives_the_dms_codec_the_configured_pattern() -> None:
    dms = load_codecs(Settings(registration_number_pattern=r"[0-9]{4}/[0-9]{4}")).dms
    assert dms.decode(_status_changed_with(b"4127/2026")).registration_number == "4127/2026"
    with pytest.raises(DecodeError) as caught:
        dms.decode(_status_changed_with(b"DGK-2026-004127"))
    assert caught.value.code is DecodeFault.MALFORMED_REGISTRATION_NUMBER


def test_encode_refuses_what_the_schema_refuses(codec: DmsXmlCodec) -> None:
    base = dict(
        event_id=UUID(int=1),
        registration_number="DGK-2026-000001",
        sequence=1,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(ValueError, match="time zone"):
        codec.encode(
            StatusChanged(**{**base, "occurred_at": datetime(2026, 1, 1)}, status=Status.ASSIGNED)
        )
    with pytest.raises(ValueError, match="schema-invalid"):
        codec.encode(StatusChanged(**base, status=Status.ASSIGNED, public_note="x" * 501))
    with pytest.raises(ValueError, match="sender_reference"):
        codec.encode(
            LetterRegistered(
                **base,
                registration_date=date(2026, 1, 1),
                channel=Channel.POST,
                applicant=Applicant(ApplicantKind.PERSON, "AAAAAAA", "A"),
                subject="s",
                sender_reference="R-1",
            )
        )


# ---- property: any representable event survives encode/decode -------------------------

_word = st.text(
    alphabet="abcçdeəfgğhxıijkqlmnoöprsştuüvyzABCÇƏĞİÖŞÜ0123456789-/.", min_size=1, max_size=12
)
_token = st.lists(_word, min_size=1, max_size=4).map(" ".join)
_free_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\r"),
    min_size=1,
    max_size=200,
)
_timestamps = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [
            UTC,
            BAKU,
            timezone(timedelta(hours=-3, minutes=-30)),
            timezone(timedelta(hours=14)),
        ]
    ),
)
_dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1))
_common = dict(
    event_id=st.uuids(),
    registration_number=st.from_regex(DEFAULT_PATTERN, fullmatch=True),
    sequence=st.integers(min_value=1, max_value=2**63 - 1),
    occurred_at=_timestamps,
)
_events = st.one_of(
    st.builds(
        LetterRegistered,
        **_common,
        registration_date=_dates,
        channel=st.sampled_from(Channel),
        applicant=st.one_of(
            st.builds(
                Applicant,
                st.just(ApplicantKind.PERSON),
                st.from_regex(r"[0-9A-Z]{7}", fullmatch=True),
                _token,
            ),
            st.builds(
                Applicant,
                st.just(ApplicantKind.COMPANY),
                st.from_regex(r"[0-9]{10}", fullmatch=True),
                _token,
            ),
        ),
        subject=_free_text,
        forwarded_by=st.none(),
        sender_reference=st.none(),
        due_date=st.none() | _dates,
    ),
    st.builds(
        LetterAssigned,
        **_common,
        department=st.builds(Department, _word, _token),
        executor=st.builds(
            Executor,
            _word,
            _token,
            st.from_regex(r"\+994 [0-9]{2} [0-9]{3}-[0-9]{2}-[0-9]{2}", fullmatch=True),
        ),
    ),
    st.builds(
        StatusChanged, **_common, status=st.sampled_from(Status), public_note=st.none() | _free_text
    ),
    st.builds(
        LetterForwarded,
        **_common,
        agency=st.builds(Agency, _word, _token),
        outgoing_reference=_word,
    ),
    st.builds(
        LetterConcluded,
        **_common,
        outcome=st.sampled_from([Status.ANSWERED, Status.CLOSED]),
        answer_date=_dates,
        outgoing_reference=_word,
    ),
)


@settings(max_examples=200, deadline=None)
@given(event=_events)
def test_any_event_round_trips(codec: DmsXmlCodec, event) -> None:
    assert codec.decode(codec.encode(event)) == event


@settings(max_examples=100, deadline=None)
@given(event=_events)
def test_any_event_sent_with_a_lower_case_number_decodes_upper_case(
    codec: DmsXmlCodec, event
) -> None:
    sent = replace(event, registration_number=event.registration_number.lower())
    assert codec.decode(codec.encode(sent)) == event


def _descendant_names(element: xmlschema.XsdElement, depth: int = 0) -> list[str]:
    assert depth < 16, f"{element.local_name}: the content model nests this deep (recursive?)"
    names = []
    for child in element.iterchildren():
        names += [child.local_name, *_descendant_names(child, depth + 1)]
    return names


@pytest.mark.parametrize("message_type", sorted(MESSAGE_TYPES))
def test_element_names_are_unique_within_a_message_type(message_type: str) -> None:
    """The decoder reads a validated event's texts by local name in one pass: that is only
    right while no name occurs twice in a message type's content model."""
    schema = xmlschema.XMLSchema(str(DMS / "dms-events.xsd"))
    names = _descendant_names(schema.elements[message_type])
    assert len(names) == len(set(names)), sorted(n for n in set(names) if names.count(n) > 1)
