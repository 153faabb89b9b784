"""The control report's arithmetic and renderings, on hand-made query results."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from gateway.reports.control import build_report, deadlines_section
from gateway.reports.periods import parse_period
from gateway.reports.render import render_csv, render_table
from gateway.store.deadlines import DeadlinePerformance, OverdueNow
from gateway.store.reports import (
    LetterCount,
    LetterFigures,
    ReplyTiming,
    RequestCount,
    RequestFigures,
)


def _figures() -> RequestFigures:
    return RequestFigures(
        counts=[
            RequestCount("egov.req", "AZ/GOV/egov-portal", "ANSWERED", 3),
            RequestCount("egov.req", "AZ/GOV/egov-portal", "NOT_FOUND", 1),
            RequestCount("cc.req", "AZ/DGK/call-center", "ANSWERED", 2),
        ],
        reply_timings=[
            ReplyTiming("egov.req", 4, 0.25, 0.3850000001),
            ReplyTiming("cc.req", 1, 1.0, 1.0),
            ReplyTiming(None, 5, 0.3, 0.88),
        ],
    )


def _letters() -> LetterFigures:
    return LetterFigures(
        by_status=[LetterCount("in-progress", None, 2), LetterCount("closed", None, 1)],
        by_department=[LetterCount("D1", "One", 2), LetterCount(None, None, 1)],
    )


def _deadlines() -> dict[str, object]:
    return deadlines_section(
        [DeadlinePerformance("D1", "First", "D1", 4, 2, 1, 1, 15, 17)],
        [DeadlinePerformance("E7", "Əliyev Əli", "D1", 2, 2, 0, 0, 4, None)],
        [
            OverdueNow("D1", "First", 2, "DGK-2026-000001", date(2026, 11, 2)),
            OverdueNow(None, None, 1, "DGK-2026-000003", date(2026, 11, 25)),
        ],
        date(2026, 12, 1),
    )


def test_the_report_adds_up():
    report = build_report(
        _figures(),
        _letters(),
        parse_period("2026-11"),
        {"egov.req": "egov", "cc.req": "callcenter"},
    )
    assert report["period"] == {"label": "2026-11", "from": "2026-11-01", "to": "2026-11-30"}
    assert report["requests"]["total"] == 6
    assert report["requests"]["by_outcome"] == {"ANSWERED": 5, "NOT_FOUND": 1}
    assert report["requests"]["by_channel_client_outcome"][0] == {
        "channel": "callcenter",
        "request_topic": "cc.req",
        "client": "AZ/DGK/call-center",
        "outcome": "ANSWERED",
        "count": 2,
    }
    timing = report["reply_time"]
    assert (timing["count"], timing["median_s"], timing["p95_s"]) == (5, 0.3, 0.88)
    assert [
        (c["channel"], c["count"], c["median_s"], c["p95_s"]) for c in timing["by_channel"]
    ] == [
        ("callcenter", 1, 1.0, 1.0),
        ("egov", 4, 0.25, 0.385),  # rounded to milliseconds
    ]
    assert report["letters"] == {
        "total": 3,
        "by_status": {"closed": 1, "in-progress": 2},
        "by_department": [
            {"department": "(unassigned)", "name": None, "count": 1},
            {"department": "D1", "name": "One", "count": 2},
        ],
    }


def test_without_replies_the_reply_time_says_zero_and_none():
    report = build_report(RequestFigures([], []), None, parse_period("2026-11"), {})
    assert report["reply_time"] == {"count": 0, "median_s": None, "p95_s": None, "by_channel": []}
    assert "letters" not in report  # not asked for (the dashboard's part of the report)


def test_overdue_now_is_by_department_with_the_oldest_letter_and_its_age():
    overdue = _deadlines()["overdue_now"]
    assert overdue == {
        "total": 3,
        "by_department": [
            {
                "department": "(unassigned)",
                "name": None,
                "count": 1,
                "oldest": "DGK-2026-000003",
                "oldest_due_date": "2026-11-25",
                "oldest_days_overdue": 6,
            },
            {
                "department": "D1",
                "name": "First",
                "count": 2,
                "oldest": "DGK-2026-000001",
                "oldest_due_date": "2026-11-02",
                "oldest_days_overdue": 29,
            },
        ],
    }


def test_without_executors_the_deadlines_have_no_executor_rows():
    section = deadlines_section([], None, [], date(2026, 12, 1))
    assert section == {
        "overdue_as_of": "2026-12-01",
        "by_department": [],
        "overdue_now": {"total": 0, "by_department": []},
    }


def test_table_and_csv_carry_the_same_figures():
    report = build_report(_figures(), _letters(), parse_period("2026-11"), {})
    report["deadlines"] = _deadlines()
    table = render_table(report)
    assert "Requests: 6" in table
    assert "Overdue now (legal due date passed, open on 2026-12-01): 3" in table
    assert re.search(r"^D1 +First +2 +DGK-2026-000001 +2026-11-02 +29$", table, re.MULTILINE)
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    requests = [r for r in rows if r["section"] == "requests"]
    assert sum(int(r["value"]) for r in requests) == 6
    p95 = next(
        r
        for r in rows
        if r["section"] == "reply_time" and r["channel"] == "all" and r["measure"] == "p95_s"
    )
    assert float(p95["value"]) == 0.88
    assert re.search(r"^D1 +First +4 +2 +1 +1 +15 +17$", table, re.MULTILINE)
    assert re.search(r"^E7 +Əliyev Əli +D1 +2 +2 +0 +0 +4 +-$", table, re.MULTILINE)
    executor = {r["measure"]: r["value"] for r in rows if r["section"] == "deadlines_by_executor"}
    assert executor["median_working_days"] == "4" and executor["p90_working_days"] == ""
    overdue = {
        (r["department"], r["measure"]): r["value"] for r in rows if r["section"] == "overdue_now"
    }
    assert overdue[("D1", "oldest")] == "DGK-2026-000001"
    assert overdue[("(unassigned)", "count")] == "1"
    assert not any(r["section"] == "overdue" for r in rows)  # the DMS-date section is gone
