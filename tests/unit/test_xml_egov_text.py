"""Status replies and acceptance notices are written as text, without validating each one:
these properties hold that writer to the XSD.

1. Each simple type the writer checks agrees with the XSD's type of the same name, both ways,
   on random and hostile strings (libxml2 decides, as it does for the gateway's decoding).
2. The enumerations written from the domain's enums are the XSD's.
3. Any reply or notice the writer produces, from random and hostile values, is valid for lxml
   and for xmlschema, and decodes back to the values it was given; otherwise it refuses with
   ValueError.
4. Values the XSD allows are never refused.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.domain.deadlines import Deadline, DeadlineKind, DeadlineState, Extension
from gateway.domain.letters import (
    AcceptanceNotice,
    ApplicantKind,
    Channel,
    DeadlineClass,
    HistoryEntry,
    Status,
)
from gateway.domain.refusals import shorten
from gateway.domain.requests import Fault, FaultView, RequestHeader, StatusRequest, StatusView
from gateway.domain.texts import Explanation, Language, PlainText
from gateway.xmlcodec import EgovXmlCodec, parse_untrusted
from gateway.xmlcodec._schema import DEFAULT_SCHEMAS_ROOT
from gateway.xmlcodec._text import StringType, TokenType
from gateway.xmlcodec.egov import (
    EXPLANATION_MAX_NOTES,
    INTEGER_TYPES,
    STATUS_NAMESPACE,
    STATUS_XSD,
    TEXT_TYPES,
)

XSD = DEFAULT_SCHEMAS_ROOT / STATUS_XSD
SCHEMA = xmlschema.XMLSchema(str(XSD))
CODEC = EgovXmlCodec()
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# xmlschema collapses all Unicode whitespace in xs:token values (U+2028, U+00A0, U+0085 ...),
# where XSD collapses only tab, CR, LF and space, as libxml2 does. So xmlschema is asked
# only about documents without such characters.
UNICODE_ONLY_SPACE = re.compile(r"[^\S \t\n\r]")
PROPERTY = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- strategies: hostile text, and text each XSD type allows ----------------------------------

any_char = st.characters(exclude_categories=())  # surrogates and C0 controls included
tricky = st.sampled_from(
    [
        "",
        " ",
        "  ",
        "\t",
        "\r\n",
        "\r",
        "a\rb",
        " a  b ",
        "<",
        ">",
        "&",
        "&amp;",
        "]]>",
        '"',
        "'",
        "<x/>",
        "\x00",
        "\x1f",
        "\x7f",
        "\x85",
        "\ud800",
        "\ufffe",
        "\uffff",
        "\U0001f600",
        "Əlavə məlumat",
        "\u2028",
        "1234567",
        "ABCDEFG",
        "+994 12 404 12 34",
        "1.0",
        "a" * 64,
        "a" * 65,
        "f" * 64,
        " " + "f" * 64 + "\n",
    ]
)
hostile = st.one_of(
    tricky,
    st.text(any_char, max_size=40),
    st.text(any_char, min_size=290, max_size=520),
    st.lists(tricky, max_size=6).map("".join),
)
plain_char = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"))


def tokens(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Token values the XSD allows: visible characters, nothing for collapsing to change
    (padded and doubled whitespace comes from `at_the_bounds` and `hostile`)."""
    return st.text(plain_char, min_size=min_size, max_size=max_size).filter(
        lambda s: not NOT_XML.search(s)
    )


VALID = {
    "Identifier": tokens(1, 64),
    "ProtocolVersion": st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}", fullmatch=True),
    "UserIdValue": st.from_regex(r"[0-9A-Z]{7}|[0-9]{10}", fullmatch=True),
    "AuthLevel": tokens(1, 32),
    "RegistrationNumber": tokens(1, 64),
    "Sha256Hex": st.from_regex(r"[0-9a-fA-F]{64}", fullmatch=True),
    "Code": tokens(1, 32),
    "Name": tokens(1, 300),
    "Phone": st.from_regex(r"\+?[0-9 ()\-]{5,20}", fullmatch=True).filter(
        lambda s: "  " not in s and s.strip(" ") == s
    ),
    "Label": tokens(1, 100),
    "Note": st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=500).filter(
        lambda s: not NOT_XML.search(s)
    ),
    "Sentence": st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=300
    ).filter(lambda s: not NOT_XML.search(s)),
    "FaultMessage": tokens(1, 500),
    "FaultDetail": tokens(0, 500),
}
BY_NAME = {t.name: t for t in TEXT_TYPES}
INTEGERS = {t.name: t for t in INTEGER_TYPES}


