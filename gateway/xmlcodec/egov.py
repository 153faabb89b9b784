"""The status service messages (schemas/egov/v1/status-service.xsd) <-> domain objects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from lxml import etree

from gateway.domain.access_log import Access, AccessChannel, AccessLogView
from gateway.domain.deadlines import (
    Deadline,
    DeadlineKind,
    DeadlineState,
    Extension,
)
from gateway.domain.letters import (
    AcceptanceNotice,
    ApplicantKind,
    Channel,
    DeadlineClass,
    Department,
    HistoryEntry,
    Status,
)
from gateway.domain.refusals import DETAIL_MAX_CHARS, DecodeError, DecodeFault, shorten
from gateway.domain.requests import (
    Fault,
    FaultView,
    Query,
    RequestHeader,
    StatusRequest,
    StatusView,
)
from gateway.domain.status_notices import NoticeExtension, StatusChangeNotice
from gateway.domain.texts import Explanation, Language, PlainText
from gateway.reference.status_texts import status_texts
from gateway.xmlcodec._header import HeaderCodec
from gateway.xmlcodec._schema import (
    SchemaGate,
    children,
    read_date,
    read_timestamp,
    resolve_xsd,
    string,
    token,
)
from gateway.xmlcodec._text import (
    Document,
    IntegerType,
    StringType,
    TokenType,
    boolean,
    calendar_date,
    write_timestamp,
)
from gateway.xmlcodec.hardened import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH

STATUS_NAMESPACE = "urn:az:customs:appeals:status:v1"
STATUS_XSD = "egov/v1/status-service.xsd"
SUPPORTED_PROTOCOL_VERSIONS = frozenset({"1.0"})
_HEADER_FIELDS = ("client", "service", "id", "protocolVersion", "userId", "authLevel", "operatorId")


@dataclass(frozen=True)
class StatusReply:
    """A decoded StatusReply: exactly one of `status`, `fault` and `access_log` is set."""

    header: RequestHeader | None
    request_hash: str
    status: StatusView | None
    fault: FaultView | None
    access_log: AccessLogView | None = None


def fault_for(error: DecodeError) -> FaultView:
    """The fault a requester gets for a request that could not be decoded."""
    if error.code is DecodeFault.UNSUPPORTED_VERSION:
        return FaultView(Fault.UNSUPPORTED_VERSION, error.path or error.code.value)
    if error.code is DecodeFault.SCHEMA_INVALID and error.path:
        return FaultView(Fault.INVALID_REQUEST, error.path)
    return FaultView(Fault.INVALID_REQUEST, error.code.value)


# The XSD simple types that replies and notices carry, named as in the XSD. Enumerations are
# written from the domain's enums, whose values the tests compare with the XSD's.
IDENTIFIER = TokenType("Identifier", 1, 64)
PROTOCOL_VERSION = TokenType("ProtocolVersion", pattern=r"[0-9]{1,3}\.[0-9]{1,3}")
USER_ID_VALUE = TokenType("UserIdValue", pattern="[0-9A-Z]{7}|[0-9]{10}")
AUTH_LEVEL = TokenType("AuthLevel", 1, 32)
REGISTRATION_NUMBER = TokenType("RegistrationNumber", 1, 64)
SHA256_HEX = TokenType("Sha256Hex", pattern="[0-9a-fA-F]{64}")
CODE = TokenType("Code", 1, 32)
NAME = TokenType("Name", 1, 300)
PHONE = TokenType("Phone", pattern=r"\+?[0-9 ()\-]{5,20}")
LABEL = TokenType("Label", 1, 100)
NOTE = StringType("Note", 0, 500)
SENTENCE = StringType("Sentence", 1, 300)
FAULT_MESSAGE = StringType("FaultMessage", 1, 500)
FAULT_DETAIL = StringType("FaultDetail", 0, 500)
TEXT_TYPES = (
    IDENTIFIER,
    PROTOCOL_VERSION,
    USER_ID_VALUE,
    AUTH_LEVEL,
    REGISTRATION_NUMBER,
    SHA256_HEX,
    CODE,
    NAME,
    PHONE,
    LABEL,
    NOTE,
    SENTENCE,
    FAULT_MESSAGE,
    FAULT_DETAIL,
)
SEQUENCE = IntegerType("Sequence", 1, 2**63 - 1)
WORKING_DAYS = IntegerType("WorkingDays", 1, 999)
WORKING_DAYS_LEFT = IntegerType("WorkingDaysLeft", -99_999, 99_999)
INTEGER_TYPES = (SEQUENCE, WORKING_DAYS, WORKING_DAYS_LEFT)
EXPLANATION_MAX_NOTES = 2  # the XSD's maxOccurs of Explanation/note


def _write_header(doc: Document, header: RequestHeader) -> None:
    """The request's header, echoed: an end user (with kind and auth level) or an operator."""
    doc.open("header")
    doc.leaf("client", IDENTIFIER(header.client_id))
    doc.leaf("service", IDENTIFIER(header.service_code))
    doc.leaf("id", IDENTIFIER(header.message_id))
    doc.leaf("protocolVersion", PROTOCOL_VERSION(header.protocol_version))
    if header.user_id is not None and header.operator_id is None:
        if header.user_kind is None:
            raise ValueError("header: an end user without kind")
        doc.leaf_with_kind("userId", header.user_kind.value, USER_ID_VALUE(header.user_id))
        doc.leaf("authLevel", AUTH_LEVEL(header.auth_level))
    elif header.operator_id is not None and header.user_id is None:
        doc.leaf("operatorId", IDENTIFIER(header.operator_id))
    else:
        raise ValueError("header: names neither exactly one end user nor one operator")
    doc.close("header")


