"""When a letter's answer is due, and whether it is late (Law "On citizens' appeals", 2015).

- art. 10.1: answered within 15 working days, 30 where additional study is needed;
- art. 10.2: extended once by at most 30 working days, the applicant told;
- art. 7.10: outside the authority's competence, forwarded within 3 working days.

The numbers are a rule set (DeadlineRules) set by the operator, not constants here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.letters import DeadlineClass, Letter, Status


class DeadlineKind(enum.StrEnum):
    ANSWER = "answer"  # art. 10.1 / 10.2
    FORWARDING = "forwarding"  # art. 7.10: the letter went to the competent body


class DeadlineState(enum.StrEnum):
    ON_TIME = "on-time"
    DUE_SOON = "due-soon"
    OVERDUE = "overdue"
    ANSWERED_ON_TIME = "answered-on-time"
    ANSWERED_LATE = "answered-late"


FINISHED = frozenset({Status.ANSWERED, Status.CLOSED})


@dataclass(frozen=True)
class DeadlineRules:
    """Terms in working days. Defaults are the law's; the operator may change them."""

    general: int = 15
    additional_study: int = 30
    max_extension: int = 30
    forwarding: int = 3
    due_soon: int = 3  # an open letter with at most this many working days left is due soon

    def __post_init__(self) -> None:
        # an extension counts at least one working day: the contracts have no empty extension
        for name in ("general", "additional_study", "max_extension", "forwarding"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least one working day")
        if self.due_soon < 0:
            raise ValueError("due_soon must not be negative")

    def term(self, deadline_class: DeadlineClass) -> int:
        if deadline_class is DeadlineClass.ADDITIONAL_STUDY:
            return self.additional_study
        return self.general

    def extension(self, requested: int | None) -> int:
        """Working days an extension adds: as the DMS decided, at most the rules' maximum."""
        return min(requested or 0, self.max_extension)


@dataclass(frozen=True)
class Extension:
    requested_days: int  # as the DMS sent it
    applied_days: int  # what the due date uses (capped by the rules)
    reason: str
    applicant_told: bool


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    deadline_class: DeadlineClass
    due_date: date
    state: DeadlineState
    working_days_left: int | None  # open letters only; negative when overdue
    provisional: bool  # the calendar lacks a year the computation touched
    extension: Extension | None
    dms_due_date: date | None  # what the DMS sent, if anything

    @property
    def dms_disagrees(self) -> bool:
        """The DMS's control date is of the answer: a forwarding term is not compared."""
        return (
            self.kind is DeadlineKind.ANSWER
            and self.dms_due_date is not None
            and self.dms_due_date != self.due_date
        )


def deadline_of(
    letter: Letter, today: date, rules: DeadlineRules, calendar: WorkingCalendar
) -> Deadline | None:
    """The letter's deadline as of `today`; None until its registration date is known."""
    registered = letter.registration_date
    if registered is None:
        return None
    deadline_class = letter.deadline_class or DeadlineClass.GENERAL
    extension = _extension(letter, rules)
    done_on: date | None
    if letter.answer_date is None and letter.forwarding_date is not None:
        kind, term, done_on = DeadlineKind.FORWARDING, rules.forwarding, letter.forwarding_date
        extension = None  # an extension is of the answer term
    else:
        kind, done_on = DeadlineKind.ANSWER, _answered_on(letter)
        term = rules.term(deadline_class) + (extension.applied_days if extension else 0)
    due = calendar.add_working_days(registered, term)
    provisional, left = due.provisional, None
    if done_on is not None:
        on_time = done_on <= due.day
        state = DeadlineState.ANSWERED_ON_TIME if on_time else DeadlineState.ANSWERED_LATE
    else:
        counted = calendar.working_days_between(today, due.day)
        left, provisional = counted.value, provisional or counted.provisional
        state = _open_state(today > due.day, left, rules)
    dms_due = letter.extension_due_date if extension else letter.due_date
    return Deadline(kind, deadline_class, due.day, state, left, provisional, extension, dms_due)


def _answered_on(letter: Letter) -> date | None:
    """The answer date; for a letter the DMS marked answered or closed by a status change
    alone (no LetterAnswered/LetterClosed), the day of that change, in UTC as stored."""
    if letter.answer_date is not None:
        return letter.answer_date
    if letter.status in FINISHED and letter.status_at is not None:
        return letter.status_at.astimezone(UTC).date()
    return None


def _extension(letter: Letter, rules: DeadlineRules) -> Extension | None:
    if letter.extension_days is None:
        return None
    return Extension(
        letter.extension_days,
        rules.extension(letter.extension_days),
        letter.extension_reason or "",
        bool(letter.extension_applicant_told),
    )


def _open_state(past_due: bool, working_days_left: int, rules: DeadlineRules) -> DeadlineState:
    # by date, not by count: the Saturday after a Friday due date has 0 working days left
    # and is late all the same
    if past_due:
        return DeadlineState.OVERDUE
    if working_days_left <= rules.due_soon:
        return DeadlineState.DUE_SOON
    return DeadlineState.ON_TIME
