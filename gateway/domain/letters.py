"""Letters as the DMS describes them, and how its events fold into the current state.

Order safety: each event carries a per-letter sequence number assigned by the DMS.
The state is split into groups of fields; each group remembers the sequence of the
event that last set it and only a higher sequence may overwrite it. The final state
is therefore the same for any order and any duplication of one letter's events.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID


class Status(enum.StrEnum):
    REGISTERED = "registered"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in-progress"
    INFO_REQUESTED = "additional-info-requested"
    FORWARDED = "forwarded"
    ANSWERED = "answered"
    CLOSED = "closed"


class DeadlineClass(enum.StrEnum):
    """Law on citizens' appeals, art. 10.1: which answer term applies."""

    GENERAL = "general"
    ADDITIONAL_STUDY = "additional-study"  # needs additional study or verification


class Channel(enum.StrEnum):
    EGOV_PORTAL = "egov-portal"
    WEBSITE = "website"
    POST = "post"
    IN_PERSON = "in-person"
    AGENCY = "agency"


# Regulation 1.2: who applied electronically gets an acceptance notice.
ELECTRONIC_CHANNELS = frozenset({Channel.EGOV_PORTAL, Channel.WEBSITE})


class ApplicantKind(enum.StrEnum):
    PERSON = "person"
    COMPANY = "company"


@dataclass(frozen=True)
class Applicant:
    kind: ApplicantKind
    identifier: str  # personal id code or tax id; only its keyed hash is ever stored
    name: str


@dataclass(frozen=True)
class Department:
    code: str
    name: str


@dataclass(frozen=True)
class Executor:
    id: str
    full_name: str
    phone: str


@dataclass(frozen=True)
class Agency:
    code: str
    name: str


HashFn = Callable[[str], str]


# ---- events -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DmsEvent:
    event_id: UUID
    registration_number: str
    sequence: int
    occurred_at: datetime

    @property
    def implied_status(self) -> Status:
        raise NotImplementedError

    @property
    def note(self) -> str | None:
        return None


@dataclass(frozen=True, kw_only=True)
class LetterRegistered(DmsEvent):
    registration_date: date
    channel: Channel
    applicant: Applicant
    subject: str
    forwarded_by: Agency | None = None
    sender_reference: str | None = None  # the forwarding agency's own outgoing reference
    due_date: date | None = None  # the DMS's own control date, kept to compare with ours
    deadline_class: DeadlineClass = DeadlineClass.GENERAL

    @property
    def implied_status(self) -> Status:
        return Status.REGISTERED


@dataclass(frozen=True, kw_only=True)
class LetterAssigned(DmsEvent):
    department: Department
    executor: Executor

    @property
    def implied_status(self) -> Status:
        return Status.ASSIGNED


@dataclass(frozen=True, kw_only=True)
class StatusChanged(DmsEvent):
    status: Status
    public_note: str | None = None

    @property
    def implied_status(self) -> Status:
        return self.status

    @property
    def note(self) -> str | None:
        return self.public_note


@dataclass(frozen=True, kw_only=True)
class LetterForwarded(DmsEvent):
    agency: Agency
    outgoing_reference: str

    @property
    def implied_status(self) -> Status:
        return Status.FORWARDED


@dataclass(frozen=True, kw_only=True)
class LetterExtended(DmsEvent):
    """Art. 10.2: the answer term was extended (once; a later extension event corrects it)."""

    working_days: int  # added to the term; the rules cap it (at most 30 by default)
    reason: str  # shown to the applicant
    applicant_told: bool
    due_date: date | None = None  # the DMS's own new control date, if it sent one

    def __post_init__(self) -> None:
        if self.working_days < 1:
            raise ValueError("an extension adds at least one working day")

    @property
    def implied_status(self) -> Status:
        return Status.IN_PROGRESS  # still being worked on; the reason is the history note

    @property
    def note(self) -> str | None:
        return self.reason


@dataclass(frozen=True, kw_only=True)
class LetterConcluded(DmsEvent):
    """Answered or closed: both carry the answer date and our outgoing reference."""

    outcome: Status  # Status.ANSWERED or Status.CLOSED
    answer_date: date
    outgoing_reference: str

    def __post_init__(self) -> None:
        if self.outcome not in (Status.ANSWERED, Status.CLOSED):
            raise ValueError(f"a letter concludes as answered or closed, not {self.outcome}")

    @property
    def implied_status(self) -> Status:
        return self.outcome


# ---- state --------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    sequence: int
    status: Status
    at: datetime
    note: str | None = None

    @classmethod
    def of(cls, event: DmsEvent) -> HistoryEntry:
        return cls(event.sequence, event.implied_status, event.occurred_at, event.note)


NEVER = 0  # sequence of a field group no event has set yet; DMS sequences start at 1

# A letter's fields in groups, each with the sequence number of the event that set it. An
# event sets a group only if its sequence is higher (Letter.apply); two states combine the
# same way, group by group (Letter.merge), which is what makes the order of events moot.
FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "registration_seq": (
        "registration_date",
        "channel",
        "applicant_kind",
        "applicant_hash",
        "forwarded_by_code",
        "sender_reference",
        "due_date",
        "deadline_class",
    ),
    "assignment_seq": ("department", "executor"),
    "status_seq": ("status", "status_at"),
    "forwarding_seq": ("forwarded_to", "forwarding_reference", "forwarding_date"),
    "conclusion_seq": ("answer_date", "answer_reference"),
    "extension_seq": (
        "extension_days",
        "extension_reason",
        "extension_applicant_told",
        "extension_due_date",
    ),
}


