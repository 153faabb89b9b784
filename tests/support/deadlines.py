"""The deadline service as the gateway builds it by default (the shipped calendar and texts),
and an extended letter to test it with."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.domain.deadlines import DeadlineRules
from gateway.domain.letters import (
    Applicant,
    ApplicantKind,
    Channel,
    Department,
    DmsEvent,
    Executor,
    LetterAssigned,
    LetterExtended,
    LetterRegistered,
    Status,
    StatusChanged,
)
from gateway.reference.calendar_files import load_calendar
from gateway.reference.status_texts import status_texts
from gateway.services.deadlines import Deadlines


def shipped_deadlines(rules: DeadlineRules | None = None) -> Deadlines:
    return Deadlines(
        rules or DeadlineRules(), load_calendar(), status_texts(), ZoneInfo("Asia/Baku")
    )


EXTENSION_DAYS = 10


def extended_letter(
    registered_on: date, reason: str, number: str = "DGK-2026-000777"
) -> list[DmsEvent]:
    """Sequences 1-5, a day apart: registered on the portal, assigned, in progress, extended
    by EXTENSION_DAYS working days (art. 10.2), then information asked of the applicant."""
    at = datetime.combine(registered_on, time(9), UTC)

    def common(sequence: int) -> dict[str, object]:
        return {
            "event_id": uuid.uuid4(),
            "registration_number": number,
            "sequence": sequence,
            "occurred_at": at + timedelta(days=sequence - 1),
        }

    return [
        LetterRegistered(
            **common(1),  # type: ignore[arg-type]
            registration_date=registered_on,
            channel=Channel.EGOV_PORTAL,
            applicant=Applicant(ApplicantKind.PERSON, "5ABCDEF", "Vətəndaş"),
            subject="Customs value",
        ),
        LetterAssigned(
            **common(2),  # type: ignore[arg-type]
            department=Department("D1", "Tariffs"),
            executor=Executor("E-1", "Aysel Məmmədova", "+994 12 555 01 01"),
        ),
        StatusChanged(**common(3), status=Status.IN_PROGRESS),  # type: ignore[arg-type]
        LetterExtended(
            **common(4),  # type: ignore[arg-type]
            working_days=EXTENSION_DAYS,
            reason=reason,
            applicant_told=False,
        ),
        StatusChanged(**common(5), status=Status.INFO_REQUESTED),  # type: ignore[arg-type]
    ]
