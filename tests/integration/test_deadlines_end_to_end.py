"""Legal deadlines end to end, over the real broker and store (SQLite and PostgreSQL): the due
date in the reply, an extension that moves it and is explained, an overdue letter shown as
overdue in the reply, the control report and the metrics.

Dates are counted back from today (in Baku) on the shipped calendar, so the letters are
overdue or not whatever day the test runs."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gateway.app import Gateway, running
from gateway.domain.deadlines import DeadlineKind, DeadlineState
from gateway.domain.letters import (
    Applicant,
    ApplicantKind,
    Channel,
    DeadlineClass,
    Department,
    DmsEvent,
    Executor,
    LetterAssigned,
    LetterExtended,
    LetterRegistered,
)
from gateway.domain.texts import Language, Note
from gateway.kafka import kafka_connection
from gateway.reference.calendar_files import DEFAULT_CALENDAR_DIR
from gateway.reference.status_texts import status_texts
from gateway.reports.control import control_report
from gateway.reports.periods import parse_range
from gateway.settings import Settings
from gateway.tools.client import StatusClient, build_request
from gateway.xmlcodec.egov import StatusReply
from tests.integration.conftest import settings_for
from tests.support.http import get_json, metric_value, scrape
from tests.support.kafka_io import DmsPublisher
from tests.support.waiting import eventually

FIN = "7ABC123"
DEPARTMENT = Department("HSI", "Hüquq şöbəsi")
TEXTS = status_texts()


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str) -> Settings:
    """The conftest's gateway and clients, with the deadline metrics recounted often."""
    return settings_for(kafka_bootstrap, database_url, deadline_watch_interval_s=0.2)


def today(gateway: Gateway) -> date:
    return gateway.deadlines.today(datetime.now(UTC))


def working_days_ago(gateway: Gateway, count: int) -> date:
    calendar, end, day = gateway.deadlines.calendar, today(gateway), today(gateway)
    while calendar.working_days_between(day, end).value < count:
        day -= timedelta(days=1)
    return day


def letter(number: str, registered: date) -> list[DmsEvent]:
    at = datetime.now(UTC) - timedelta(days=1)
    head = {"registration_number": number, "occurred_at": at}
    return [
        LetterRegistered(
            event_id=uuid.uuid4(),
            sequence=1,
            **head,
            registration_date=registered,
            channel=Channel.EGOV_PORTAL,
            applicant=Applicant(ApplicantKind.PERSON, FIN, "Quliyev Rəşad"),
            subject="Müraciət",
            deadline_class=DeadlineClass.GENERAL,
        ),
        LetterAssigned(
            event_id=uuid.uuid4(),
            sequence=2,
            **head,
            department=DEPARTMENT,
            executor=Executor("E9", "Məmmədova Aytən", "+994 12 000 00 09"),
        ),
    ]


async def ask(
    gateway: Gateway, client: StatusClient, number: str, language: Language = Language.AZ
) -> StatusReply:
    request = build_request(gateway.settings, number, user=FIN, language=language)
    raw = await client.send(gateway.status_codec.encode_request(request), timeout=20.0)
    return gateway.status_codec.decode_reply(raw)


async def stored(
    gateway: Gateway, client: StatusClient, number: str, language: Language = Language.AZ
) -> StatusReply:
    """Asked until both events are in (they travel on two topics, in either order)."""
    return await eventually(
        lambda: ask(gateway, client, number, language),
        lambda r: r.status is not None and r.status.department_code is not None,
    )


