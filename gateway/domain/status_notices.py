"""Status-change notices to the portal: for a letter that came in electronically, each change
the applicant can see (its status with department, executor, answer and any extension of the
answer term) is pushed once, in sequence order per letter, so the applicant need not keep asking."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from gateway.domain.deadlines import Deadline
from gateway.domain.letters import (
    ELECTRONIC_CHANNELS,
    Department,
    HistoryEntry,
    Letter,
    Status,
)

REGISTERED = Status.REGISTERED


@dataclass(frozen=True)
class NoticeExtension:
    """Art. 10.2: the applicant is told of the extension: the new due date and why."""

    due_date: date  # the legal one, the extension included (the date replies show)
    working_days: int  # what the extension added (as decided, capped by the rules)
    reason: str
    provisional: bool  # the calendar lacks a year the due date touched

    @classmethod
    def of(cls, deadline: Deadline | None) -> NoticeExtension | None:
        if deadline is None or deadline.extension is None:
            return None  # not extended, or forwarded: a forwarding term is never extended
        extension = deadline.extension
        return cls(
            deadline.due_date, extension.applied_days, extension.reason, deadline.provisional
        )


@dataclass(frozen=True)
class StatusChangeNotice:
    registration_number: str
    sequence: int  # the DMS sequence of the change; with the number, the notice's identity
    status: Status
    at: datetime
    department: Department | None  # as the letter stood when the notice was queued
    executor_name: str | None
    executor_phone: str | None
    answer_date: date | None
    extension: NoticeExtension | None = None  # as the letter stood when the notice was queued

    @property
    def notice_id(self) -> str:
        """The id header the portal drops a repeat by (a crash between publish and record)."""
        return f"{self.registration_number}/{self.sequence}"


def status_change_notices(
    letters: Mapping[str, Letter],
    new_entries: Mapping[str, Iterable[HistoryEntry]],
    last_noticed: Mapping[str, int],
    deadline_of: Callable[[Letter], Deadline | None],
) -> list[StatusChangeNotice]:
    """The notices a stored batch gives: per letter from an electronic channel, one per new
    history entry after the last one noticed, in sequence order. An entry at or below that
    arrived late: the newer state it would announce is already announced, and sending it now
    would break the per-letter order (its other fields reach the applicant with the next).
    So is an extension: every notice carries the letter's extension, if any, from the
    extension event's own notice on (or, if that event came late, from the next one)."""
    notices: list[StatusChangeNotice] = []
    for number, entries in new_entries.items():
        letter = letters.get(number)
        if letter is None or letter.channel not in ELECTRONIC_CHANNELS:
            continue
        after = last_noticed.get(number, 0)
        # The registration itself is the acceptance notice's news (regulation 1.2).
        fresh = {
            e.sequence: e for e in entries if e.sequence > after and e.status is not REGISTERED
        }
        extension = NoticeExtension.of(deadline_of(letter)) if fresh else None
        notices += [
            StatusChangeNotice(
                number,
                sequence,
                entry.status,
                entry.at,
                letter.department,
                letter.executor.full_name if letter.executor else None,
                letter.executor.phone if letter.executor else None,
                letter.answer_date,
                extension,
            )
            for sequence, entry in sorted(fresh.items())
        ]
    return notices