def at_the_bounds(type_name: str) -> st.SearchStrategy[str]:
    """Values just inside and just outside the type's length facets (read from the XSD),
    also padded with whitespace that collapsing removes."""
    xsd_type = SCHEMA.types[type_name]
    lengths = {
        n
        for bound in (xsd_type.min_length, xsd_type.max_length)
        if bound is not None
        for n in (bound - 1, bound, bound + 1)
        if n >= 0
    }
    if not lengths:
        return st.nothing()
    return st.builds(
        lambda n, pad, c: pad + c * n + pad,
        st.sampled_from(sorted(lengths)),
        st.sampled_from(["", " ", "\n\t", "\r\n "]),
        st.sampled_from("aə1 \t"),
    )


def maybe_valid(type_name: str) -> st.SearchStrategy[str]:
    return st.one_of(VALID[type_name], at_the_bounds(type_name), hostile)


def probe_schema() -> etree.XMLSchema:
    """A schema with one element per simple type of the status XSD, for libxml2 to judge
    a single value."""
    elements = "".join(
        f'<xs:element name="{name}" type="sts:{name}"/>' for name in (*VALID, *INTEGERS)
    )
    text = (
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:sts="{STATUS_NAMESPACE}"'
        f' targetNamespace="urn:probe" elementFormDefault="qualified">'
        f'<xs:import namespace="{STATUS_NAMESPACE}" schemaLocation="{XSD.as_uri()}"/>'
        f"{elements}</xs:schema>"
    )
    return etree.XMLSchema(etree.fromstring(text.encode()))


PROBE = probe_schema()


def xsd_allows(type_name: str, value: str) -> bool:
    if NOT_XML.search(value) is not None:  # no XML document can carry it
        return False
    element = etree.Element(f"{{urn:probe}}{type_name}")
    element.text = value
    return bool(PROBE.validate(element))


def accepts(check: TokenType | StringType, value: str) -> bool:
    try:
        check(value)
    except ValueError:
        return False
    return True


# --- 1 and 2: the writer's types are the XSD's --------------------------------------------------


def test_every_text_type_has_valid_examples() -> None:
    assert set(VALID) == set(BY_NAME)


def test_the_note_limit_is_the_xsds() -> None:
    content = SCHEMA.types["Explanation"].content
    assert {e.local_name: e.max_occurs for e in content.iter_elements()}["note"] == (
        EXPLANATION_MAX_NOTES
    )


@pytest.mark.parametrize("name", sorted(VALID))
@PROPERTY
@given(data=st.data())
def test_text_type_agrees_with_the_xsd(name: str, data: st.DataObject) -> None:
    value = data.draw(maybe_valid(name))
    assert accepts(BY_NAME[name], value) == xsd_allows(name, value), repr(value)


def integer_range(name: str) -> tuple[int, int]:
    """The integer type's bounds, read from the XSD (positiveInteger gives the lower one)."""
    xsd_type = SCHEMA.types[name]
    low = xsd_type.min_value if xsd_type.min_value is not None else 1
    return int(low), int(xsd_type.max_value)


@pytest.mark.parametrize("name", sorted(INTEGERS))
@PROPERTY
@given(data=st.data())
def test_integer_type_agrees_with_the_xsd(name: str, data: st.DataObject) -> None:
    low, high = integer_range(name)
    value = data.draw(
        st.one_of(st.integers(), st.integers(low - 2, low + 2), st.integers(high - 2, high + 2))
    )
    try:
        written: str | None = INTEGERS[name](value)
    except ValueError:
        written = None
    assert (written is not None) == xsd_allows(name, str(value)), value
    assert written is None or int(written) == value


@pytest.mark.parametrize(
    ("xsd_type", "enum"),
    [
        ("StatusCode", Status),
        ("FaultCode", Fault),
        ("Channel", Channel),
        ("UserKind", ApplicantKind),
        ("Language", Language),
        ("DeadlineKind", DeadlineKind),
        ("DeadlineClass", DeadlineClass),
        ("DeadlineState", DeadlineState),
    ],
)
def test_enumerations_are_the_xsds(xsd_type: str, enum: type) -> None:
    assert set(SCHEMA.types[xsd_type].enumeration) == {member.value for member in enum}


