"""A letter's deadline and its plain-language explanation, as every answer shows them.

Which due date the applicant sees: the gateway's, computed from the law's terms (the rule
set), the working-day calendar and the DMS's extension event. The DMS's own control date is
kept and compared; a disagreement is logged here (one line per answer that shows it) and
counted over the whole store by the deadline watch (gateway_dms_due_date_disagreements).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, tzinfo

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.deadlines import Deadline, DeadlineRules, deadline_of
from gateway.domain.letters import Letter, Status
from gateway.domain.texts import Explanation, Language, StatusTexts, explain

log = logging.getLogger(__name__)


class Deadlines:
    def __init__(
        self,
        rules: DeadlineRules,
        calendar: WorkingCalendar,
        texts: StatusTexts,
        zone: tzinfo,
    ) -> None:
        self.rules, self.calendar, self._texts, self._zone = rules, calendar, texts, zone

    def today(self, now: datetime) -> date:
        """The law counts days where the authority is, not in UTC."""
        return now.astimezone(self._zone).date()

    def of(self, letter: Letter, now: datetime) -> Deadline | None:
        """For an answer: a disagreement with the DMS's date is logged."""
        deadline = self.computed(letter, now)
        if deadline is not None and deadline.dms_disagrees:
            log.warning(
                "DMS due date %s differs from the legal due date %s",
                deadline.dms_due_date,
                deadline.due_date,
                extra={"registration_number": letter.registration_number},
            )
        return deadline

    def computed(self, letter: Letter, now: datetime) -> Deadline | None:
        """No log line: a status-change notice is not an answer the disagreement shows in."""
        return deadline_of(letter, self.today(now), self.rules, self.calendar)

    def explain(self, status: Status, deadline: Deadline | None, language: Language) -> Explanation:
        return explain(self._texts, status, deadline, language)
