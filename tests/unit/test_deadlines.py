"""A letter's legal deadline: term by class, one capped extension, forwarding, states."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.domain.deadlines import DeadlineKind, DeadlineRules, DeadlineState, deadline_of
from gateway.domain.letters import Agency, DeadlineClass, Letter, Status
from gateway.reference.calendar_files import load_calendar

CALENDAR = load_calendar()
RULES = DeadlineRules()
# Monday 5 October 2026; no holiday until 8 November: 15 working days later is 26 October
REGISTERED = date(2026, 10, 5)


def letter(**fields: object) -> Letter:
    return Letter("DGK-2026-000001", registration_seq=1, registration_date=REGISTERED, **fields)


def deadline(subject: Letter, today: date, rules: DeadlineRules = RULES):
    found = deadline_of(subject, today, rules, CALENDAR)
    assert found is not None
    return found


def test_a_general_letter_is_due_fifteen_working_days_after_registration():
    found = deadline(letter(), today=date(2026, 10, 6))
    assert found.kind is DeadlineKind.ANSWER and found.deadline_class is DeadlineClass.GENERAL
    assert found.due_date == date(2026, 10, 26)
    assert found.working_days_left == 14 and found.state is DeadlineState.ON_TIME
    assert not found.provisional and found.extension is None


def test_a_letter_needing_additional_study_has_thirty_working_days():
    found = deadline(letter(deadline_class=DeadlineClass.ADDITIONAL_STUDY), date(2026, 10, 6))
    # 30 working days from 5 October, skipping 9 and 10 November (Flag Day, Victory Day moved)
    assert found.due_date == date(2026, 11, 18)


@pytest.mark.parametrize(
    ("today", "left", "state"),
    [
        (date(2026, 10, 20), 4, DeadlineState.ON_TIME),
        (date(2026, 10, 21), 3, DeadlineState.DUE_SOON),
        (date(2026, 10, 26), 0, DeadlineState.DUE_SOON),  # due today: not yet late
        (date(2026, 10, 27), -1, DeadlineState.OVERDUE),
    ],
)
def test_an_open_letter_is_on_time_then_due_soon_then_overdue(today, left, state):
    found = deadline(letter(), today)
    assert (found.working_days_left, found.state) == (left, state)


def test_the_weekend_after_the_due_date_is_already_overdue():
    found = deadline(letter(), date(2026, 10, 31))  # Saturday; due Monday 26 October
    assert found.state is DeadlineState.OVERDUE and found.working_days_left == -4


def test_due_soon_follows_the_rules():
    found = deadline(letter(), date(2026, 10, 20), DeadlineRules(due_soon=5))
    assert found.state is DeadlineState.DUE_SOON


def test_an_answer_on_or_before_the_due_date_is_on_time_after_it_late():
    on_time = deadline(letter(answer_date=date(2026, 10, 26)), date(2026, 12, 1))
    late = deadline(letter(answer_date=date(2026, 10, 27)), date(2026, 12, 1))
    assert on_time.state is DeadlineState.ANSWERED_ON_TIME and on_time.working_days_left is None
    assert late.state is DeadlineState.ANSWERED_LATE


def test_an_extension_moves_the_due_date_and_is_explained():
    extended = letter(
        extension_days=10, extension_reason="Gömrük orqanından sorğu", extension_applicant_told=True
    )
    found = deadline(extended, date(2026, 10, 27))
    assert found.due_date == date(2026, 11, 11)  # 25 working days; 9-10 November are off
    assert found.state is DeadlineState.ON_TIME
    assert found.extension is not None and found.extension.reason == "Gömrük orqanından sorğu"
    assert found.extension.applicant_told


def test_an_extension_beyond_the_maximum_counts_only_up_to_the_maximum():
    found = deadline(letter(extension_days=45, extension_reason="x"), date(2026, 10, 6))
    assert found.extension is not None
    assert (found.extension.requested_days, found.extension.applied_days) == (45, 30)
    assert found.due_date == CALENDAR.add_working_days(REGISTERED, 15 + 30).day


def test_a_forwarded_letter_has_the_three_day_forwarding_term():
    forwarded = letter(
        forwarded_to=Agency("DSX", "Border Service"), forwarding_date=date(2026, 10, 9)
    )
    found = deadline(forwarded, date(2026, 10, 20))
    assert found.kind is DeadlineKind.FORWARDING and found.due_date == date(2026, 10, 8)
    assert found.state is DeadlineState.ANSWERED_LATE


def test_the_dms_date_is_kept_and_compared():
    agrees = deadline(letter(due_date=date(2026, 10, 26)), date(2026, 10, 6))
    differs = deadline(letter(due_date=date(2026, 10, 31)), date(2026, 10, 6))
    assert not agrees.dms_disagrees and differs.dms_disagrees
    after_extension = letter(
        due_date=date(2026, 10, 26),
        extension_days=5,
        extension_reason="x",
        extension_due_date=date(2026, 11, 2),
    )
    assert not deadline(after_extension, date(2026, 10, 6)).dms_disagrees


def test_a_letter_registered_into_an_uncovered_year_is_provisional():
    late_in_2027 = Letter(
        "DGK-2027-000001", registration_seq=1, registration_date=date(2027, 12, 20)
    )
    found = deadline(late_in_2027, date(2027, 12, 21))
    assert found.provisional


def test_no_deadline_before_the_registration_is_known():
    assert deadline_of(Letter("DGK-2026-000002"), date(2026, 10, 6), RULES, CALENDAR) is None


@pytest.mark.parametrize("term", ["general", "additional_study", "max_extension", "forwarding"])
def test_rules_refuse_a_term_below_one_day(term: str):
    """A zero extension would reach replies and notices as an extension of no working days,
    which their schema (workingDays 1 to 999) refuses to carry."""
    with pytest.raises(ValueError, match=term):
        DeadlineRules(**{term: 0})  # type: ignore[arg-type]


def test_a_letter_finished_by_a_status_change_alone_counts_from_that_day():
    closed = letter(status=Status.CLOSED, status_at=datetime(2026, 10, 27, 8, tzinfo=UTC))
    found = deadline(closed, date(2026, 11, 20))
    assert found.state is DeadlineState.ANSWERED_LATE and found.working_days_left is None
