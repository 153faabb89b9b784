"""The control report's arithmetic and renderings, on hand-made query results."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest

from gateway.reports.control import build_report, deadlines_section, overdue_as_of, percentile
from gateway.reports.periods import parse_period
from gateway.reports.render import render_csv, render_table
from gateway.store.deadlines import DeadlinePerformance
from gateway.store.reports import LetterCount, OverdueLetter, ReplyTime, ReportData, RequestCount


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([7.0], 0.95, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0.5, 3.0),
        ([float(i) for i in range(1, 21)], 0.95, 19.05),
        ([10.0, 0.0], 0.95, 9.5),
    ],
)
def test_percentiles_interpolate_between_closest_ranks(values, fraction, expected):
    assert percentile(values, fraction) == (None if expected is None else pytest.approx(expected))


def test_overdue_is_judged_at_the_period_end_or_today_whichever_is_earlier():
    period = parse_period("2026-11")
    assert overdue_as_of(period, date(2027, 3, 1)) == date(2026, 12, 1)
    assert overdue_as_of(period, date(2026, 11, 15)) == date(2026, 11, 15)


def _data() -> ReportData:
    return ReportData(
        requests=[
            RequestCount("egov.req", "AZ/GOV/egov-portal", "ANSWERED", 3),
            RequestCount("egov.req", "AZ/GOV/egov-portal", "NOT_FOUND", 1),
            RequestCount("cc.req", "AZ/DGK/call-center", "ANSWERED", 2),
        ],
        reply_times=[ReplyTime("egov.req", s) for s in (0.1, 0.2, 0.3, 0.4)]
        + [ReplyTime("cc.req", 1.0)],
        letters_by_status=[LetterCount("in-progress", None, 2), LetterCount("closed", None, 1)],
        letters_by_department=[LetterCount("D1", "One", 2), LetterCount(None, None, 1)],
        overdue=[
            OverdueLetter("DGK-2026-000001", "D1", "One", date(2026, 11, 2), "in-progress"),
            OverdueLetter("DGK-2026-000002", "D1", "One", date(2026, 11, 20), "assigned"),
            OverdueLetter("DGK-2026-000003", None, None, date(2026, 11, 25), "registered"),
        ],
    )


def test_the_report_adds_up():
    report = build_report(
        _data(),
        parse_period("2026-11"),
        date(2026, 12, 1),
        {"egov.req": "egov", "cc.req": "callcenter"},
    )
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
    egov = next(c for c in timing["by_channel"] if c["channel"] == "egov")
    assert (egov["median_s"], egov["p95_s"]) == (0.25, 0.385)
    assert report["letters"] == {
        "total": 3,
        "by_status": {"closed": 1, "in-progress": 2},
        "by_department": [
            {"department": "(unassigned)", "name": None, "count": 1},
            {"department": "D1", "name": "One", "count": 2},
        ],
    }
    d1 = next(d for d in report["overdue"]["by_department"] if d["department"] == "D1")
    assert d1 == {
        "department": "D1",
        "name": "One",
        "count": 2,
        "oldest": "DGK-2026-000001",
        "oldest_due_date": "2026-11-02",
        "oldest_days_overdue": 29,
    }
    assert report["overdue"]["total"] == 3


def test_table_and_csv_carry_the_same_figures():
    report = build_report(_data(), parse_period("2026-11"), date(2026, 12, 1), {})
    report["deadlines"] = deadlines_section(
        [DeadlinePerformance("D1", "First", "D1", 4, 2, 1, 1, 15, 17)],
        [DeadlinePerformance("E7", "Əliyev Əli", "D1", 2, 2, 0, 0, 4, None)],
        date(2026, 12, 1),
    )
    table = render_table(report)
    assert "Requests: 6" in table and "Overdue on 2026-12-01: 3" in table
    assert "DGK-2026-000001" in table
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
