"""The control report on a known synthetic data set, on SQLite and PostgreSQL: exact numbers from
the store adapter, the same numbers on GET /reports and from `python -m gateway report`; on a
larger generated set, the same report from both stores; and on both, the same report whether
the requests' daily rollup has reached none, some or all of the audit rows."""

from __future__ import annotations

import asyncio
import csv
import math
import os
import random
import re
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.clock import utc_now
from gateway.domain.deadlines import DeadlineRules, deadline_of
from gateway.domain.letters import Letter
from gateway.domain.request_rollup import bucket_of
from gateway.ops.asgi import build_app
from gateway.reference.calendar_files import load_calendar
from gateway.reports.control import DASHBOARD, control_report
from gateway.reports.periods import Period, parse_period
from gateway.services.audit_sealing import AuditSealer
from gateway.services.request_rollup import RequestRoller
from gateway.settings import PROJECT_ROOT
from gateway.store.deadlines import calendar_range, store_calendar
from gateway.store.migrate import upgrade_to_head
from gateway.store.reports import request_figures
from gateway.store.sql import SqlUnitOfWork, create_engine
from gateway.store.tables import letters, request_audit
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness
from tests.integration.conftest import fresh_postgres_database
from tests.integration.test_deadline_store import simulated_letters
from tests.support.http import asgi_client

EGOV, CC = "egov.status.requests.v1", "callcenter.status.requests.v1"
PORTAL, CALL_CENTER = "AZ/GOV/egov-portal", "AZ/DGK/call-center"
ROLES = {EGOV: "egov", CC: "callcenter"}
RULES = DeadlineRules()
CALENDAR = load_calendar()
NOV = datetime(2026, 11, 1, tzinfo=UTC)


def _audit(
    n: int,
    topic: str,
    client: str,
    outcome: str,
    at: datetime,
    seconds: float,
    replied: bool = True,
) -> dict[str, Any]:
    return {
        "client_id": client,
        "message_id": f"m{n}",
        "correlation_id": None,
        "request_topic": topic,
        "reply_topic": None,
        "end_user_hash": None,
        "operator_id": None,
        "registration_number": None,
        "outcome": outcome,
        "request_hash": "0" * 64,
        "reply_hash": "1" * 64 if replied else None,
        "received_at": at,
        "replied_at": at + timedelta(seconds=seconds),
    }


AUDIT = [
    _audit(1, EGOV, PORTAL, "ANSWERED", NOV, 0.1),  # the period's first instant: in
    _audit(2, EGOV, PORTAL, "ANSWERED", NOV + timedelta(days=3), 0.2),
    _audit(3, EGOV, PORTAL, "ANSWERED", NOV + timedelta(days=9), 0.4),
    _audit(4, EGOV, PORTAL, "NOT_FOUND", NOV + timedelta(days=12), 1.0),
    _audit(
        5,
        EGOV,
        "AZ/GOV/intruder",
        "REPLY_TOPIC_REFUSED",
        NOV + timedelta(days=13),
        5.0,
        replied=False,
    ),  # counted, but no reply: no reply time
    _audit(6, CC, CALL_CENTER, "ANSWERED", NOV + timedelta(days=20), 0.3),
    _audit(7, CC, CALL_CENTER, "ANSWERED", NOV + timedelta(days=29, hours=23), 0.5),
    _audit(8, EGOV, PORTAL, "ANSWERED", NOV - timedelta(seconds=1), 9.0),  # October: out
    _audit(9, EGOV, PORTAL, "ANSWERED", datetime(2026, 12, 1, tzinfo=UTC), 9.0),  # December
]


def _letter(
    number: int,
    registered: date | None,
    department: str | None,
    status: str | None,
    due: date | None,
) -> dict[str, Any]:
    return {
        "registration_number": f"DGK-2026-{number:06d}",
        "registration_seq": 1 if registered else 0,
        "registration_date": registered,
        "due_date": due,
        "assignment_seq": 2 if department else 0,
        "department_code": department,
        "department_name": {"D1": "First", "D2": "Second"}.get(department or ""),
        "status_seq": 3 if status else 0,
        "status": status,
        "status_at": NOV if status else None,
        "forwarding_seq": 0,
        "conclusion_seq": 0,
    }


