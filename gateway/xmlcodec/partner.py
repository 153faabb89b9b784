"""The partner service messages (schemas/partner/v1/partner-service.xsd) <-> domain objects
(gateway.domain.partners)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    PartnerRequest,
    PartnerResult,
    StatusChangeNotification,
    StatusQuery,
)
from gateway.domain.refusals import DETAIL_MAX_CHARS, DecodeError, DecodeFault, shorten
from gateway.domain.requests import Fault, FaultView, RequestHeader
from gateway.domain.texts import Language
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
from gateway.xmlcodec._text import write_timestamp
from gateway.xmlcodec.egov import (
    fault_for,
    read_deadline,
    read_explanation,
    write_deadline,
    write_explanation,
)
from gateway.xmlcodec.hardened import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH

PARTNER_NAMESPACE = "urn:az:customs:appeals:partner:v1"
PARTNER_XSD = "partner/v1/partner-service.xsd"
SUPPORTED_PROTOCOL_VERSIONS = frozenset({"1.0"})
_HEADER_FIELDS = ("client", "service", "id", "protocolVersion")
_NOTIFICATION_ID_PATH = "/StatusChangeNotification/notificationId"


@dataclass(frozen=True)
class PartnerReply:
    """A decoded PartnerReply: exactly one of `results`, `accepted` and `fault` is set."""

    header: RequestHeader | None
    request_hash: str
    results: tuple[ItemResult, ...] | None
    accepted: OutcomeAccepted | None
    fault: FaultView | None


def _probe_body(gate: SchemaGate, probe: etree._Element) -> None:
    """The smallest valid request body, after a salvaged header (see HeaderCodec)."""
    gate.sub(gate.sub(probe, "status"), "registrationNumber")


class PartnerXmlCodec:
    """Decodes and encodes PartnerRequest, PartnerReply and StatusChangeNotification.

    Build once (schema loading takes ~100 ms); meant for one event loop thread.
    """

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
            resolve_xsd(schemas, PARTNER_XSD),
            PARTNER_NAMESPACE,
            max_bytes=max_bytes,
            max_depth=max_depth,
        )
        self._n = len(PARTNER_NAMESPACE) + 2
        self._header = HeaderCodec(
            self.gate, "PartnerRequest", _HEADER_FIELDS, _probe_body, protocol_versions
        )
        self._number_tag = self.gate.tag("registrationNumber")

    # ---- requests ------------------------------------------------------------------

    def decode_request(self, raw: bytes) -> PartnerRequest:
        """A request from untrusted bytes, or DecodeError (with `.header` when readable).

        Registration numbers are returned as sent: blank and malformed numbers are the
        business of RegistrationNumber.parse (per item, in a batch). The number of
        batch items is only capped by the schema (1000); the gateway applies its own limit.
        """
        header, el = self._header.open_request(raw)
        n = self._n
        try:
            language_el = el.get("language")
            language = Language(token(language_el)) if language_el is not None else Language.AZ
            if (status_el := el.get("status")) is not None:
                return StatusQuery(header, self._read_ref(status_el), language)
            if (batch_el := el.get("batchStatus")) is not None:
                items = tuple(
                    BatchItem(item.get("ref", ""), self._read_ref(item)) for item in batch_el
                )
                return BatchStatusQuery(header, items, language)
            o = children(el["outcome"], n)
            reference, note = o.get("partnerReference"), o.get("note")
            return OutcomeReport(
                header=header,
                registration_number=string(o["registrationNumber"]),
                outcome=PartnerOutcome(token(o["outcome"])),
                at=read_timestamp(o["at"]),
                partner_reference=token(reference) if reference is not None else None,
                note=string(note) if note is not None else None,
            )
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise DecodeError(
                DecodeFault.SCHEMA_INVALID, f"unusable value: {exc}", header=header
            ) from None

    def _read_ref(self, el: etree._Element) -> LetterRef:
        """A LetterRef from `status` or `item` (one child: registrationNumber | senderReference)."""
        child = el[0]
        if child.tag == self._number_tag:
            return LetterRef(registration_number=string(child))
        return LetterRef(sender_reference=token(child))

    def encode_request(self, request: PartnerRequest) -> bytes:
        gate = self.gate
        sub = gate.sub
        root = gate.element("PartnerRequest")
        self._header.write(root, request.header)
        if isinstance(request, StatusQuery):
            self._write_ref(sub(root, "status"), request.ref)
        elif isinstance(request, BatchStatusQuery):
            batch = sub(root, "batchStatus")
            for item in request.items:
                item_el = sub(batch, "item")
                item_el.set("ref", item.item_id)
                self._write_ref(item_el, item.ref)
        else:
            outcome = sub(root, "outcome")
            sub(outcome, "registrationNumber", request.registration_number)
            sub(outcome, "outcome", request.outcome.value)
            sub(outcome, "at", write_timestamp(request.at))
            if request.partner_reference is not None:
                sub(outcome, "partnerReference", request.partner_reference)
            if request.note is not None:
                sub(outcome, "note", request.note)
        if isinstance(request, StatusQuery | BatchStatusQuery) and request.language != Language.AZ:
            sub(root, "language", request.language.value)  # absent means az
        return gate.serialize(root)

    def _write_ref(self, parent: etree._Element, ref: LetterRef) -> None:
        if ref.registration_number is not None:
            self.gate.sub(parent, "registrationNumber", ref.registration_number)
        else:
            self.gate.sub(parent, "senderReference", ref.sender_reference)

    # ---- replies -------------------------------------------------------------------

    def encode_reply(
        self,
        header: RequestHeader | None,
        request_sha256: str,
        result: PartnerResult,
    ) -> bytes:
        """A schema-valid PartnerReply; ValueError if the inputs cannot be expressed
        (e.g. no results, a header with an end user, a timestamp without time zone)."""
        gate = self.gate
        sub = gate.sub
        root = gate.element("PartnerReply")
        if header is not None:
            self._header.write(root, header)
        sub(root, "requestHash", request_sha256)
        if isinstance(result, FaultView):
            self._write_fault(root, result)
        elif isinstance(result, OutcomeAccepted):
            sub(sub(root, "accepted"), "registrationNumber", result.registration_number)
        else:
            results = sub(root, "results")
            for item in result:
                result_el = sub(results, "result")
                if item.item_id is not None:
                    result_el.set("ref", item.item_id)
                if isinstance(item.result, FaultView):
                    self._write_fault(result_el, item.result)
                else:
                    self._write_letter(result_el, item.result)
        return gate.serialize(root)

    def _write_fault(self, parent: etree._Element, fault: FaultView) -> None:
        sub = self.gate.sub
        el = sub(parent, "fault")
        sub(el, "code", fault.code.value)
        sub(el, "message", fault.message)
        if fault.detail is not None:
            sub(el, "detail", shorten(fault.detail, DETAIL_MAX_CHARS))

    def _write_letter(self, parent: etree._Element, view: PartnerLetterView) -> None:
        sub = self.gate.sub
        letter = sub(parent, "letter")
        sub(letter, "registrationNumber", view.registration_number)
        if view.registration_date is not None:
            sub(letter, "registrationDate", view.registration_date.isoformat())
        if view.sender_reference is not None:
            sub(letter, "senderReference", view.sender_reference)
        sub(letter, "statusCode", view.status.value)
        texts = status_texts()
        sub(letter, "labelAz", texts.status(view.status, Language.AZ).label)
        sub(letter, "labelEn", texts.status(view.status, Language.EN).label)
        if view.department_code is not None or view.department_name is not None:
            dep = sub(letter, "department")  # both or neither: one alone is refused
            sub(dep, "code", view.department_code)
            sub(dep, "name", view.department_name)
        sub(letter, "lastChangeAt", write_timestamp(view.last_change_at))
        if view.answer_date is not None:
            sub(letter, "answerDate", view.answer_date.isoformat())
        sub(letter, "asOf", write_timestamp(view.as_of))
        if view.deadline is not None:
            write_deadline(self.gate, sub(letter, "deadline"), view.deadline)
        if view.explanation is not None:
            write_explanation(self.gate, sub(letter, "explanation"), view.explanation)

    def decode_reply(self, raw: bytes) -> PartnerReply:
        root = self._decode(raw, "PartnerReply")
        n = self._n
        try:
            el = children(root, n)
            header = self._header.read(el["header"]) if "header" in el else None
            request_hash = token(el["requestHash"])
            if (fault_el := el.get("fault")) is not None:
                return PartnerReply(header, request_hash, None, None, self._read_fault(fault_el))
            if (accepted_el := el.get("accepted")) is not None:
                accepted = OutcomeAccepted(token(accepted_el[0]))
                return PartnerReply(header, request_hash, None, accepted, None)
            results = []
            for result_el in el["results"]:
                body = result_el[0]
                results.append(
                    ItemResult(
                        result_el.get("ref"),
                        self._read_fault(body)
                        if body.tag[n:] == "fault"
                        else self._read_letter(body),
                    )
                )
            return PartnerReply(header, request_hash, tuple(results), None, None)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise DecodeError(DecodeFault.SCHEMA_INVALID, f"unusable value: {exc}") from None

    def _read_fault(self, fault_el: etree._Element) -> FaultView:
        f = children(fault_el, self._n)
        detail = f.get("detail")
        return FaultView(Fault(token(f["code"])), string(detail) if detail is not None else None)

    def _read_letter(self, letter_el: etree._Element) -> PartnerLetterView:
        n = self._n
        s = children(letter_el, n)
        dep = children(s["department"], n) if "department" in s else {}
        reference = s.get("senderReference")
        return PartnerLetterView(
            registration_number=token(s["registrationNumber"]),
            registration_date=read_date(s["registrationDate"]) if "registrationDate" in s else None,
            sender_reference=token(reference) if reference is not None else None,
            status=Status(token(s["statusCode"])),
            last_change_at=read_timestamp(s["lastChangeAt"]),
            department_code=token(dep["code"]) if dep else None,
            department_name=token(dep["name"]) if dep else None,
            answer_date=read_date(s["answerDate"]) if "answerDate" in s else None,
            as_of=read_timestamp(s["asOf"]),
            deadline=read_deadline(s["deadline"], n) if "deadline" in s else None,
            explanation=read_explanation(s["explanation"], n) if "explanation" in s else None,
        )

    # ---- notifications ---------------------------------------------------------------

    def encode_notification(self, notification: StatusChangeNotification) -> bytes:
        gate = self.gate
        sub = gate.sub
        root = gate.element("StatusChangeNotification")
        sub(root, "notificationId", notification.notification_id)
        sub(root, "registrationNumber", notification.registration_number)
        if notification.sender_reference is not None:
            sub(root, "senderReference", notification.sender_reference)
        sub(root, "sequence", str(notification.sequence))
        sub(root, "statusCode", notification.status.value)
        texts = status_texts()
        sub(root, "labelAz", texts.status(notification.status, Language.AZ).label)
        sub(root, "labelEn", texts.status(notification.status, Language.EN).label)
        sub(root, "at", write_timestamp(notification.at))
        if notification.note is not None:
            sub(root, "note", notification.note)
        return gate.serialize(root)

    def decode_notification(
        self, raw: bytes, partner_code: str | None = None
    ) -> StatusChangeNotification:
        """The partner code is not an element of its own: it is derived from notificationId,
        which must be "{partner code}/{registrationNumber}/{sequence}" with the message's own
        number and sequence (else SCHEMA_INVALID at .../notificationId). When `partner_code`
        is given (a partner decoding what it received), the id must also name that partner.
        """
        root = self._decode(raw, "StatusChangeNotification")
        try:
            el = children(root, self._n)
            number = token(el["registrationNumber"])
            sequence = int(token(el["sequence"]))
            notification_id = token(el["notificationId"])
            suffix = f"/{number}/{sequence}"
            derived = notification_id[: -len(suffix)]
            if not notification_id.endswith(suffix) or not derived:
                raise DecodeError(
                    DecodeFault.SCHEMA_INVALID,
                    f"notificationId {notification_id!r} is not "
                    "{partner code}/{registrationNumber}/{sequence}",
                    path=_NOTIFICATION_ID_PATH,
                )
            if partner_code is not None and derived != partner_code:
                raise DecodeError(
                    DecodeFault.SCHEMA_INVALID,
                    f"notificationId {notification_id!r} is not for partner {partner_code}",
                    path=_NOTIFICATION_ID_PATH,
                )
            reference, note = el.get("senderReference"), el.get("note")
            return StatusChangeNotification(
                partner_code=derived,
                registration_number=number,
                sender_reference=token(reference) if reference is not None else None,
                sequence=sequence,
                status=Status(token(el["statusCode"])),
                at=read_timestamp(el["at"]),
                note=string(note) if note is not None else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DecodeError(DecodeFault.SCHEMA_INVALID, f"unusable value: {exc}") from None

    # ---- shared --------------------------------------------------------------------

    def _decode(self, raw: bytes, message_type: str) -> etree._Element:
        root = self.gate.parse(raw)
        self.gate.message_type(root, (message_type,))
        self.gate.validate(root)
        return root
