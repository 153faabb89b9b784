"""Status requests, their answers and the closed list of faults (the public contract)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from gateway.domain.deadlines import Deadline
from gateway.domain.letters import ApplicantKind, HistoryEntry, Status
from gateway.domain.texts import Explanation, Language


class Fault(enum.StrEnum):
    INVALID_REQUEST = "INVALID_REQUEST"
    MISSING_REGISTRATION_NUMBER = "MISSING_REGISTRATION_NUMBER"
    MALFORMED_REGISTRATION_NUMBER = "MALFORMED_REGISTRATION_NUMBER"
    NOT_FOUND = "NOT_FOUND"
    ACCESS_DENIED = "ACCESS_DENIED"
    RATE_LIMITED = "RATE_LIMITED"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
    AUTH_LEVEL_NOT_ACCEPTED = "AUTH_LEVEL_NOT_ACCEPTED"


FAULT_MESSAGES: dict[Fault, str] = {
    Fault.INVALID_REQUEST: "The request does not conform to the schema.",
    Fault.MISSING_REGISTRATION_NUMBER: "The registration number is missing.",
    Fault.MALFORMED_REGISTRATION_NUMBER: "The registration number is not in the expected format.",
    Fault.NOT_FOUND: "No letter with this registration number is available to you.",
    Fault.ACCESS_DENIED: "The client is not allowed to use this service.",
    Fault.RATE_LIMITED: "Too many requests; try again later.",
    Fault.UNSUPPORTED_VERSION: "This version of the protocol is not supported.",
    Fault.TEMPORARILY_UNAVAILABLE: "The service is temporarily unavailable; try again later.",
    Fault.AUTH_LEVEL_NOT_ACCEPTED: (
        "The user must be authenticated with an enhanced electronic signature (regulation 3.1)."
    ),
}


@dataclass(frozen=True)
class RequestHeader:
    """Modelled on the X-Road message header."""

    client_id: str
    service_code: str
    message_id: str
    protocol_version: str
    user_id: str | None = None  # authenticated end user: personal id code or tax id
    user_kind: ApplicantKind | None = None
    auth_level: str | None = None
    operator_id: str | None = None  # call-center operator, instead of an end user


class Query(enum.StrEnum):
    STATUS = "status"
    ACCESS_LOG = "access-log"  # who looked at the letter: its applicant only


@dataclass(frozen=True)
class StatusRequest:
    header: RequestHeader
    registration_number: str | None  # as sent; None when the element is absent
    query: Query = Query.STATUS
    # A console department head may see only their departments' letters; None = no such scope.
    departments: frozenset[str] | None = None
    language: Language = Language.AZ  # of the plain-language texts in the reply


@dataclass(frozen=True)
class StatusView:
    """What a requester entitled to the letter is shown."""

    registration_number: str
    registration_date: date | None
    status: Status
    last_change_at: datetime
    department_code: str | None
    department_name: str | None
    executor_name: str | None
    executor_phone: str | None
    due_date: date | None  # the one the applicant sees: the legal due date when known
    history: tuple[HistoryEntry, ...]
    as_of: datetime
    deadline: Deadline | None = None
    explanation: Explanation | None = None


@dataclass(frozen=True)
class FaultView:
    code: Fault
    detail: str | None = None  # e.g. the schema error path for INVALID_REQUEST

    @property
    def message(self) -> str:
        return FAULT_MESSAGES[self.code]
