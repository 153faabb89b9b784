"""The control report: requests by channel, client and outcome; reply times; letters by status
and department; legal deadlines. One structure, three renderings: a table, CSV and JSON.

Definitions (also in the README):
- requests: audit rows whose received_at falls in the period;
- reply time: replied_at - received_at of the requests that got a reply (reply_hash set);
  median and p95 as upper bounds: the smallest bucket edge of the requests' rollup that
  half (95%) of the reply times are at or under, within 5% or 1 ms of the exact figure
  (gateway/domain/request_rollup.py);
- letters: registered (registration_date) in the period, by their current status/department;
- deadlines: the legal deadlines (gateway.domain.deadlines), per department and per executor:
  letters whose legal due date falls in the period; of them answered (or forwarded, for the
  forwarding term) on time, late, and still open past the due date today ("overdue now");
  median and 90th percentile (nearest rank) of working days from registration to answer;
- deadlines.overdue_now: every open letter past its legal due date today, whatever the
  period, by department with its oldest letter (the console's "overdue now", the metric's
  gateway_letters_overdue).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.reports.periods import Period
from gateway.store.deadlines import (
    DeadlinePerformance,
    OverdueNow,
    deadline_performance,
    overdue_now,
)
from gateway.store.reports import (
    LetterFigures,
    ReplyTiming,
    RequestFigures,
    letter_figures,
    request_figures,
)

NO_DEPARTMENT = "(unassigned)"
NO_STATUS = "(none)"
NO_REPLIES = ReplyTiming(None, 0, None, None)


@dataclass(frozen=True)
class Sections:
    """What a report computes: all of it, or the part the console's dashboard shows (the
    same code and figures, without the sections it does not draw)."""

    letters: bool = True  # letters registered in the period, by status and department
    executors: bool = True  # deadlines.by_executor


FULL, DASHBOARD = Sections(), Sections(letters=False, executors=False)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _timing(timing: ReplyTiming) -> dict[str, Any]:
    return {
        "count": timing.count,
        "median_s": _round(timing.median_s),
        "p95_s": _round(timing.p95_s),
    }


def build_report(
    figures: RequestFigures,
    letters: LetterFigures | None,
    period: Period,
    roles: Mapping[str, str],
) -> dict[str, Any]:
    """`roles`: request topic -> channel name (egov, callcenter). Without `letters`, the
    report has no "letters" section."""
    requests = sorted(
        (
            {
                "channel": roles.get(r.request_topic, r.request_topic),
                "request_topic": r.request_topic,
                "client": r.client_id,
                "outcome": r.outcome,
                "count": r.count,
            }
            for r in figures.counts
        ),
        key=lambda r: (r["channel"], r["client"], r["outcome"]),
    )
    by_outcome: dict[str, int] = defaultdict(int)
    for r in figures.counts:
        by_outcome[r.outcome] += r.count
    by_topic = {t.request_topic: t for t in figures.reply_timings if t.request_topic is not None}
    overall = next((t for t in figures.reply_timings if t.request_topic is None), NO_REPLIES)
    report: dict[str, Any] = {
        "period": {
            "label": period.label,
            "from": period.start.isoformat(),
            "to": period.last_day.isoformat(),
        },
        "requests": {
            "total": sum(r.count for r in figures.counts),
            "by_outcome": dict(sorted(by_outcome.items())),
            "by_channel_client_outcome": requests,
        },
        "reply_time": {
            **_timing(overall),
            "by_channel": [
                {"channel": roles.get(topic, topic), "request_topic": topic, **_timing(timing)}
                for topic, timing in sorted(by_topic.items())
            ],
        },
    }
    if letters is not None:
        report["letters"] = {
            "total": sum(c.count for c in letters.by_status),
            "by_status": dict(sorted((c.key or NO_STATUS, c.count) for c in letters.by_status)),
            "by_department": sorted(
                (
                    {"department": c.key or NO_DEPARTMENT, "name": c.name, "count": c.count}
                    for c in letters.by_department
                ),
                key=lambda d: d["department"],
            ),
        }
    return report


def _performance(row: DeadlinePerformance) -> dict[str, Any]:
    return {
        "due": row.due,
        "answered_on_time": row.answered_on_time,
        "answered_late": row.answered_late,
        "overdue_now": row.overdue_now,
        "median_working_days": row.median_working_days,
        "p90_working_days": row.p90_working_days,
    }


def _sorted(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    # ordered here, not in SQL: the dialects put NULL (unassigned) at opposite ends
    return sorted(rows, key=lambda row: tuple(row[key] or "" for key in keys))


def deadlines_section(
    departments: list[DeadlinePerformance],
    executors: list[DeadlinePerformance] | None,
    overdue: list[OverdueNow],
    today: date,
) -> dict[str, Any]:
    """Without `executors`, no "by_executor"."""
    section = {
        "overdue_as_of": today.isoformat(),
        "by_department": _sorted(
            [
                {"department": d.code or NO_DEPARTMENT, "name": d.name, **_performance(d)}
                for d in departments
            ],
            "department",
            "name",
        ),
        "overdue_now": {
            "total": sum(o.count for o in overdue),
            "by_department": _sorted(
                [
                    {
                        "department": o.department_code or NO_DEPARTMENT,
                        "name": o.department_name,
                        "count": o.count,
                        "oldest": o.oldest,
                        "oldest_due_date": o.oldest_due_date.isoformat(),
                        "oldest_days_overdue": (today - o.oldest_due_date).days,
                    }
                    for o in overdue
                ],
                "department",
                "name",
            ),
        },
    }
    if executors is not None:
        section["by_executor"] = _sorted(
            [
                {
                    "executor": e.code or NO_DEPARTMENT,
                    "name": e.name,
                    "department": e.department_code or NO_DEPARTMENT,
                    **_performance(e),
                }
                for e in executors
            ],
            "executor",
            "name",
            "department",
        )
    return section


async def control_report(
    engine: AsyncEngine,
    period: Period,
    today: date,
    roles: Mapping[str, str],
    sections: Sections = FULL,
) -> dict[str, Any]:
    start, end = period.start, period.end
    figures = await request_figures(engine, start, end)
    letters = await letter_figures(engine, start, end) if sections.letters else None
    report = build_report(figures, letters, period, roles)
    departments = await deadline_performance(engine, start, end, today, by_executor=False)
    executors = (
        await deadline_performance(engine, start, end, today, by_executor=True)
        if sections.executors
        else None
    )
    overdue = await overdue_now(engine, today)
    report["deadlines"] = deadlines_section(departments, executors, overdue, today)
    return report
