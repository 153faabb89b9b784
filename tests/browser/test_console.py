"""The operator console's scenarios (issue 15), in Chromium, against a running gateway."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import BrowserContext, Page, expect

from gateway.reports.control import control_report
from gateway.reports.periods import period_from
from gateway.reports.render import render_csv
from tests.browser.conftest import (
    MARKUP_NOTE,
    PASSWORD,
    Console,
    screenshot,
    start_console,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    yield await context.new_page()


async def test_sign_in_refuses_a_wrong_password_then_signs_in_and_out(
    console: Console, page: Page
) -> None:
    await console.sign_in(page, "op1", "wrong password!")
    await expect(page.locator("#signin-error")).to_contain_text("Sign-in refused")
    await screenshot(page, "signin-refused")

    await console.sign_in(page, "op1")
    await expect(page.locator("#who")).to_have_text("op1")
    assert page.url.endswith("/console/lookup")

    await page.click("text=Sign out")
    await expect(page.locator("input[name=username]")).to_be_visible()
    await page.goto(f"{console.url}/lookup")  # signed out: back to sign-in
    assert page.url.endswith("/console/signin")


async def test_an_operator_looks_up_a_letter_and_the_auditor_sees_that_lookup(
    console: Console, context: BrowserContext, page: Page
) -> None:
    await console.sign_in(page, "op1")
    await page.fill("input[name=number]", console.own_overdue.lower())  # normalised like Kafka's
    await page.click("button:has-text('Look up')")
    letter = page.locator("#letter")
    await expect(letter.locator("#status")).to_have_text("In progress")
    await expect(letter.locator("#executor")).to_have_text("Aysel Məmmədova")
    await expect(letter.locator("#phone")).to_have_text("+994 12 555 01 01")
    # The legal due date (art. 10.1: 15 working days on the working-day calendar) has passed.
    deadlines = console.gateway.deadlines
    today = deadlines.today(datetime.now(UTC))
    registered = console.registered_on(console.own_overdue)
    due = deadlines.calendar.add_working_days(registered, deadlines.rules.general).day
    left = deadlines.calendar.working_days_between(today, due).value
    assert due < today and left < 0, "the fixture letter is past its legal term"
    await expect(letter.locator("#due-date")).to_have_text(due.isoformat())
    await expect(letter.locator("#term")).to_have_text("answer (art. 10.1)")
    await expect(letter.locator("#deadline")).to_have_text("Overdue")
    await expect(letter.locator("#deadline")).to_have_attribute("data-state", "overdue")
    await expect(letter.locator("#working-days-left")).to_have_text(
        f"none, {-left} past the due date"
    )
    # The DMS's own control date (3 days ago) disagrees and is shown beside the legal one.
    dms_due = console.today - timedelta(days=3)
    await expect(letter.locator("#dms-due-date")).to_have_text(dms_due.isoformat())
    assert await letter.locator("#extension, #provisional").count() == 0
    await expect(letter.locator("#history tbody tr")).to_have_count(3)
    # DMS texts with markup are shown as text: the note reads literally, no element is made.
    await expect(letter.locator("#history .note").nth(2)).to_have_text(MARKUP_NOTE)
    await expect(letter.locator("#department")).to_contain_text("<i>Tariffs</i>")
    assert await letter.locator("#history b, #history script, #department i").count() == 0
    await screenshot(page, "operator-lookup")

    auditor = await context.browser.new_context()  # type: ignore[union-attr]
    try:
        audit_page = await auditor.new_page()
        await console.sign_in(audit_page, "aud1")
        await audit_page.goto(f"{console.url}/audit?number={console.own_overdue}")
        row = audit_page.locator("#trail tbody tr").first
        await expect(row.locator(".channel")).to_have_text("console")
        await expect(row.locator(".operator")).to_have_text("op1")
        await expect(row.locator(".outcome")).to_have_text("ANSWERED")
        await screenshot(audit_page, "auditor-access-trail")

        await audit_page.click("text=Dead letters")
        await expect(audit_page.locator("#dead-letters .reason").first).to_have_text(
            "NOT_WELL_FORMED"
        )
        await screenshot(audit_page, "auditor-dead-letters")
    finally:
        await auditor.close()


async def test_an_operator_sees_an_extended_term_and_its_reason_as_text(
    console: Console, page: Page
) -> None:
    await console.sign_in(page, "op2")
    await page.goto(f"{console.url}/letters/{console.extended}")
    letter = page.locator("#letter")
    # Art. 10.2: the extension's working days are added to the 15 of art. 10.1.
    deadlines = console.gateway.deadlines
    term = deadlines.rules.general + console.extension_days
    due = deadlines.calendar.add_working_days(console.registered_on(console.extended), term).day
    left = deadlines.calendar.working_days_between(deadlines.today(datetime.now(UTC)), due).value
    assert left > deadlines.rules.due_soon, "the fixture letter is comfortably on time"
    await expect(letter.locator("#due-date")).to_have_text(due.isoformat())
    await expect(letter.locator("#deadline")).to_have_text("On time")
    await expect(letter.locator("#working-days-left")).to_have_text(str(left))
    extension = letter.locator("#extension")
    await expect(extension).to_have_attribute("data-days", str(console.extension_days))
    await expect(extension).to_contain_text(f"by {console.extension_days} working days")
    await expect(extension).to_contain_text("applicant told: yes")
    await expect(page.locator("dt", has_text="Time limit extended")).to_have_count(1)
    # the DMS's reason is shown as text: it reads literally, no element is made
    await expect(letter.locator("#extension-reason")).to_have_text(MARKUP_NOTE)
    assert await extension.locator("b, script").count() == 0
    await screenshot(page, "operator-extended-letter")


async def test_a_malformed_number_gets_the_services_refusal(console: Console, page: Page) -> None:
    await console.sign_in(page, "op1")
    await page.fill("input[name=number]", "12<b>x</b>")
    await page.click("button:has-text('Look up')")
    refusal = page.locator("#refusal")
    await expect(refusal).to_have_attribute("data-fault", "MALFORMED_REGISTRATION_NUMBER")
    await expect(refusal).to_have_text("The registration number is not in the expected format.")
    await screenshot(page, "operator-malformed")


async def test_a_department_head_sees_only_their_department(console: Console, page: Page) -> None:
    await console.sign_in(page, "head1")
    assert page.url.endswith("/console/workload")
    departments = page.locator("section.department")
    await expect(departments).to_have_count(1)
    d1 = page.locator("section[data-department=D1]")
    await expect(d1.locator(".overdue-count")).to_have_text("1")
    await expect(d1.locator(".due-soon-count")).to_have_text("1")
    await expect(d1).to_contain_text(console.own_overdue)
    await expect(d1).to_contain_text(console.own_due_soon)
    assert console.other not in await page.content()
    await screenshot(page, "department-head-workload")

    await page.click(f"a:has-text('{console.own_due_soon}')")
    await expect(page.locator("#executor")).to_have_text("Rauf Əliyev")

    # Another department's letter reads exactly like one that does not exist.
    other = await page.goto(f"{console.url}/letters/{console.other}")
    other_text = await page.locator("main").inner_text()
    await screenshot(page, "department-head-refused")
    absent = await page.goto(f"{console.url}/letters/{console.absent}")
    absent_text = await page.locator("main").inner_text()
    assert other is not None and absent is not None and other.status == absent.status
    assert other_text.replace(console.other, "N") == absent_text.replace(console.absent, "N")
    assert "No letter with this registration number is available to you." in other_text


async def test_the_controllers_charts_show_the_reports_numbers(
    console: Console, page: Page
) -> None:
    await console.sign_in(page, "ctl1")
    assert page.url.endswith("/console/dashboard")
    await expect(page.locator("#chart-overdue svg")).to_be_visible()
    label = console.gateway.today().strftime("%Y-%m")
    channels = {
        **{t: c.name for t, c in console.gateway.settings.request_channels().items()},
        "console": "console",
    }
    report = await control_report(
        console.gateway.engine,
        period_from(label, None, None),
        console.gateway.today(),
        channels,
    )
    await expect(page.locator("#total-requests")).to_have_text(str(report["requests"]["total"]))
    overdue = report["deadlines"]["overdue_now"]  # by the legal due date, not the DMS's
    await expect(page.locator("#overdue-total")).to_have_text(str(overdue["total"]))
    for department in overdue["by_department"]:
        row = page.locator(f"#chart-overdue g.row[data-label='{department['department']}']")
        await expect(row).to_have_attribute("data-value", str(department["count"]))
    assert [(d["department"], d["oldest"]) for d in overdue["by_department"]] == [
        ("D1", console.own_overdue)
    ], "the letter registered 40 days ago is the one past its legal due date"
    for department in report["deadlines"]["by_department"]:
        row = page.locator(f"#chart-timeliness g.row[data-label='{department['department']}']")
        on_time_and_late = department["answered_on_time"] + department["answered_late"]
        await expect(row).to_have_attribute("data-value", str(on_time_and_late))
    by_channel: dict[str, int] = {}
    for r in report["requests"]["by_channel_client_outcome"]:
        by_channel[r["channel"]] = by_channel.get(r["channel"], 0) + r["count"]
    for channel, total in by_channel.items():
        row = page.locator(f"#chart-by-channel g.row[data-label='{channel}']")
        await expect(row).to_have_attribute("data-value", str(total))
    await screenshot(page, "controller-dashboard")

    async with page.expect_download() as download_info:
        await page.click("#csv")
    download = await download_info.value
    downloaded = open(await download.path(), encoding="utf-8").read()  # noqa: SIM115
    assert list(csv.reader(io.StringIO(downloaded))) == list(
        csv.reader(io.StringIO(render_csv(report)))
    )


async def test_a_form_posted_without_its_csrf_token_is_refused(
    console: Console, page: Page
) -> None:
    await console.sign_in(page, "op1")
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    for form in (
        {"number": console.own_overdue},
        {"number": console.own_overdue, "csrf_token": "forged"},
    ):
        response = await page.request.post(f"{console.url}/lookup", form=form)
        assert response.status == 403
        assert "Form refused" in await response.text()
    accepted = await page.request.post(
        f"{console.url}/lookup", form={"number": console.own_overdue, "csrf_token": token}
    )
    assert accepted.status == 200 and "Aysel" in await accepted.text()
    await page.set_content(
        await (await page.request.post(f"{console.url}/signout", form={})).text()
    )
    await screenshot(page, "csrf-refused")


async def test_a_role_sees_no_page_of_another_role(console: Console, page: Page) -> None:
    await console.sign_in(page, "op1")
    for path in ("/dashboard", "/audit", "/dead-letters", "/workload", "/dashboard/report.csv"):
        response = await page.goto(f"{console.url}{path}")
        assert response is not None and response.status == 403, path
    await expect(page.locator("#refused")).to_be_visible()


async def test_every_response_carries_a_csp_without_inline_scripts(
    console: Console, page: Page
) -> None:
    response = await page.goto(f"{console.url}/signin")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert await page.locator("script:not([src])").count() == 0


async def test_an_idle_session_goes_back_to_sign_in(
    kafka_bootstrap: str, postgres_url: str, context: BrowserContext
) -> None:
    async for console in start_console(kafka_bootstrap, postgres_url, console_idle_timeout_s=2):
        page = await context.new_page()
        await console.sign_in(page, "op1", PASSWORD)
        await expect(page.locator("#who")).to_have_text("op1")
        await asyncio.sleep(3)
        await page.fill("input[name=number]", console.own_overdue)
        await page.click("button:has-text('Look up')")  # htmx: HX-Redirect to sign-in
        await expect(page.locator("input[name=username]")).to_be_visible()
        assert page.url.endswith("/console/signin")
        await screenshot(page, "session-expired")