def _text_deadline(doc: Document, deadline: Deadline) -> None:
    doc.open("deadline")
    doc.leaf("kind", deadline.kind.value)
    doc.leaf("deadlineClass", deadline.deadline_class.value)
    doc.leaf("dueDate", calendar_date(deadline.due_date))
    doc.leaf("state", deadline.state.value)
    if deadline.working_days_left is not None:
        doc.leaf("workingDaysLeft", WORKING_DAYS_LEFT(deadline.working_days_left))
    doc.leaf("provisional", boolean(deadline.provisional))
    if (extension := deadline.extension) is not None:
        doc.open("extension")
        doc.leaf("workingDays", WORKING_DAYS(extension.applied_days))
        doc.leaf("reason", NOTE(extension.reason))
        doc.leaf("applicantTold", boolean(extension.applicant_told))
        doc.close("extension")
    doc.close("deadline")


def _text_explanation(doc: Document, explanation: Explanation) -> None:
    if len(explanation.notes) > EXPLANATION_MAX_NOTES:
        raise ValueError(f"explanation: {len(explanation.notes)} notes, at most 2")
    doc.open("explanation")
    doc.leaf("language", explanation.language.value)
    for name, text in (
        ("status", explanation.status),
        ("deadline", explanation.deadline),
        *(("note", note) for note in explanation.notes),
    ):
        if text is not None:
            doc.open(name)
            doc.leaf("label", LABEL(text.label))
            doc.leaf("text", SENTENCE(text.text))
            doc.close(name)
    doc.close("explanation")