# Legal due dates (15 working days, the package's calendar) in the comments; the DMS's own
# control dates (last argument) no longer decide what is overdue.
LETTERS = [
    _letter(1, date(2026, 11, 2), "D1", "in-progress", date(2026, 11, 10)),  # due 25 Nov
    _letter(2, date(2026, 11, 5), "D1", "answered", date(2026, 11, 8)),  # answered: never overdue
    _letter(3, date(2026, 11, 10), "D2", "assigned", date(2026, 11, 30)),  # due 1 Dec
    _letter(4, date(2026, 11, 20), "D2", "closed", date(2026, 11, 25)),  # closed: never overdue
    _letter(5, date(2026, 11, 28), None, "registered", date(2026, 12, 15)),  # due 18 Dec
    _letter(6, date(2026, 10, 15), "D1", "in-progress", date(2026, 11, 1)),  # due 5 Nov
    _letter(7, date(2026, 12, 2), "D1", "registered", date(2026, 12, 3)),  # due 23 Dec
    _letter(8, None, None, "in-progress", None),  # status seen, registration not yet
]


async def _store(database_url: str, letter_rows: list[dict[str, Any]] | None = None) -> AsyncEngine:
    """Migrated, with the working-day calendar copied in as the gateway does at start: that
    computes the deadlines of letters already there (`letter_rows`, written as rows)."""
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    if letter_rows:
        async with engine.begin() as conn:
            await conn.execute(insert(letters), letter_rows)
    await store_calendar(engine, CALENDAR, *calendar_range(CALENDAR, date(2026, 11, 1)), RULES)
    return engine


@pytest.fixture
async def engine(database_url: str):
    engine = await _store(database_url, LETTERS)
    async with engine.begin() as conn:
        await conn.execute(insert(request_audit), AUDIT)
    yield engine
    await engine.dispose()


async def test_the_report_matches_the_known_data_set(engine: AsyncEngine):
    report = await control_report(engine, parse_period("2026-11"), date(2027, 1, 10), ROLES)
    assert report["period"] == {
        "label": "2026-11",
        "from": "2026-11-01",
        "to": "2026-11-30",
    }
    assert report["requests"]["total"] == 7
    assert report["requests"]["by_outcome"] == {
        "ANSWERED": 5,
        "NOT_FOUND": 1,
        "REPLY_TOPIC_REFUSED": 1,
    }
    assert [
        (r["channel"], r["client"], r["outcome"], r["count"])
        for r in report["requests"]["by_channel_client_outcome"]
    ] == [
        ("callcenter", CALL_CENTER, "ANSWERED", 2),
        ("egov", PORTAL, "ANSWERED", 3),
        ("egov", PORTAL, "NOT_FOUND", 1),
        ("egov", "AZ/GOV/intruder", "REPLY_TOPIC_REFUSED", 1),
    ]
    # replies: egov 0.1 0.2 0.4 1.0, callcenter 0.3 0.5; all six sorted: .1 .2 .3 .4 .5 1.0;
    # median the 3rd (nearest rank), p95 the 6th, each as its bucket's upper edge: the
    # buckets holding .1 .2 .3 .4 .5 1.0 end at .101 .2 .306 .407 .517 1.012
    timing = report["reply_time"]
    assert (timing["count"], timing["median_s"], timing["p95_s"]) == (6, 0.306, 1.012)
    by_channel = {
        c["channel"]: (c["count"], c["median_s"], c["p95_s"]) for c in timing["by_channel"]
    }
    assert by_channel == {"egov": (4, 0.2, 1.012), "callcenter": (2, 0.306, 0.517)}
    assert report["letters"] == {
        "total": 5,
        "by_status": {
            "answered": 1,
            "assigned": 1,
            "closed": 1,
            "in-progress": 1,
            "registered": 1,
        },
        "by_department": [
            {"department": "(unassigned)", "name": None, "count": 1},
            {"department": "D1", "name": "First", "count": 2},
            {"department": "D2", "name": "Second", "count": 2},
        ],
    }
    # every open letter past its legal due date on 10 January 2027, whatever the period
    assert report["deadlines"]["overdue_as_of"] == "2027-01-10"
    assert report["deadlines"]["overdue_now"] == {
        "total": 5,
        "by_department": [
            {
                "department": "(unassigned)",
                "name": None,
                "count": 1,
                "oldest": "DGK-2026-000005",
                "oldest_due_date": "2026-12-18",
                "oldest_days_overdue": 23,
            },
            {
                "department": "D1",
                "name": "First",
                "count": 3,
                "oldest": "DGK-2026-000006",
                "oldest_due_date": "2026-11-05",
                "oldest_days_overdue": 66,
            },
            {
                "department": "D2",
                "name": "Second",
                "count": 1,
                "oldest": "DGK-2026-000003",
                "oldest_due_date": "2026-12-01",
                "oldest_days_overdue": 40,
            },
        ],
    }
    assert "overdue" not in report  # the DMS control date's section is retired


