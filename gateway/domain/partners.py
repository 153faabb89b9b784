"""Partner agencies: other state bodies that forward letters to us or receive ours.

A partner is known by the topic its request arrived on (Kafka ACLs let each partner write only
to its own request topic), never by what its message claims. It sees only letters it forwarded
to us or that we forwarded to it, and never the applicant's identity.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from gateway.domain.deadlines import Deadline
from gateway.domain.letters import Letter, Status
from gateway.domain.requests import FaultView, RequestHeader
from gateway.domain.texts import Explanation, Language


class Operation(enum.StrEnum):
    STATUS = "status"
    BATCH_STATUS = "batch-status"
    NOTIFICATIONS = "notifications"
    REPORT_OUTCOME = "report-outcome"


@dataclass(frozen=True)
class Partner:
    code: str
    name: str
    request_topic: str
    reply_topic: str
    notification_topic: str
    operations: frozenset[Operation]


def partner_may_see(letter: Letter, partner_code: str) -> bool:
    if not letter.is_registered:
        return False
    forwarded_to = letter.forwarded_to.code if letter.forwarded_to else None
    return partner_code in (letter.forwarded_by_code, forwarded_to)


# ---- requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class LetterRef:
    """Our registration number, or the partner's own outgoing reference for a letter it sent."""

    registration_number: str | None = None
    sender_reference: str | None = None

    def __post_init__(self) -> None:
        if (self.registration_number is None) == (self.sender_reference is None):
            raise ValueError("a letter is referred to by exactly one of number or reference")


@dataclass(frozen=True)
class StatusQuery:
    header: RequestHeader
    ref: LetterRef
    language: Language = Language.AZ  # of the explanation in the reply


@dataclass(frozen=True)
class BatchItem:
    item_id: str
    ref: LetterRef


@dataclass(frozen=True)
class BatchStatusQuery:
    header: RequestHeader
    items: tuple[BatchItem, ...]
    language: Language = Language.AZ


class PartnerOutcome(enum.StrEnum):
    RECEIVED = "received"
    ANSWERED = "answered"


@dataclass(frozen=True)
class OutcomeReport:
    """What became of a letter we forwarded to the partner."""

    header: RequestHeader
    registration_number: str
    outcome: PartnerOutcome
    at: datetime
    partner_reference: str | None = None
    note: str | None = None


PartnerRequest = StatusQuery | BatchStatusQuery | OutcomeReport


# ---- replies and notifications ----------------------------------------------------------


@dataclass(frozen=True)
class PartnerLetterView:
    """What a partner is shown: where the letter is, never who wrote it."""

    registration_number: str
    registration_date: date | None
    sender_reference: str | None
    status: Status
    last_change_at: datetime
    department_code: str | None
    department_name: str | None
    answer_date: date | None
    as_of: datetime
    deadline: Deadline | None = None
    explanation: Explanation | None = None


@dataclass(frozen=True)
class ItemResult:
    item_id: str | None  # None for a single-letter status request
    result: PartnerLetterView | FaultView


@dataclass(frozen=True)
class OutcomeAccepted:
    registration_number: str


PartnerResult = tuple[ItemResult, ...] | OutcomeAccepted | FaultView


@dataclass(frozen=True)
class StatusChangeNotification:
    """Pushed to a partner for each status change of a letter it forwarded to us."""

    partner_code: str
    registration_number: str
    sender_reference: str | None
    sequence: int
    status: Status
    at: datetime
    note: str | None = None

    @property
    def notification_id(self) -> str:
        return f"{self.partner_code}/{self.registration_number}/{self.sequence}"