class EgovXmlCodec:
    """Decodes and encodes StatusRequest, StatusReply and AcceptanceNotice. Build once."""

    fault_for = staticmethod(fault_for)

    def __init__(
        self,
        schemas: str | Path | None = None,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_depth: int = DEFAULT_MAX_DEPTH,
        protocol_versions: frozenset[str] = SUPPORTED_PROTOCOL_VERSIONS,
    ) -> None:
        """`schemas`: the XSD file or the schemas root directory (default: repo's schemas/)."""
        self.gate = SchemaGate(
            resolve_xsd(schemas, STATUS_XSD),
            STATUS_NAMESPACE,
            max_bytes=max_bytes,
            max_depth=max_depth,
        )
        self._n = len(STATUS_NAMESPACE) + 2
        self._header = HeaderCodec(
            self.gate,
            "StatusRequest",
            _HEADER_FIELDS,
            lambda gate, probe: gate.sub(probe, "body"),
            protocol_versions,
        )
        texts = status_texts()  # checked once here: a catalogue label too long fails at start
        self._labels = {
            status: (
                LABEL(texts.status(status, Language.AZ).label),
                LABEL(texts.status(status, Language.EN).label),
            )
            for status in Status
        }

    # ---- requests ------------------------------------------------------------------

    def decode_request(self, raw: bytes) -> StatusRequest:
        """A request from untrusted bytes, or DecodeError (with `.header` when readable).

        The registration number is returned as sent (None when the element is absent):
        blank and malformed numbers are the business of RegistrationNumber.parse.
        """
        header, parts = self._header.open_request(raw)
        body = children(parts["body"], self._n)
        number = body.get("registrationNumber")
        query = Query(token(body["query"])) if "query" in body else Query.STATUS
        language = body.get("language")
        return StatusRequest(
            header,
            string(number) if number is not None else None,
            query,
            language=Language(token(language)) if language is not None else Language.AZ,
        )

    def encode_request(self, request: StatusRequest) -> bytes:
        root = self.gate.element("StatusRequest")
        self._header.write(root, request.header)
        body = self.gate.sub(root, "body")
        if request.registration_number is not None:
            self.gate.sub(body, "registrationNumber", request.registration_number)
        if request.query is not Query.STATUS:  # absent means status: earlier clients' form
            self.gate.sub(body, "query", request.query.value)
        if request.language is not Language.AZ:  # absent means az
            self.gate.sub(body, "language", request.language.value)
        return self.gate.serialize(root)

    # ---- replies -------------------------------------------------------------------

    def encode_reply(
        self,
        header: RequestHeader | None,
        request_sha256: str,
        result: StatusView | AccessLogView | FaultView,
    ) -> bytes:
        """A schema-valid StatusReply; ValueError if the inputs cannot be expressed.

        Written as text (see _text): every value is checked against its XSD type here, so
        the document needs no validation (tests/unit/test_xml_egov_text.py holds it to the
        XSD). The access log, asked for rarely, is still built as a tree and validated."""
        if isinstance(result, AccessLogView):
            root = self.gate.element("StatusReply")
            if header is not None:
                self._header.write(root, header)
            self.gate.sub(root, "requestHash", request_sha256)
            self._write_access_log(self.gate.sub(root, "accessLog"), result)
            return self.gate.serialize(root)
        doc = Document("StatusReply", STATUS_NAMESPACE)
        if header is not None:
            _write_header(doc, header)
        doc.leaf("requestHash", SHA256_HEX(request_sha256))
        if isinstance(result, FaultView):
            doc.open("fault")
            doc.leaf("code", result.code.value)
            doc.leaf("message", FAULT_MESSAGE(result.message))
            if result.detail is not None:
                doc.leaf("detail", FAULT_DETAIL(shorten(result.detail, DETAIL_MAX_CHARS)))
            doc.close("fault")
            return doc.bytes()
        view = result
        doc.open("status")
        doc.leaf("registrationNumber", REGISTRATION_NUMBER(view.registration_number))
        if view.registration_date is not None:
            doc.leaf("registrationDate", calendar_date(view.registration_date))
        doc.leaf("statusCode", view.status.value)
        label_az, label_en = self._labels[view.status]
        doc.leaf("labelAz", label_az)
        doc.leaf("labelEn", label_en)
        if view.department_code is not None or view.department_name is not None:
            doc.open("department")
            doc.leaf("code", CODE(view.department_code))
            doc.leaf("name", NAME(view.department_name))
            doc.close("department")
        if view.executor_name is not None or view.executor_phone is not None:
            doc.open("executor")
            doc.leaf("name", NAME(view.executor_name))
            doc.leaf("phone", PHONE(view.executor_phone))
            doc.close("executor")
        if view.due_date is not None:
            doc.leaf("dueDate", calendar_date(view.due_date))
        doc.leaf("lastChangeAt", write_timestamp(view.last_change_at))
        doc.open("history")
        for item in view.history:
            doc.open("entry")
            doc.leaf("sequence", SEQUENCE(item.sequence))
            doc.leaf("statusCode", item.status.value)
            doc.leaf("at", write_timestamp(item.at))
            if item.note is not None:
                doc.leaf("note", NOTE(item.note))
            doc.close("entry")
        doc.close("history")
        doc.leaf("asOf", write_timestamp(view.as_of))
        if view.deadline is not None:
            _text_deadline(doc, view.deadline)
        if view.explanation is not None:
            _text_explanation(doc, view.explanation)
        doc.close("status")
        return doc.bytes()

    def _write_access_log(self, log_el: etree._Element, view: AccessLogView) -> None:
        sub = self.gate.sub
        sub(log_el, "registrationNumber", view.registration_number)
        for access in view.accesses:
            entry = sub(log_el, "access")
            sub(entry, "at", write_timestamp(access.at))
            sub(entry, "channel", access.channel.value)
            if access.partner_name is not None:
                sub(entry, "partner", access.partner_name)
            if access.official is not None:
                sub(entry, "official", access.official)
        sub(log_el, "asOf", write_timestamp(view.as_of))

    def _read_access_log(self, log_el: etree._Element) -> AccessLogView:
        n = self._n
        accesses = []
        for entry_el in log_el.iterchildren(f"{{{STATUS_NAMESPACE}}}access"):
            e = children(entry_el, n)
            accesses.append(
                Access(
                    read_timestamp(e["at"]),
                    AccessChannel(token(e["channel"])),
                    token(e["partner"]) if "partner" in e else None,
                    token(e["official"]) if "official" in e else None,
                )
            )
        el = children(log_el, n)
        return AccessLogView(
            token(el["registrationNumber"]), tuple(accesses), read_timestamp(el["asOf"])
        )

    def decode_reply(self, raw: bytes) -> StatusReply:
        root = self._decode(raw, "StatusReply")
        n = self._n
        try:
            el = children(root, n)
            header = self._header.read(el["header"]) if "header" in el else None
            request_hash = token(el["requestHash"])
            if (fault_el := el.get("fault")) is not None:
                f = children(fault_el, n)
                detail = f.get("detail")
                fault = FaultView(
                    Fault(token(f["code"])), string(detail) if detail is not None else None
                )
                return StatusReply(header, request_hash, None, fault)
            if (log_el := el.get("accessLog")) is not None:
                return StatusReply(header, request_hash, None, None, self._read_access_log(log_el))
            return StatusReply(header, request_hash, self._read_status(el["status"]), None)
        except (ValueError, KeyError, TypeError) as exc:
            raise DecodeError(DecodeFault.SCHEMA_INVALID, f"unusable value: {exc}") from None

    def _read_status(self, status_el: etree._Element) -> StatusView:
        n = self._n
        s = children(status_el, n)
        dep = children(s["department"], n) if "department" in s else {}
        exe = children(s["executor"], n) if "executor" in s else {}
        history = []
        for entry_el in s["history"]:
            e = children(entry_el, n)
            note = e.get("note")
            history.append(
                HistoryEntry(
                    int(token(e["sequence"])),
                    Status(token(e["statusCode"])),
                    read_timestamp(e["at"]),
                    string(note) if note is not None else None,
                )
            )
        return StatusView(
            registration_number=token(s["registrationNumber"]),
            registration_date=read_date(s["registrationDate"]) if "registrationDate" in s else None,
            status=Status(token(s["statusCode"])),
            last_change_at=read_timestamp(s["lastChangeAt"]),
            department_code=token(dep["code"]) if dep else None,
            department_name=token(dep["name"]) if dep else None,
            executor_name=token(exe["name"]) if exe else None,
            executor_phone=token(exe["phone"]) if exe else None,
            due_date=read_date(s["dueDate"]) if "dueDate" in s else None,
            history=tuple(history),
            as_of=read_timestamp(s["asOf"]),
            deadline=read_deadline(s["deadline"], n) if "deadline" in s else None,
            explanation=read_explanation(s["explanation"], n) if "explanation" in s else None,
        )

    # ---- acceptance notices ---------------------------------------------------------

    def encode_notice(self, notice: AcceptanceNotice) -> bytes:
        """Written as text, like replies."""
        doc = Document("AcceptanceNotice", STATUS_NAMESPACE)
        doc.leaf("noticeId", str(notice.notice_id))  # canonical 8-4-4-4-12: always a Uuid
        doc.leaf("registrationNumber", REGISTRATION_NUMBER(notice.registration_number))
        doc.leaf("registrationDate", calendar_date(notice.registration_date))
        doc.leaf("channel", notice.channel.value)
        doc.leaf_with_kind("userId", notice.user_kind.value, USER_ID_VALUE(notice.user_id))
        return doc.bytes()

    def decode_notice(self, raw: bytes) -> AcceptanceNotice:
        root = self._decode(raw, "AcceptanceNotice")
        try:
            el = children(root, self._n)
            return AcceptanceNotice(
                notice_id=UUID(token(el["noticeId"])),
                registration_number=token(el["registrationNumber"]),
                registration_date=read_date(el["registrationDate"]),
                channel=Channel(token(el["channel"])),
                user_id=token(el["userId"]),
                user_kind=ApplicantKind(el["userId"].get("kind", "").strip(" \t\r\n")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DecodeError(DecodeFault.SCHEMA_INVALID, f"unusable value: {exc}") from None

    # ---- status-change notices ------------------------------------------------------

    def encode_status_notice(self, notice: StatusChangeNotice) -> bytes:
        gate = self.gate
        sub = gate.sub
        root = gate.element("StatusChangeNotice")
        sub(root, "registrationNumber", notice.registration_number)
        sub(root, "sequence", str(notice.sequence))
        sub(root, "statusCode", notice.status.value)
        sub(root, "at", write_timestamp(notice.at))
        if notice.department is not None:
            department = sub(root, "department")
            sub(department, "code", notice.department.code)
            sub(department, "name", notice.department.name)
        if notice.executor_name is not None or notice.executor_phone is not None:
            executor = sub(root, "executor")
            sub(executor, "name", notice.executor_name)
            sub(executor, "phone", notice.executor_phone)
        if notice.answer_date is not None:
            sub(root, "answerDate", notice.answer_date.isoformat())
        if (extension := notice.extension) is not None:
            element = sub(root, "extension")
            sub(element, "dueDate", extension.due_date.isoformat())
            sub(element, "workingDays", str(extension.working_days))
            sub(element, "reason", extension.reason)
            sub(element, "provisional", "true" if extension.provisional else "false")
        return gate.serialize(root)

    def decode_status_notice(self, raw: bytes) -> StatusChangeNotice:
        root = self._decode(raw, "StatusChangeNotice")
        n = self._n
        try:
            el = children(root, n)
            department = children(el["department"], n) if "department" in el else {}
            executor = children(el["executor"], n) if "executor" in el else {}
            return StatusChangeNotice(
                registration_number=token(el["registrationNumber"]),
                sequence=int(token(el["sequence"])),
                status=Status(token(el["statusCode"])),
                at=read_timestamp(el["at"]),
                department=Department(token(department["code"]), token(department["name"]))
                if department
                else None,
                executor_name=token(executor["name"]) if executor else None,
                executor_phone=token(executor["phone"]) if executor else None,
                answer_date=read_date(el["answerDate"]) if "answerDate" in el else None,
                extension=_notice_extension(children(el["extension"], n))
                if "extension" in el
                else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DecodeError(DecodeFault.SCHEMA_INVALID, f"unusable value: {exc}") from None

    # ---- shared --------------------------------------------------------------------

    def _decode(self, raw: bytes, message_type: str) -> etree._Element:
        root = self.gate.parse(raw)
        self.gate.message_type(root, (message_type,))
        self.gate.validate(root)
        return root


# ---- deadline and explanation (shared with the partner contract: same element names) ------


def write_deadline(gate: SchemaGate, parent: etree._Element, deadline: Deadline) -> None:
    sub = gate.sub
    sub(parent, "kind", deadline.kind.value)
    sub(parent, "deadlineClass", deadline.deadline_class.value)
    sub(parent, "dueDate", deadline.due_date.isoformat())
    sub(parent, "state", deadline.state.value)
    if deadline.working_days_left is not None:
        sub(parent, "workingDaysLeft", str(deadline.working_days_left))
    sub(parent, "provisional", "true" if deadline.provisional else "false")
    if (extension := deadline.extension) is not None:
        element = sub(parent, "extension")
        sub(element, "workingDays", str(extension.applied_days))
        sub(element, "reason", extension.reason)
        sub(element, "applicantTold", "true" if extension.applicant_told else "false")


def _notice_extension(e: dict[str, etree._Element]) -> NoticeExtension:
    return NoticeExtension(
        due_date=read_date(e["dueDate"]),
        working_days=int(token(e["workingDays"])),
        reason=string(e["reason"]),
        provisional=_boolean(e["provisional"]),
    )


def read_deadline(element: etree._Element, n: int) -> Deadline:
    """A client's reading: the DMS's date is not in the contract, and an extension's
    requested days are read as the applied ones (only those are sent)."""
    d = children(element, n)
    extension = None
    if (ext_el := d.get("extension")) is not None:
        e = children(ext_el, n)
        days = int(token(e["workingDays"]))
        extension = Extension(days, days, string(e["reason"]), _boolean(e["applicantTold"]))
    left = d.get("workingDaysLeft")
    return Deadline(
        kind=DeadlineKind(token(d["kind"])),
        deadline_class=DeadlineClass(token(d["deadlineClass"])),
        due_date=read_date(d["dueDate"]),
        state=DeadlineState(token(d["state"])),
        working_days_left=int(token(left)) if left is not None else None,
        provisional=_boolean(d["provisional"]),
        extension=extension,
        dms_due_date=None,
    )


def write_explanation(gate: SchemaGate, parent: etree._Element, explanation: Explanation) -> None:
    sub = gate.sub
    sub(parent, "language", explanation.language.value)
    for name, text in (
        ("status", explanation.status),
        ("deadline", explanation.deadline),
        *(("note", note) for note in explanation.notes),
    ):
        if text is not None:
            element = sub(parent, name)
            sub(element, "label", text.label)
            sub(element, "text", text.text)


def read_explanation(element: etree._Element, n: int) -> Explanation:
    language, status, deadline, notes = Language.AZ, None, None, []
    for child in element:
        name = child.tag[n:]
        if name == "language":
            language = Language(token(child))
            continue
        parts = children(child, n)
        text = PlainText(token(parts["label"]), string(parts["text"]))
        if name == "status":
            status = text
        elif name == "deadline":
            deadline = text
        else:
            notes.append(text)
    if status is None:
        raise ValueError("explanation without status")
    return Explanation(language, status, deadline, tuple(notes))


def _boolean(element: etree._Element) -> bool:
    return token(element) in ("true", "1")