class _NoWitness:
    def wake(self) -> None:
        """No witness topic in these tests: nothing to publish."""


def _sealer(engine: AsyncEngine, block_rows: int) -> AuditSealer:
    return AuditSealer(
        lambda: SqlUnitOfWork(engine), utc_now, _NoWitness(), block_max_rows=block_rows,
        interval_s=1, max_lag_s=60, readiness=Readiness(), metrics=Metrics(),
    )  # fmt: skip


def _roller(engine: AsyncEngine) -> RequestRoller:
    return RequestRoller(lambda: SqlUnitOfWork(engine), interval_s=1)


async def _seal_and_roll(engine: AsyncEngine, rows: int | None = None) -> int:
    """Seal the next `rows` audit rows (None: all), roll up what is sealed; rows rolled up."""
    sealer = _sealer(engine, rows or 10_000)
    await (sealer.seal_once() if rows else sealer.seal_all())
    return await _roller(engine).roll_all()


async def test_the_report_is_the_same_whatever_part_of_the_audit_is_rolled_up(
    engine: AsyncEngine,
):
    async def report(period: Period) -> dict[str, Any]:
        return await control_report(engine, period, date(2027, 1, 10), ROLES)

    periods = [parse_period(p) for p in ("2026-10", "2026-11", "2026-12", "2026")]
    unrolled = [await report(p) for p in periods]
    assert unrolled[1]["requests"]["total"] == 7  # the known figures, above
    assert await _seal_and_roll(engine, rows=4) == 4  # October's row and three of November's
    assert [await report(p) for p in periods] == unrolled
    assert await _seal_and_roll(engine) == len(AUDIT) - 4
    assert [await report(p) for p in periods] == unrolled
    assert await _seal_and_roll(engine) == 0  # rolled up once only
    assert [await report(p) for p in periods] == unrolled


async def test_mid_period_overdue_is_judged_today_and_ranges_include_both_days(
    engine: AsyncEngine,
):
    report = await control_report(engine, parse_period("2026-11"), date(2026, 11, 21), ROLES)
    overdue = report["deadlines"]["overdue_now"]
    assert [(d["department"], d["count"], d["oldest"]) for d in overdue["by_department"]] == [
        ("D1", 1, "DGK-2026-000006")  # letter 1 is due on 25 Nov: not yet
    ]
    from gateway.reports.periods import parse_range

    week = await control_report(
        engine, parse_range("2026-11-01", "2026-11-04"), date(2027, 1, 1), ROLES
    )
    assert week["requests"]["total"] == 2  # Nov 1 00:00 and Nov 4
    assert week["letters"]["total"] == 1  # letter 1 (Nov 2); letter 2 is Nov 5