async def test_an_overdue_letter_is_overdue_in_the_reply_the_report_and_the_metrics(
    gateway: Gateway, dms: DmsPublisher, egov_client: StatusClient
):
    registered = working_days_ago(gateway, 20)
    await dms.publish(letter("DGK-2026-700001", registered))
    reply = await stored(gateway, egov_client, "DGK-2026-700001")
    status = reply.status
    assert status is not None and status.deadline is not None
    expected_due = gateway.deadlines.calendar.add_working_days(registered, 15).day
    assert status.due_date == status.deadline.due_date == expected_due
    assert status.deadline.state is DeadlineState.OVERDUE
    assert status.deadline.working_days_left == -5
    assert status.explanation is not None
    assert status.explanation.deadline == TEXTS.deadline(DeadlineState.OVERDUE, Language.AZ)

    report = await control_report(
        gateway.engine,
        parse_range(expected_due.isoformat(), expected_due.isoformat()),
        today(gateway),
        {},
    )
    [row] = report["deadlines"]["by_department"]
    assert (row["department"], row["due"], row["overdue_now"]) == ("HSI", 1, 1)

    text = await eventually(
        lambda: scrape(gateway.operations.port),
        lambda samples: metric_value(samples, "gateway_letters_overdue", department="HSI") == 1,
    )
    assert metric_value(text, "gateway_letters_due_soon", department="HSI") == 0


async def test_an_extension_moves_the_due_date_and_is_explained(
    gateway: Gateway, dms: DmsPublisher, egov_client: StatusClient
):
    registered = working_days_ago(gateway, 14)  # one working day left: due soon
    events = letter("DGK-2026-700002", registered)
    await dms.publish(events)
    before = (await stored(gateway, egov_client, "DGK-2026-700002")).status
    assert before is not None and before.deadline is not None
    assert before.deadline.state is DeadlineState.DUE_SOON
    assert before.deadline.working_days_left == 1

    reason = "Sərhəd Xidmətindən əlavə məlumat sorğulanıb"
    extended = LetterExtended(
        event_id=uuid.uuid4(),
        registration_number="DGK-2026-700002",
        sequence=3,
        occurred_at=datetime.now(UTC),
        working_days=20,
        reason=reason,
        applicant_told=True,
    )
    await dms.publish([extended])
    after_reply = await eventually(
        lambda: ask(gateway, egov_client, "DGK-2026-700002", Language.EN),
        lambda r: (
            r.status is not None
            and r.status.deadline is not None
            and r.status.deadline.extension is not None
        ),
    )
    after = after_reply.status
    assert after is not None and after.deadline is not None
    assert after.deadline.kind is DeadlineKind.ANSWER
    assert (
        after.deadline.due_date == gateway.deadlines.calendar.add_working_days(registered, 35).day
    )
    assert after.deadline.working_days_left == 21
    assert after.deadline.state is DeadlineState.ON_TIME
    assert after.deadline.extension is not None
    assert (after.deadline.extension.applied_days, after.deadline.extension.reason) == (20, reason)
    assert after.explanation is not None and after.explanation.language is Language.EN
    assert TEXTS.note(Note.EXTENDED, Language.EN) in after.explanation.notes
    assert after.history[-1].note == reason


async def test_a_missing_calendar_year_is_provisional_noted_and_measured(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
):
    """An operator directory holding only 2025: this year is counted on weekends alone."""
    (tmp_path / "2025.toml").write_bytes((DEFAULT_CALENDAR_DIR / "2025.toml").read_bytes())
    settings = settings_for(
        kafka_bootstrap, database_url, calendar_dir=tmp_path, deadline_watch_interval_s=0.2
    )
    async with running(settings) as gateway:
        this_year = today(gateway).year
        assert not gateway.deadlines.calendar.covers(this_year)
        port = gateway.operations.port
        status, body = await eventually(
            lambda: get_json(port, "/health/ready"), lambda answer: answer[0] == 200
        )
        assert str(this_year) in body["notes"]["calendar"]  # reported, yet ready
        samples = await scrape(port)
        assert metric_value(samples, "gateway_calendar_year_missing", year=str(this_year)) == 1

        dms = DmsPublisher(settings, gateway.dms_codec)
        await dms.start()
        client = StatusClient(
            kafka_connection(settings), settings.topic_egov_requests, settings.topic_egov_replies
        )
        await client.start()
        try:
            await dms.publish(letter("DGK-2026-700003", working_days_ago(gateway, 3)))
            reply = await stored(gateway, client, "DGK-2026-700003", Language.EN)
        finally:
            await client.stop()
            await dms.stop()
    assert reply.status is not None and reply.status.deadline is not None
    assert reply.status.deadline.provisional
    assert reply.status.explanation is not None
    assert TEXTS.note(Note.PROVISIONAL, Language.EN) in reply.status.explanation.notes