@dataclass(frozen=True)
class Letter:
    """Current state of one letter. Personal identifiers appear only as keyed hashes."""

    registration_number: str
    # registration group
    registration_seq: int = NEVER
    registration_date: date | None = None
    channel: Channel | None = None
    applicant_kind: ApplicantKind | None = None
    applicant_hash: str | None = None
    forwarded_by_code: str | None = None
    sender_reference: str | None = None
    due_date: date | None = None
    deadline_class: DeadlineClass | None = None
    # assignment group
    assignment_seq: int = NEVER
    department: Department | None = None
    executor: Executor | None = None
    # status group: every event implies a status
    status_seq: int = NEVER
    status: Status | None = None
    status_at: datetime | None = None
    # forwarding group
    forwarding_seq: int = NEVER
    forwarded_to: Agency | None = None
    forwarding_reference: str | None = None
    forwarding_date: date | None = None
    # conclusion group
    conclusion_seq: int = NEVER
    answer_date: date | None = None
    answer_reference: str | None = None
    # extension group (art. 10.2)
    extension_seq: int = NEVER
    extension_days: int | None = None
    extension_reason: str | None = None
    extension_applicant_told: bool | None = None
    extension_due_date: date | None = None  # the DMS's own control date after the extension

    @property
    def is_registered(self) -> bool:
        """False while only later events have arrived (status before registration)."""
        return self.registration_seq != NEVER

    def apply(self, event: DmsEvent, hash_identifier: HashFn) -> Letter:
        """Fold one event in. Pure; `hash_identifier` keys the applicant's identifier."""
        if event.registration_number != self.registration_number:
            raise ValueError("event belongs to another letter")
        changes: dict[str, Any] = {}
        seq = event.sequence
        if seq > self.status_seq:
            changes.update(status_seq=seq, status=event.implied_status, status_at=event.occurred_at)
        match event:
            case LetterRegistered() if seq > self.registration_seq:
                changes.update(
                    registration_seq=seq,
                    registration_date=event.registration_date,
                    channel=event.channel,
                    applicant_kind=event.applicant.kind,
                    applicant_hash=hash_identifier(event.applicant.identifier),
                    forwarded_by_code=event.forwarded_by.code if event.forwarded_by else None,
                    sender_reference=event.sender_reference,
                    due_date=event.due_date,
                    deadline_class=event.deadline_class,
                )
            case LetterAssigned() if seq > self.assignment_seq:
                changes.update(
                    assignment_seq=seq, department=event.department, executor=event.executor
                )
            case LetterForwarded() if seq > self.forwarding_seq:
                changes.update(
                    forwarding_seq=seq,
                    forwarded_to=event.agency,
                    forwarding_reference=event.outgoing_reference,
                    forwarding_date=event.occurred_at.date(),
                )
            case LetterConcluded() if seq > self.conclusion_seq:
                changes.update(
                    conclusion_seq=seq,
                    answer_date=event.answer_date,
                    answer_reference=event.outgoing_reference,
                )
            case LetterExtended() if seq > self.extension_seq:
                changes.update(
                    extension_seq=seq,
                    extension_days=event.working_days,
                    extension_reason=event.reason,
                    extension_applicant_told=event.applicant_told,
                    extension_due_date=event.due_date,
                )
        if not changes:
            return self
        return self._with(changes)

    def merge(self, other: Letter) -> Letter:
        """Both states in one: in each field group, the one its higher sequence set. Folding
        events in any split and merging the parts gives the letter folding them all gives."""
        if other.registration_number != self.registration_number:
            raise ValueError("merging two different letters")
        changes: dict[str, Any] = {}
        for seq, fields in FIELD_GROUPS.items():
            if getattr(other, seq) > getattr(self, seq):
                changes.update((name, getattr(other, name)) for name in (seq, *fields))
        return self._with(changes) if changes else self

    def _with(self, changes: dict[str, Any]) -> Letter:
        # dataclasses.replace would run the frozen __init__ again; a shallow copy
        # with the changed fields set is the same value at a fraction of the cost (hot path).
        changed = copy.copy(self)
        for name, value in changes.items():
            object.__setattr__(changed, name, value)
        return changed


@dataclass
class LetterFold:
    """A letter with its history, as folded from events (used by tests and rebuild checks)."""

    letter: Letter
    history: dict[int, HistoryEntry] = field(default_factory=dict)
    seen: set[UUID] = field(default_factory=set)

    def apply(self, event: DmsEvent, hash_identifier: HashFn) -> None:
        if event.event_id in self.seen:
            return
        self.seen.add(event.event_id)
        self.letter = self.letter.apply(event, hash_identifier)
        self.history.setdefault(event.sequence, HistoryEntry.of(event))


@dataclass(frozen=True)
class AcceptanceNotice:
    """Regulation 1.2: an online applicant is told their letter's registration number."""

    notice_id: UUID  # the registration event's id, so a notice is never issued twice
    registration_number: str
    registration_date: date
    channel: Channel
    user_kind: ApplicantKind
    user_id: str

    @classmethod
    def for_registration(cls, event: LetterRegistered) -> AcceptanceNotice | None:
        if event.channel not in ELECTRONIC_CHANNELS:
            return None
        return cls(
            event.event_id,
            event.registration_number,
            event.registration_date,
            event.channel,
            event.applicant.kind,
            event.applicant.identifier,
        )