# --- 3 and 4: whole documents ---------------------------------------------------------------------

zones = st.one_of(
    st.just(UTC),
    st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-14 * 60, 14 * 60)),
    st.builds(
        lambda s: timezone(timedelta(seconds=s)),  # beyond ±14:00, or with seconds
        st.integers(-86_399, 86_399),
    ),
)
moments = st.datetimes(timezones=st.one_of(zones, st.none()))
valid_moments = st.datetimes(
    timezones=st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-840, 840))
)


def headers(hostile_values: bool) -> st.SearchStrategy[RequestHeader]:
    def field(name: str) -> st.SearchStrategy[str]:
        return maybe_valid(name) if hostile_values else VALID[name]

    user = st.builds(
        lambda u, k, a: (u, k, a, None),
        field("UserIdValue"),
        st.sampled_from(ApplicantKind),
        field("AuthLevel"),
    )
    operator = st.builds(lambda o: (None, None, None, o), field("Identifier"))
    parties = st.one_of(user, operator)
    if hostile_values:  # also structurally wrong: partial users, a user and an operator
        parties = st.one_of(
            parties,
            st.tuples(
                st.none() | field("UserIdValue"),
                st.none() | st.sampled_from(ApplicantKind),
                st.none() | field("AuthLevel"),
                st.none() | field("Identifier"),
            ),
        )
    return st.builds(
        lambda c, s, i, v, p: RequestHeader(c, s, i, v, *p),
        field("Identifier"),
        field("Identifier"),
        field("Identifier"),
        field("ProtocolVersion"),
        parties,
    )


def views(hostile_values: bool) -> st.SearchStrategy[StatusView]:
    def field(name: str) -> st.SearchStrategy[str]:
        return maybe_valid(name) if hostile_values else VALID[name]

    at = moments if hostile_values else valid_moments
    sequences = st.integers(-5, 2**64) if hostile_values else st.integers(1, 2**63 - 1)
    pair = (
        st.tuples(st.none() | field("Code"), st.none() | field("Name"))
        if hostile_values
        else st.one_of(st.tuples(field("Code"), field("Name")), st.just((None, None)))
    )
    executor = (
        st.tuples(st.none() | field("Name"), st.none() | field("Phone"))
        if hostile_values
        else st.one_of(st.tuples(field("Name"), field("Phone")), st.just((None, None)))
    )
    entry = st.builds(
        HistoryEntry, sequences, st.sampled_from(Status), at, st.none() | field("Note")
    )

    def view(number, registered, status, changed, dep, exe, due, history, as_of, *rest):
        return StatusView(
            number, registered, status, changed, *dep, *exe, due, tuple(history), as_of, *rest
        )

    return st.builds(
        view,
        field("RegistrationNumber"),
        st.none() | st.dates(),
        st.sampled_from(Status),
        at,
        pair,
        executor,
        st.none() | st.dates(),
        st.lists(entry, max_size=4),
        at,
        st.none() | deadlines(hostile_values),
        st.none() | explanations(hostile_values),
    )


def deadlines(hostile_values: bool) -> st.SearchStrategy[Deadline]:
    days = st.integers(-5, 1_200) if hostile_values else st.integers(1, 999)
    left = st.integers(-200_000, 200_000) if hostile_values else st.integers(-99_999, 99_999)
    reason = maybe_valid("Note") if hostile_values else VALID["Note"]
    extension = st.builds(lambda d, r, t: Extension(d, d, r, t), days, reason, st.booleans())
    return st.builds(
        Deadline,
        st.sampled_from(DeadlineKind),
        st.sampled_from(DeadlineClass),
        st.dates(),
        st.sampled_from(DeadlineState),
        st.none() | left,
        st.booleans(),
        st.none() | extension,
        st.just(None),
    )


def explanations(hostile_values: bool) -> st.SearchStrategy[Explanation]:
    def field(name: str) -> st.SearchStrategy[str]:
        return maybe_valid(name) if hostile_values else VALID[name]

    text = st.builds(PlainText, field("Label"), field("Sentence"))
    notes = st.lists(
        text, max_size=EXPLANATION_MAX_NOTES + 1 if hostile_values else EXPLANATION_MAX_NOTES
    )
    return st.builds(
        lambda lang, status, deadline, n: Explanation(lang, status, deadline, tuple(n)),
        st.sampled_from(Language),
        text,
        st.none() | text,
        notes,
    )


