"""The deadline service as the gateway builds it by default: the shipped calendar and texts."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from gateway.domain.deadlines import DeadlineRules
from gateway.reference.calendar_files import load_calendar
from gateway.reference.status_texts import status_texts
from gateway.services.deadlines import Deadlines


def shipped_deadlines(rules: DeadlineRules | None = None) -> Deadlines:
    return Deadlines(
        rules or DeadlineRules(), load_calendar(), status_texts(), ZoneInfo("Asia/Baku")
    )
