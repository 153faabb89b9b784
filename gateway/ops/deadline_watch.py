"""Keeps the store's copy of the working-day calendar current and the deadline metrics fresh.

At start: the calendar files become calendar_days rows (reports count working days in SQL),
and the letters' stored deadline figures are recomputed if the calendar or the rules changed.
Then, every GATEWAY_DEADLINE_WATCH_INTERVAL_S: open letters overdue and due soon by department,
letters whose DMS date disagrees with the gateway's, and which calendar years are missing
(this year and the next; reported on /health/ready as a note, never as unready).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.deadlines import DeadlineRules
from gateway.reference.calendar_files import load_calendar
from gateway.services.background import every
from gateway.settings import Settings
from gateway.store.deadlines import calendar_range, open_deadline_counts, store_calendar
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness

log = logging.getLogger(__name__)
CALENDAR_NOTE = "calendar"
NO_DEPARTMENT = "(unassigned)"


def missing_years_note(calendar: WorkingCalendar, today: date) -> str | None:
    missing = calendar.missing((today.year, today.year + 1))
    if not missing:
        return None
    years = ", ".join(map(str, missing))
    return (
        f"working-day calendar lacks {years}: due dates touching it count weekends only and "
        "are marked provisional; add <year>.toml (see README, Legal deadlines)"
    )


async def store_settings_calendar(settings: Settings, engine: AsyncEngine, today: date) -> None:
    """For commands on a store without a running gateway (report, rebuild): the calendar as
    the files say now and the settings' rules, stored as a start stores them."""
    calendar = load_calendar(settings.calendar_dir)
    first, last = calendar_range(calendar, today)
    await store_calendar(engine, calendar, first, last, settings.deadline_rules())


class DeadlineWatch:
    def __init__(
        self,
        engine: AsyncEngine,
        calendar: WorkingCalendar,
        rules: DeadlineRules,
        readiness: Readiness,
        metrics: Metrics,
        today: Callable[[], date],
        interval_s: float,
    ) -> None:
        self._engine, self._calendar, self._rules = engine, calendar, rules
        self._readiness, self._metrics = readiness, metrics
        self._today, self._interval_s = today, interval_s

    async def store_calendar(self) -> None:
        first, last = calendar_range(self._calendar, self._today())
        await store_calendar(self._engine, self._calendar, first, last, self._rules)

    async def refresh(self) -> None:
        today = self._today()
        self._metrics.calendar_lacks(self._calendar.missing((today.year, today.year + 1)))
        note = missing_years_note(self._calendar, today)
        if note:
            self._readiness.notes[CALENDAR_NOTE] = note
        else:
            self._readiness.notes.pop(CALENDAR_NOTE, None)
        counts, disagreements = await open_deadline_counts(self._engine, self._rules, today)
        self._metrics.deadlines_are(
            overdue={c.department_code or NO_DEPARTMENT: c.overdue for c in counts},
            due_soon={c.department_code or NO_DEPARTMENT: c.due_soon for c in counts},
            disagreements=disagreements,
        )

    async def run_forever(self) -> None:
        # while the store is away, the database probe reports it
        await every(self._interval_s, self.refresh, log, "deadline metrics not refreshed")
