"""The control report on a known synthetic data set, on SQLite and PostgreSQL: exact numbers from
the store adapter, the same numbers on GET /reports and from `python -m gateway report`."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.domain.deadlines import DeadlineRules
from gateway.ops.asgi import build_app
from gateway.reports.control import control_report
from gateway.reports.periods import parse_period
from gateway.settings import PROJECT_ROOT
from gateway.store.migrate import upgrade_to_head
from gateway.store.sql import create_engine
from gateway.store.tables import letters, request_audit
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness
from tests.support.http import asgi_client

EGOV, CC = "egov.status.requests.v1", "callcenter.status.requests.v1"
PORTAL, CALL_CENTER = "AZ/GOV/egov-portal", "AZ/DGK/call-center"
ROLES = {EGOV: "egov", CC: "callcenter"}
RULES = DeadlineRules()
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


LETTERS = [
    _letter(1, date(2026, 11, 2), "D1", "in-progress", date(2026, 11, 10)),  # overdue
    _letter(2, date(2026, 11, 5), "D1", "answered", date(2026, 11, 8)),  # answered: not overdue
    _letter(3, date(2026, 11, 10), "D2", "assigned", date(2026, 11, 30)),  # overdue on Dec 1
    _letter(4, date(2026, 11, 20), "D2", "closed", date(2026, 11, 25)),  # closed: not overdue
    _letter(5, date(2026, 11, 28), None, "registered", date(2026, 12, 15)),  # not yet due
    _letter(6, date(2026, 10, 15), "D1", "in-progress", date(2026, 11, 1)),  # October, overdue
    _letter(7, date(2026, 12, 2), "D1", "registered", date(2026, 12, 3)),  # after the period
    _letter(8, None, None, "in-progress", None),  # status seen, registration not yet
]


@pytest.fixture
async def engine(database_url: str):
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(request_audit), AUDIT)
        await conn.execute(insert(letters), LETTERS)
    yield engine
    await engine.dispose()


async def test_the_report_matches_the_known_data_set(engine: AsyncEngine):
    report = await control_report(engine, parse_period("2026-11"), date(2027, 1, 10), ROLES, RULES)
    assert report["period"] == {
        "label": "2026-11",
        "from": "2026-11-01",
        "to": "2026-11-30",
        "overdue_as_of": "2026-12-01",
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
    # replies: egov 0.1 0.2 0.4 1.0, callcenter 0.3 0.5; all six sorted: .1 .2 .3 .4 .5 1.0
    timing = report["reply_time"]
    assert (timing["count"], timing["median_s"], timing["p95_s"]) == (6, 0.35, 0.875)
    by_channel = {
        c["channel"]: (c["count"], c["median_s"], c["p95_s"]) for c in timing["by_channel"]
    }
    assert by_channel == {"egov": (4, 0.3, 0.91), "callcenter": (2, 0.4, 0.49)}
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
    assert report["overdue"] == {
        "total": 3,
        "by_department": [
            {
                "department": "D1",
                "name": "First",
                "count": 2,
                "oldest": "DGK-2026-000006",
                "oldest_due_date": "2026-11-01",
                "oldest_days_overdue": 30,
            },
            {
                "department": "D2",
                "name": "Second",
                "count": 1,
                "oldest": "DGK-2026-000003",
                "oldest_due_date": "2026-11-30",
                "oldest_days_overdue": 1,
            },
        ],
    }


async def test_mid_period_overdue_is_judged_today_and_ranges_include_both_days(
    engine: AsyncEngine,
):
    report = await control_report(engine, parse_period("2026-11"), date(2026, 11, 21), ROLES, RULES)
    assert report["period"]["overdue_as_of"] == "2026-11-21"
    assert [(d["department"], d["count"]) for d in report["overdue"]["by_department"]] == [
        ("D1", 2)
    ]
    from gateway.reports.periods import parse_range

    week = await control_report(
        engine, parse_range("2026-11-01", "2026-11-04"), date(2027, 1, 1), ROLES, RULES
    )
    assert week["requests"]["total"] == 2  # Nov 1 00:00 and Nov 4
    assert week["letters"]["total"] == 1  # letter 1 (Nov 2); letter 2 is Nov 5


async def test_get_reports_returns_the_same_json(engine: AsyncEngine):
    app = build_app(
        Readiness(),
        Metrics(),
        engine=engine,
        roles=ROLES,
        rules=RULES,
        today=lambda: date(2027, 1, 10),
    )
    async with asgi_client(app) as http:
        response = await http.get("/reports", params={"period": "2026-11"})
        assert response.status_code == 200
        expected = await control_report(
            engine, parse_period("2026-11"), date(2027, 1, 10), ROLES, RULES
        )
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