faults = st.builds(FaultView, st.sampled_from(Fault), st.none() | hostile)


def collapse(value: str | None) -> str | None:
    """xs:token's whitespace rule, as a reader of the document applies it."""
    return None if value is None else re.sub(r"[ \t\n\r]+", " ", value).strip(" ")


def as_read(header: RequestHeader | None) -> RequestHeader | None:
    """The header as a reader sees it: token values whitespace-collapsed; a kind or auth
    level without an end user has no place in the XSD and is not echoed."""
    if header is None:
        return None
    user = header.user_id is not None
    return RequestHeader(
        collapse(header.client_id) or "",
        collapse(header.service_code) or "",
        collapse(header.message_id) or "",
        collapse(header.protocol_version) or "",
        collapse(header.user_id),
        header.user_kind if user else None,
        collapse(header.auth_level) if user else None,
        collapse(header.operator_id),
    )


def view_as_read(view: StatusView) -> StatusView:
    explanation = view.explanation
    if explanation is not None:
        explanation = Explanation(
            explanation.language,
            text_as_read(explanation.status),
            None if explanation.deadline is None else text_as_read(explanation.deadline),
            tuple(text_as_read(note) for note in explanation.notes),
        )
    return StatusView(
        collapse(view.registration_number) or "",
        view.registration_date,
        view.status,
        view.last_change_at,
        collapse(view.department_code),
        collapse(view.department_name),
        collapse(view.executor_name),
        collapse(view.executor_phone),
        view.due_date,
        view.history,
        view.as_of,
        view.deadline,
        explanation,
    )


def text_as_read(text: PlainText) -> PlainText:
    return PlainText(collapse(text.label) or "", text.text)


def assert_valid(raw: bytes) -> None:
    root = parse_untrusted(raw)
    assert CODEC.gate.lxml_accepts(root), raw
    if not UNICODE_ONLY_SPACE.search(raw.decode()):
        assert CODEC.gate.xmlschema_accepts(root), raw


def check_reply(header: RequestHeader | None, digest: str, result: StatusView | FaultView) -> bool:
    """Valid, and decodes back to what was given; False when refused with ValueError."""
    try:
        raw = CODEC.encode_reply(header, digest, result)
    except ValueError:
        return False
    assert_valid(raw)
    reply = CODEC.decode_reply(raw)
    assert reply.header == as_read(header)
    assert reply.request_hash == collapse(digest)
    if isinstance(result, FaultView):
        detail = None if result.detail is None else shorten(result.detail)
        assert reply.fault == FaultView(result.code, detail)
    else:
        assert reply.status == view_as_read(result)
    return True


@PROPERTY
@given(
    header=st.none() | headers(True),
    digest=maybe_valid("Sha256Hex"),
    result=st.one_of(faults, views(True)),
)
def test_any_reply_written_is_valid_and_reads_back(
    header: RequestHeader | None, digest: str, result: StatusView | FaultView
) -> None:
    check_reply(header, digest, result)


@PROPERTY
@given(view=views(False), deadline=deadlines(True), explanation=explanations(True))
def test_any_deadline_and_explanation_written_is_valid_and_read_back(
    view: StatusView, deadline: Deadline, explanation: Explanation
) -> None:
    """The same, with only the deadline and the explanation hostile (so that the rest of
    the reply does not refuse first)."""
    check_reply(None, "a" * 64, replace(view, deadline=deadline, explanation=explanation))


@PROPERTY
@given(
    header=st.none() | headers(False),
    digest=VALID["Sha256Hex"],
    result=st.one_of(
        st.builds(FaultView, st.sampled_from(Fault), st.none() | VALID["FaultDetail"]), views(False)
    ),
)
def test_a_reply_the_xsd_allows_is_never_refused(
    header: RequestHeader | None, digest: str, result: StatusView | FaultView
) -> None:
    assert check_reply(header, digest, result)


