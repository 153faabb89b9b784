"""The control report: requests by channel, client and outcome; reply times; letters by status
and department; overdue letters. One structure, three renderings: a table, CSV and JSON.

Definitions (also in the README):
- requests: audit rows whose received_at falls in the period;
- reply time: replied_at - received_at of the requests that got a reply (reply_hash set);
  median and p95 by linear interpolation between the closest ranks (as PostgreSQL's
  percentile_cont and numpy's default);
- letters: registered (registration_date) in the period, by their current status/department;
- overdue: letters registered before the period's end whose due date is before `as_of`
  (the day after the period, or today if that is earlier) and whose current status is neither
  answered nor closed. This section uses the DMS's control date as sent;
- deadlines: the legal deadlines (gateway.domain.deadlines), per department and per executor:
  letters whose legal due date falls in the period; of them answered (or forwarded, for the
  forwarding term) on time, late, and still open past the due date today ("overdue now");
  median and 90th percentile (nearest rank) of working days from registration to answer.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.domain.deadlines import DeadlineRules
from gateway.reports.periods import Period
from gateway.reports.render import render_csv, render_table
from gateway.settings import Settings
from gateway.store.deadlines import DeadlinePerformance, deadline_performance
from gateway.store.reports import ReportData, report_data

NO_DEPARTMENT = "(unassigned)"
NO_STATUS = "(none)"


def percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def build_report(
    data: ReportData, period: Period, as_of: date, roles: Mapping[str, str]
) -> dict[str, Any]:
    """`roles`: request topic -> channel name (egov, callcenter)."""
    requests = sorted(
        (
            {
                "channel": roles.get(r.request_topic, r.request_topic),
                "request_topic": r.request_topic,
                "client": r.client_id,
                "outcome": r.outcome,
                "count": r.count,
            }
            for r in data.requests
        ),
        key=lambda r: (r["channel"], r["client"], r["outcome"]),
    )
    by_outcome: dict[str, int] = defaultdict(int)
    for r in data.requests:
        by_outcome[r.outcome] += r.count

    times_by_topic: dict[str, list[float]] = defaultdict(list)
    for t in data.reply_times:
        times_by_topic[t.request_topic].append(t.seconds)
    all_times = [t.seconds for t in data.reply_times]

    def timing(values: Sequence[float]) -> dict[str, Any]:
        return {
            "count": len(values),
            "median_s": _round(percentile(values, 0.5)),
            "p95_s": _round(percentile(values, 0.95)),
        }

    overdue_by_department: dict[tuple[str, str | None], list[Any]] = defaultdict(list)
    for letter in data.overdue:  # ordered by due date: the first of each group is the oldest
        code = letter.department_code or NO_DEPARTMENT
        overdue_by_department[(code, letter.department_name)].append(letter)

    return {
        "period": {
            "label": period.label,
            "from": period.start.isoformat(),
            "to": period.last_day.isoformat(),
            "overdue_as_of": as_of.isoformat(),
        },
        "requests": {
            "total": sum(r.count for r in data.requests),
            "by_outcome": dict(sorted(by_outcome.items())),
            "by_channel_client_outcome": requests,
        },
        "reply_time": {
            **timing(all_times),
            "by_channel": [
                {"channel": roles.get(topic, topic), "request_topic": topic, **timing(values)}
                for topic, values in sorted(times_by_topic.items())
            ],
        },
        "letters": {
            "total": sum(c.count for c in data.letters_by_status),
            "by_status": dict(
                sorted((c.key or NO_STATUS, c.count) for c in data.letters_by_status)
            ),
            "by_department": sorted(
                (
                    {"department": c.key or NO_DEPARTMENT, "name": c.name, "count": c.count}
                    for c in data.letters_by_department
                ),
                key=lambda d: d["department"],
            ),
        },
        "overdue": {
            "total": len(data.overdue),
            "by_department": [
                {
                    "department": code,
                    "name": name,
                    "count": len(group),
                    "oldest": group[0].registration_number,
                    "oldest_due_date": group[0].due_date.isoformat(),
                    "oldest_days_overdue": (as_of - group[0].due_date).days,
                }
                for (code, name), group in sorted(overdue_by_department.items())
            ],
        },
    }


def overdue_as_of(period: Period, today: date) -> date:
    return min(period.end, today)


def _performance(row: DeadlinePerformance) -> dict[str, Any]:
    return {
        "due": row.due,
        "answered_on_time": row.answered_on_time,
        "answered_late": row.answered_late,
        "overdue_now": row.overdue_now,
        "median_working_days": row.median_working_days,
        "p90_working_days": row.p90_working_days,
    }


def deadlines_section(
    departments: list[DeadlinePerformance], executors: list[DeadlinePerformance], today: date
) -> dict[str, Any]:
    return {
        "overdue_as_of": today.isoformat(),
        "by_department": [
            {"department": d.code or NO_DEPARTMENT, "name": d.name, **_performance(d)}
            for d in departments
        ],
        "by_executor": [
            {
                "executor": e.code or NO_DEPARTMENT,
                "name": e.name,
                "department": e.department_code or NO_DEPARTMENT,
                **_performance(e),
            }
            for e in executors
        ],
    }


async def control_report(
    engine: AsyncEngine,
    period: Period,
    today: date,
    roles: Mapping[str, str],
    rules: DeadlineRules,
) -> dict[str, Any]:
    as_of = overdue_as_of(period, today)
    data = await report_data(
        engine, period.start_at, period.end_at, period.start, period.end, as_of
    )
    report = build_report(data, period, as_of, roles)
    departments, executors = [
        await deadline_performance(engine, rules, period.start, period.end, today, by_executor)
        for by_executor in (False, True)
    ]
    report["deadlines"] = deadlines_section(departments, executors, today)
    return report


async def run_report(settings: Settings, period: Period, csv_path: str | None, today: date) -> int:
    """`python -m gateway report`: read the store, print the table, optionally write CSV."""

    from gateway.reference.calendar_files import load_calendar
    from gateway.store.deadlines import calendar_range, store_calendar
    from gateway.store.sql import create_engine

    engine = create_engine(settings.database_url)
    try:
        # the calendar as the files say now, so the report needs no running gateway
        calendar = load_calendar(settings.calendar_dir)
        await store_calendar(engine, calendar, *calendar_range(calendar, today))
        roles = {topic: ch.name for topic, ch in settings.request_channels().items()}
        report = await control_report(engine, period, today, roles, settings.deadline_rules())
    finally:
        await engine.dispose()
    print(render_table(report), end="")
    if csv_path:
        with open(csv_path, "w", encoding="utf-8", newline="") as file:
            file.write(render_csv(report))
        print(f"CSV written to {csv_path}")
    return 0
