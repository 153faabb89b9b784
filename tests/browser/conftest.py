"""The console in a real browser: Debian's Chromium (installed by deploy/browser/chromium.sh)
driven by Playwright through executable_path, against a running gateway on the session's real
Kafka broker and PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy.engine import make_url

from gateway.app import Gateway, running
from gateway.domain.console import ConsoleRole
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
from gateway.kafka import ensure_topics
from gateway.services.deadlines import Deadlines
from gateway.xmlcodec.dms import DmsXmlCodec
from tests.integration.conftest import settings_for
from tests.support.kafka_io import DmsPublisher
from tests.support.store_snapshot import count
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "console-screenshots"
CHROMIUM_SCRIPT = ROOT / "deploy" / "browser" / "chromium.sh"
PASSWORD = "correct horse battery staple"
MARKUP_NOTE = '<script>alert("x")</script><b>bold</b> & "quoted"'

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Installs Debian's chromium if missing (the project's own script), never a download."""
    found = shutil.which("chromium")
    if found:
        return found
    done = subprocess.run(
        ["bash", str(CHROMIUM_SCRIPT), "ensure"], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path)
        yield launched
        await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    fresh = await browser.new_context(viewport={"width": 1200, "height": 900})
    yield fresh
    await fresh.close()


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def letter(
    number: str,
    department: str,
    executor: str,
    due: date | None,
    note: str,
    day: int,
) -> list[DmsEvent]:
    at = datetime.now(UTC) - timedelta(days=day)
    return [
        LetterRegistered(
            event_id=uuid.uuid4(),
            registration_number=number,
            sequence=1,
            occurred_at=at,
            registration_date=at.date(),
            channel=Channel.POST,
            applicant=Applicant(ApplicantKind.PERSON, "5ABCDEF", "Vətəndaş"),
            subject="Customs value",
            due_date=due,
        ),
        LetterAssigned(
            event_id=uuid.uuid4(),
            registration_number=number,
            sequence=2,
            occurred_at=at + timedelta(hours=1),
            department=Department(department, f"Department {department} <i>Tariffs</i>"),
            executor=Executor(f"E-{executor}", executor, "+994 12 555 01 0" + number[-1]),
        ),
        StatusChanged(
            event_id=uuid.uuid4(),
            registration_number=number,
            sequence=3,
            occurred_at=at + timedelta(hours=2),
            status=Status.IN_PROGRESS,
            public_note=note,
        ),
    ]


def days_ago_with_working_days_left(deadlines: Deadlines, left: int) -> int:
    """How many days ago a general letter was registered whose legal term ends `left` working
    days from today, on the gateway's own calendar and rules."""
    today = deadlines.today(datetime.now(UTC))
    for days in range(120):
        due = deadlines.calendar.add_working_days(
            today - timedelta(days=days), deadlines.rules.general
        )
        if deadlines.calendar.working_days_between(today, due.day).value == left:
            return days
    raise AssertionError(f"no registration day leaves {left} working days")


class Console:
    """A running gateway with letters in its store and one account per role."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.url = f"http://127.0.0.1:{gateway.operations.port}/console"
        today = datetime.now(UTC).date()
        self.today = today
        # department D1; 40 days old: past its legal term of 15 working days (and past the
        # DMS's own control date, 3 days ago, which the letter page shows beside it)
        self.own_overdue = "DGK-2026-100001"
        # department D1; its legal term ends in 2 working days: due soon
        self.own_due_soon = "DGK-2026-100002"
        self.other = "DGK-2026-100003"  # department D2
        self.extended = "DGK-2026-100004"  # department D2, its term extended (art. 10.2)
        self.absent = "DGK-2026-199999"
        self.extension_days = 10
        self.events = [
            *letter(
                self.own_overdue,
                "D1",
                "Aysel Məmmədova",
                today - timedelta(days=3),
                MARKUP_NOTE,
                40,
            ),
            *letter(
                self.own_due_soon,
                "D1",
                "Rauf Əliyev",
                today + timedelta(days=2),
                "Documents requested",
                days_ago_with_working_days_left(gateway.deadlines, 2),
            ),
            *letter(
                self.other,
                "D2",
                "Nigar Həsənova",
                today - timedelta(days=1),
                "Other department",
                15,
            ),
            *letter(self.extended, "D2", "Nigar Həsənova", None, "Inquiry sent", 5),
            LetterExtended(
                event_id=uuid.uuid4(),
                registration_number=self.extended,
                sequence=4,
                occurred_at=datetime.now(UTC) - timedelta(days=1),
                working_days=self.extension_days,
                reason=MARKUP_NOTE,
                applicant_told=True,
            ),
        ]

    def registered_on(self, number: str) -> date:
        (registered,) = (
            e.registration_date
            for e in self.events
            if isinstance(e, LetterRegistered) and e.registration_number == number
        )
        return registered

    async def sign_in(self, page: Page, username: str, password: str = PASSWORD) -> None:
        await page.goto(f"{self.url}/signin")
        await page.fill("input[name=username]", username)
        await page.fill("input[name=password]", password)
        await page.click("button[type=submit]")


async def _postgres_database(postgres_url: str) -> tuple[str, str, str]:
    server_url = make_url(postgres_url)
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin_dsn = server_url.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server_url.set(database=name).render_as_string(hide_password=False), admin_dsn, name


async def _drop(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def start_console(
    kafka_bootstrap: str, postgres_url: str, **overrides: object
) -> AsyncIterator[Console]:
    database_url, admin_dsn, name = await _postgres_database(postgres_url)
    settings = settings_for(kafka_bootstrap, database_url, **overrides)
    try:
        await ensure_topics(settings, settings.all_topics)
        async with running(settings) as gateway:
            console = Console(gateway)
            publisher = DmsPublisher(
                settings,
                DmsXmlCodec(max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth),
            )
            await publisher.start()
            try:
                await publisher.publish(console.events)
                await publisher.publish_raw(
                    settings.topic_dms_status, b"<not-xml", "DGK-2026-100009"
                )
            finally:
                await publisher.stop()
            await eventually(lambda: count(gateway.engine), lambda n: n >= len(console.events))
            now = datetime.now(UTC)
            for username, roles, departments in (
                ("op1", {ConsoleRole.OPERATOR}, set()),
                ("op2", {ConsoleRole.OPERATOR}, set()),  # op1 signs in up to the rate limit
                ("head1", {ConsoleRole.DEPARTMENT_HEAD}, {"D1"}),
                ("ctl1", {ConsoleRole.CONTROLLER}, set()),
                ("aud1", {ConsoleRole.AUDITOR}, set()),
            ):
                await gateway.accounts.add(
                    username, PASSWORD, frozenset(roles), frozenset(departments), now
                )
            yield console
    finally:
        await _drop(admin_dsn, name)


@pytest.fixture(scope="module")
async def console(kafka_bootstrap: str, postgres_url: str) -> AsyncIterator[Console]:
    async for started in start_console(kafka_bootstrap, postgres_url):
        yield started