@PROPERTY
@given(
    client=VALID["Identifier"],
    version=VALID["ProtocolVersion"],
    user=st.none() | VALID["UserIdValue"],
    kind=st.none() | st.sampled_from(ApplicantKind),
    auth=st.none() | VALID["AuthLevel"],
    operator=st.none() | VALID["Identifier"],
)
def test_header_structure_is_the_xsds(
    client: str,
    version: str,
    user: str | None,
    kind: ApplicantKind | None,
    auth: str | None,
    operator: str | None,
) -> None:
    """Which fields a header has: the reply writer accepts exactly the headers that the
    validated tree writer of requests accepts, and echoes every field it was given."""
    header = RequestHeader(client, "svc", "id-1", version, user, kind, auth, operator)
    try:
        CODEC.encode_request(StatusRequest(header, "DGK-2026-1"))
        schema_allows = True
    except ValueError:
        schema_allows = False
    assert check_reply(header, "a" * 64, FaultView(Fault.NOT_FOUND)) == schema_allows


def check_notice(notice: AcceptanceNotice) -> bool:
    try:
        raw = CODEC.encode_notice(notice)
    except ValueError:
        return False
    assert_valid(raw)
    assert CODEC.decode_notice(raw) == AcceptanceNotice(
        notice.notice_id,
        collapse(notice.registration_number) or "",
        notice.registration_date,
        notice.channel,
        notice.user_kind,
        collapse(notice.user_id) or "",
    )
    return True


def notices(
    number: st.SearchStrategy[str], user: st.SearchStrategy[str]
) -> st.SearchStrategy[AcceptanceNotice]:
    return st.builds(
        AcceptanceNotice,
        st.uuids(),
        number,
        st.dates(),
        st.sampled_from(Channel),
        st.sampled_from(ApplicantKind),
        user,
    )


@PROPERTY
@given(notice=notices(maybe_valid("RegistrationNumber"), maybe_valid("UserIdValue")))
def test_any_notice_written_is_valid_and_reads_back(notice: AcceptanceNotice) -> None:
    check_notice(notice)


@PROPERTY
@given(notice=notices(VALID["RegistrationNumber"], VALID["UserIdValue"]))
def test_a_notice_the_xsd_allows_is_never_refused(notice: AcceptanceNotice) -> None:
    assert check_notice(notice)


def test_markup_in_values_is_text_not_structure() -> None:
    view = StatusView(
        "DGK-2026-1",
        date(2026, 3, 2),
        Status.ASSIGNED,
        datetime(2026, 3, 2, 9, tzinfo=UTC),
        "</code><x>",
        "A & B <c>",
        None,
        None,
        None,
        (HistoryEntry(1, Status.REGISTERED, datetime(2026, 3, 2, tzinfo=UTC), "]]><!-- \r\n -->"),),
        datetime(2026, 3, 3, tzinfo=UTC),
    )
    assert check_reply(None, "ab" * 32, view)
    assert CODEC.decode_reply(CODEC.encode_reply(None, "ab" * 32, view)).status == view


def test_refusals_name_the_type() -> None:
    with pytest.raises(ValueError, match="Sha256Hex"):
        CODEC.encode_reply(None, "g" * 64, FaultView(Fault.NOT_FOUND))
    with pytest.raises(ValueError, match="Identifier"):
        CODEC.encode_reply(
            RequestHeader("a\x00", "s", "i", "1.0", operator_id="op"),
            "a" * 64,
            FaultView(Fault.NOT_FOUND),
        )
    with pytest.raises(ValueError, match="14 hours"):
        CODEC.encode_reply(
            None,
            "a" * 64,
            StatusView(
                "N-1",
                None,
                Status.REGISTERED,
                datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=15))),
                None,
                None,
                None,
                None,
                None,
                (),
                datetime(2026, 1, 1, tzinfo=UTC),
            ),
        )


def test_an_explanation_with_more_notes_than_the_xsd_allows_is_refused() -> None:
    note = PlainText("Note", "A sentence.")
    view = StatusView(
        "N-1",
        None,
        Status.REGISTERED,
        datetime(2026, 1, 1, tzinfo=UTC),
        None,
        None,
        None,
        None,
        None,
        (),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    allowed = Explanation(Language.EN, note, None, (note,) * EXPLANATION_MAX_NOTES)
    assert check_reply(None, "a" * 64, replace(view, explanation=allowed))
    too_many = replace(allowed, notes=(note,) * (EXPLANATION_MAX_NOTES + 1))
    with pytest.raises(ValueError, match="notes"):
        CODEC.encode_reply(None, "a" * 64, replace(view, explanation=too_many))
