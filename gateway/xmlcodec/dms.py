"""DMS events as XML (schemas/dms/v1/dms-events.xsd) <-> domain events."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from lxml import etree

from gateway.domain.letters import (
    Agency,
    Applicant,
    ApplicantKind,
    Channel,
    DeadlineClass,
    Department,
    DmsEvent,
    Executor,
    LetterAssigned,
    LetterConcluded,
    LetterExtended,
    LetterForwarded,
    LetterRegistered,
    Status,
    StatusChanged,
)
from gateway.domain.refusals import DecodeError, DecodeFault
from gateway.domain.registration import DEFAULT_PATTERN, RegistrationNumber
from gateway.xmlcodec._schema import (
    SchemaGate,
    resolve_xsd,
)
from gateway.xmlcodec._text import collapse, write_timestamp
from gateway.xmlcodec.hardened import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH

DMS_NAMESPACE = "urn:az:customs:appeals:dms:v1"
DMS_XSD = "dms/v1/dms-events.xsd"
MESSAGE_TYPES = frozenset(
    {
        "LetterRegistered",
        "LetterAssigned",
        "StatusChanged",
        "LetterForwarded",
        "LetterExtended",
        "LetterAnswered",
        "LetterClosed",
    }
)
_CONCLUSIONS = {"LetterAnswered": Status.ANSWERED, "LetterClosed": Status.CLOSED}


def _event(kind: str, texts: dict[str, str | None], number: RegistrationNumber) -> DmsEvent:
    """The event from a validated message's texts by element name (None: empty element) and
    its registration number, normalised and checked."""

    def tok(name: str) -> str:  # an xs:token element's value
        return collapse(texts[name] or "")

    def optional(name: str) -> str | None:
        return collapse(texts[name] or "") if name in texts else None

    common: dict[str, Any] = {
        "event_id": UUID(tok("eventId")),
        "registration_number": number,
        "sequence": int(tok("sequence")),
        "occurred_at": datetime.fromisoformat(tok("occurredAt")),
    }
    if kind == "LetterRegistered":
        if "personalIdCode" in texts:
            applicant = Applicant(ApplicantKind.PERSON, tok("personalIdCode"), tok("fullName"))
        else:
            applicant = Applicant(ApplicantKind.COMPANY, tok("taxId"), tok("name"))
        forwarded_by = None
        if "agencyCode" in texts:
            forwarded_by = Agency(tok("agencyCode"), tok("agencyName"))
        due = optional("controlDueDate")
        return LetterRegistered(
            **common,
            registration_date=date.fromisoformat(tok("registrationDate")),
            channel=Channel(tok("channel")),
            applicant=applicant,
            subject=texts["subject"] or "",
            forwarded_by=forwarded_by,
            sender_reference=optional("senderReference"),
            due_date=date.fromisoformat(due) if due is not None else None,
            deadline_class=DeadlineClass(optional("deadlineClass") or DeadlineClass.GENERAL),
        )
    if kind == "LetterAssigned":
        return LetterAssigned(
            **common,
            department=Department(tok("code"), tok("name")),
            executor=Executor(tok("id"), tok("fullName"), tok("phone")),
        )
    if kind == "StatusChanged":
        return StatusChanged(
            **common,
            status=Status(tok("status")),
            public_note=(texts["publicNote"] or "") if "publicNote" in texts else None,
        )
    if kind == "LetterForwarded":
        return LetterForwarded(
            **common,
            agency=Agency(tok("code"), tok("name")),
            outgoing_reference=tok("outgoingReference"),
        )
    if kind == "LetterExtended":
        due = optional("controlDueDate")
        return LetterExtended(
            **common,
            working_days=int(tok("extensionWorkingDays")),
            reason=tok("reason"),
            applicant_told=tok("applicantTold") in ("true", "1"),
            due_date=date.fromisoformat(due) if due is not None else None,
        )
    return LetterConcluded(
        **common,
        outcome=_CONCLUSIONS[kind],
        answer_date=date.fromisoformat(tok("answerDate")),
        outgoing_reference=tok("outgoingReference"),
    )


class DmsXmlCodec:
    """Decodes (and, for the simulator and tests, encodes) DMS events. Build once."""

    def __init__(
        self,
        schemas: str | Path | None = None,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_depth: int = DEFAULT_MAX_DEPTH,
        registration_numbers: re.Pattern[str] = DEFAULT_PATTERN,
    ) -> None:
        """`schemas`: the XSD file or the schemas root directory (default: repo's schemas/).
        `registration_numbers`: the pattern a number must match (after trimming, upper-casing);
        the XSD allows any token, so the gateway's one rule is applied here."""
        self.gate = SchemaGate(
            resolve_xsd(schemas, DMS_XSD), DMS_NAMESPACE, max_bytes=max_bytes, max_depth=max_depth
        )
        self._n = len(DMS_NAMESPACE) + 2
        self._numbers = registration_numbers

    # ---- decode --------------------------------------------------------------------

    def decode(self, raw: bytes) -> DmsEvent:
        """One event from untrusted bytes, or DecodeError (its code is the dead-letter reason).

        The registration number is normalised (trimmed, upper case); one outside the pattern is
        MALFORMED_REGISTRATION_NUMBER: stored, it could never be found by a request."""
        gate = self.gate
        root = gate.parse(raw)
        kind = gate.message_type(root, MESSAGE_TYPES)
        gate.validate(root)
        # One pass over the validated tree: within a message type the XSD gives every element
        # its own local name (tests/unit/test_xml_dms.py checks), so texts go by local name.
        n = self._n
        texts = {el.tag[n:]: el.text for el in root.iter(etree.Element)}
        number = self._registration_number(kind, texts)
        try:
            return _event(kind, texts, number)
        except (ValueError, KeyError, TypeError) as exc:  # schema-valid yet unrepresentable
            raise DecodeError(DecodeFault.SCHEMA_INVALID, f"unusable value: {exc}") from None

    def _registration_number(self, kind: str, texts: dict[str, str | None]) -> RegistrationNumber:
        as_sent = collapse(texts["registrationNumber"] or "")
        number = RegistrationNumber.parse(as_sent, self._numbers)
        if isinstance(number, RegistrationNumber):
            return number
        raise DecodeError(
            DecodeFault.MALFORMED_REGISTRATION_NUMBER,
            f"{as_sent!r} does not match {self._numbers.pattern}",
            path=f"/{kind}/registrationNumber",
        )

    # ---- encode --------------------------------------------------------------------

    def encode(self, event: DmsEvent) -> bytes:
        """Schema-valid UTF-8 XML for one event; ValueError if the event cannot be expressed."""
        gate = self.gate
        sub = gate.sub
        match event:
            case LetterRegistered():
                root = gate.element("LetterRegistered")
            case LetterAssigned():
                root = gate.element("LetterAssigned")
            case StatusChanged():
                root = gate.element("StatusChanged")
            case LetterForwarded():
                root = gate.element("LetterForwarded")
            case LetterExtended():
                root = gate.element("LetterExtended")
            case LetterConcluded(outcome=Status.ANSWERED):
                root = gate.element("LetterAnswered")
            case LetterConcluded(outcome=Status.CLOSED):
                root = gate.element("LetterClosed")
            case _:
                raise ValueError(f"no XML form for {type(event).__name__}")
        sub(root, "eventId", str(event.event_id))
        sub(root, "registrationNumber", event.registration_number)
        sub(root, "sequence", str(event.sequence))
        sub(root, "occurredAt", write_timestamp(event.occurred_at))
        match event:
            case LetterRegistered():
                sub(root, "registrationDate", event.registration_date.isoformat())
                sub(root, "channel", event.channel.value)
                applicant = sub(root, "applicant")
                if event.applicant.kind is ApplicantKind.PERSON:
                    person = sub(applicant, "person")
                    sub(person, "personalIdCode", event.applicant.identifier)
                    sub(person, "fullName", event.applicant.name)
                else:
                    company = sub(applicant, "company")
                    sub(company, "taxId", event.applicant.identifier)
                    sub(company, "name", event.applicant.name)
                sub(root, "subject", event.subject)
                if event.forwarded_by is not None:
                    fwd = sub(root, "forwardedBy")
                    sub(fwd, "agencyCode", event.forwarded_by.code)
                    sub(fwd, "agencyName", event.forwarded_by.name)
                    if event.sender_reference is not None:
                        sub(fwd, "senderReference", event.sender_reference)
                elif event.sender_reference is not None:
                    raise ValueError("sender_reference without forwarded_by cannot be encoded")
                if event.due_date is not None:
                    sub(root, "controlDueDate", event.due_date.isoformat())
                if event.deadline_class is not DeadlineClass.GENERAL:  # absent means general
                    sub(root, "deadlineClass", event.deadline_class.value)
            case LetterAssigned():
                dep = sub(root, "department")
                sub(dep, "code", event.department.code)
                sub(dep, "name", event.department.name)
                exe = sub(root, "executor")
                sub(exe, "id", event.executor.id)
                sub(exe, "fullName", event.executor.full_name)
                sub(exe, "phone", event.executor.phone)
            case StatusChanged():
                sub(root, "status", event.status.value)
                if event.public_note is not None:
                    sub(root, "publicNote", event.public_note)
            case LetterForwarded():
                agency = sub(root, "agency")
                sub(agency, "code", event.agency.code)
                sub(agency, "name", event.agency.name)
                sub(root, "outgoingReference", event.outgoing_reference)
            case LetterExtended():
                sub(root, "extensionWorkingDays", str(event.working_days))
                sub(root, "reason", event.reason)
                sub(root, "applicantTold", "true" if event.applicant_told else "false")
                if event.due_date is not None:
                    sub(root, "controlDueDate", event.due_date.isoformat())
            case LetterConcluded():
                sub(root, "answerDate", event.answer_date.isoformat())
                sub(root, "outgoingReference", event.outgoing_reference)
        return gate.serialize(root)