async def test_get_reports_returns_the_same_json(engine: AsyncEngine):
    app = build_app(
        Readiness(),
        Metrics(),
        engine=engine,
        roles=ROLES,
        today=lambda: date(2027, 1, 10),
    )
    async with asgi_client(app) as http:
        response = await http.get("/reports", params={"period": "2026-11"})
        assert response.status_code == 200
        expected = await control_report(engine, parse_period("2026-11"), date(2027, 1, 10), ROLES)
        assert response.json() == expected
        quarter = (await http.get("/reports", params={"period": "2026-Q4"})).json()
    assert quarter["requests"]["total"] == 9  # Oct 31 23:59:59, November's seven, Dec 1


async def test_the_command_prints_the_table_and_writes_the_csv(
    engine: AsyncEngine, database_url: str, tmp_path: Path
):
    out = tmp_path / "report.csv"
    env = {**os.environ, "GATEWAY_DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "report", "--period", "2026-11", "--csv", str(out)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Requests: 7" in done.stdout and "Letters registered: 5" in done.stdout
    assert re.search(r"^egov +AZ/GOV/egov-portal +ANSWERED +3$", done.stdout, re.MULTILINE)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    answered = [r for r in rows if r["section"] == "requests" and r["outcome"] == "ANSWERED"]
    assert sorted(int(r["value"]) for r in answered) == [2, 3]
    statuses = {r["status"]: int(r["value"]) for r in rows if r["section"] == "letters_by_status"}
    assert statuses == {
        "answered": 1,
        "assigned": 1,
        "closed": 1,
        "in-progress": 1,
        "registered": 1,
    }
    # the command copies the calendar files into the store itself: legal deadlines by
    # department (D1: letters 1 and 6 open past 25 and 5 November, letter 2 answered)
    assert re.search(r"^D1 +First +3 +1 +0 +2 ", done.stdout, re.MULTILINE), done.stdout
    d1 = {
        r["measure"]: r["value"]
        for r in rows
        if r["section"] == "deadlines_by_department" and r["department"] == "D1"
    }
    assert (d1["due"], d1["answered_on_time"], d1["overdue_now"]) == ("3", "1", "2")
    bad = subprocess.run(
        [sys.executable, "-m", "gateway", "report", "--period", "2026-13"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "no month 13" in bad.stdout


def _spread(stored: list[Letter], rng: random.Random) -> list[Letter]:
    """The simulator registers every letter within a few January days: move each one (all its
    dates alike) to some day of 2026, and leave a tenth unassigned, so every period has some."""
    spread = []
    for letter in stored:
        shift = timedelta(days=rng.randrange(330))
        changes: dict[str, Any] = {
            name: getattr(letter, name) and getattr(letter, name) + shift
            for name in (
                "registration_date",
                "due_date",
                "status_at",
                "forwarding_date",
                "answer_date",
                "extension_due_date",
            )
        }
        if rng.random() < 0.1:
            changes.update(department=None, executor=None)
        spread.append(replace(letter, **changes))
    return spread


def _random_audit(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Requests over 2026 on three channels; reply times to the microsecond, some tied."""
    topics = [EGOV, CC, "console.status.requests.v1"]
    rows = []
    for n in range(count):
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(365 * 86400), microseconds=rng.randrange(10**6)
        )
        seconds = rng.choice((0.25, 1.5)) if rng.random() < 0.1 else rng.uniform(0.001, 4.0)
        outcome = "ANSWERED" if rng.random() < 0.9 else "NOT_FOUND"
        replied = rng.random() < 0.95
        rows.append(_audit(n, rng.choice(topics), PORTAL, outcome, at, seconds, replied))
    return rows


async def test_postgresql_and_sqlite_give_the_same_report_on_the_same_data(
    postgres_url: str, tmp_path: Path
):
    rng = random.Random(15)
    audit, stored = _random_audit(rng, 3000), _spread(simulated_letters(400), rng)
    today = date(2026, 12, 15)
    periods = [parse_period(label) for label in ("2026-03", "2026-Q3", "2026")]
    reports = []
    async with fresh_postgres_database(postgres_url) as postgresql_url:
        for url in (f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", postgresql_url):
            engine = await _store(url)
            try:
                async with engine.begin() as conn:
                    await conn.execute(insert(request_audit), audit)
                async with SqlUnitOfWork(engine) as uow:
                    await uow.letters.merge(stored)
                    await uow.commit()
                unrolled = [await control_report(engine, p, today, ROLES) for p in periods]
                assert await _seal_and_roll(engine, rows=1700) == 1700
                assert [await control_report(engine, p, today, ROLES) for p in periods] == unrolled
                assert await _seal_and_roll(engine) == 1300
                reports.append(
                    [await control_report(engine, p, today, ROLES) for p in periods]
                    + [await control_report(engine, periods[0], today, ROLES, DASHBOARD)]
                )
                assert reports[-1][:3] == unrolled
            finally:
                await engine.dispose()
    on_sqlite, on_postgresql = reports
    assert on_sqlite == on_postgresql
    # The set exercises what could differ: percentiles over thousands of reply times,
    # letters without a department (NULL orders differently), every deadline figure.
    year = on_postgresql[2]
    replied = sorted(r["replied_at"] - r["received_at"] for r in audit if r["reply_hash"])
    assert year["reply_time"]["count"] == len(replied) > 2500
    for fraction, figure in ((0.5, "median_s"), (0.95, "p95_s")):
        exact = replied[math.ceil(fraction * len(replied)) - 1]  # nearest rank
        assert year["reply_time"][figure] == bucket_of(exact) / 1000
    assert len(year["reply_time"]["by_channel"]) == 3
    deadlines = year["deadlines"]
    assert "(unassigned)" in {d["department"] for d in deadlines["overdue_now"]["by_department"]}
    assert "(unassigned)" in {d["department"] for d in deadlines["by_department"]}
    assert all(d["p90_working_days"] is not None for d in deadlines["by_department"])
    assert sum(d["answered_late"] for d in deadlines["by_department"]) > 0
    assert deadlines["overdue_now"]["total"] > 0
    # and the letters due in each period are the ones the domain says (the SQL reads only
    # letters registered early enough to fall due in the period)
    for period, report in zip(periods, on_postgresql, strict=False):
        due = Counter(
            letter.department.code if letter.department else "(unassigned)"
            for letter in stored
            if (deadline := deadline_of(letter, today, RULES, CALENDAR))
            and period.start <= deadline.due_date < period.end
        )
        assert {d["department"]: d["due"] for d in report["deadlines"]["by_department"]} == due


async def test_replicas_rolling_up_at_once_count_each_request_once(
    postgres_url: str, tmp_path: Path
):
    rng = random.Random(16)
    audit = _random_audit(rng, 25_000)  # three batches of the rollup
    async with fresh_postgres_database(postgres_url) as url:
        engine, other_engine = await _store(url), create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(insert(request_audit), audit)
            expected = await control_report(engine, parse_period("2026"), NOV.date(), ROLES)
            assert await _seal_and_roll(engine, rows=1) == 1  # the rollup under way
            await _sealer(engine, len(audit)).seal_all()  # sealed, not rolled up yet
            replicas = (engine, other_engine, engine, other_engine)
            rollers = [asyncio.create_task(_roller(e).roll_all()) for e in replicas]
            totals = set()
            while not all(r.done() for r in rollers):  # reading while the rollup moves
                figures = await request_figures(engine, date(2026, 1, 1), date(2027, 1, 1))
                totals.add(sum(c.count for c in figures.counts))
            assert sum(await asyncio.gather(*rollers)) == len(audit) - 1
            assert totals == {len(audit)}
            after = await control_report(engine, parse_period("2026"), NOV.date(), ROLES)
            assert after == expected
        finally:
            await engine.dispose()
            await other_engine.dispose()
