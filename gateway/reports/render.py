"""Renderings of the control report: a table for the terminal, and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)]


def render_table(report: Mapping[str, Any]) -> str:
    p, req, rt = report["period"], report["requests"], report["reply_time"]
    out = [
        f"Control report {p['label']}: {p['from']} .. {p['to']}",
        "",
        f"Requests: {req['total']}",
    ]
    out += _table(
        ("channel", "client", "outcome", "count"),
        [
            (r["channel"], r["client"], r["outcome"], r["count"])
            for r in req["by_channel_client_outcome"]
        ],
    )
    out += ["", "Reply time (s)"]
    out += _table(
        ("channel", "replies", "median", "p95"),
        [("all", rt["count"], rt["median_s"], rt["p95_s"])]
        + [(c["channel"], c["count"], c["median_s"], c["p95_s"]) for c in rt["by_channel"]],
    )
    letters = report["letters"]
    out += ["", f"Letters registered: {letters['total']}"]
    out += _table(("status", "count"), list(letters["by_status"].items()))
    out += [""]
    out += _table(
        ("department", "name", "count"),
        [(d["department"], d["name"], d["count"]) for d in letters["by_department"]],
    )
    deadlines = report["deadlines"]
    out += ["", f"Legal deadlines due in the period (overdue as of {deadlines['overdue_as_of']})"]
    out += _table(
        ("department", "name", *PERFORMANCE_HEADERS),
        [(d["department"], d["name"], *_measures(d)) for d in deadlines["by_department"]],
    )
    out += [""]
    out += _table(
        ("executor", "name", "department", *PERFORMANCE_HEADERS),
        [
            (e["executor"], e["name"], e["department"], *_measures(e))
            for e in deadlines["by_executor"]
        ],
    )
    overdue = deadlines["overdue_now"]
    out += [
        "",
        f"Overdue now (legal due date passed, open on {deadlines['overdue_as_of']}): "
        f"{overdue['total']}",
    ]
    out += _table(
        ("department", "name", "count", "oldest", "due", "days over"),
        [
            (d["department"], d["name"], *_measures(d, OVERDUE_MEASURES))
            for d in overdue["by_department"]
        ],
    )
    return "\n".join(out) + "\n"


PERFORMANCE_MEASURES = (
    "due",
    "answered_on_time",
    "answered_late",
    "overdue_now",
    "median_working_days",
    "p90_working_days",
)
PERFORMANCE_HEADERS = ("due", "on time", "late", "overdue now", "median wd", "p90 wd")
OVERDUE_MEASURES = ("count", "oldest", "oldest_due_date", "oldest_days_overdue")


def _measures(row: Mapping[str, Any], measures: Sequence[str] = PERFORMANCE_MEASURES) -> list[Any]:
    return [row[m] for m in measures]


CSV_COLUMNS = (
    "section",
    "channel",
    "client",
    "outcome",
    "status",
    "department",
    "executor",
    "measure",
    "value",
)


def render_csv(report: Mapping[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    period = report["period"]["label"]
    writer.writerow({"section": "period", "measure": "label", "value": period})
    for r in report["requests"]["by_channel_client_outcome"]:
        writer.writerow(
            {
                "section": "requests",
                "channel": r["channel"],
                "client": r["client"],
                "outcome": r["outcome"],
                "measure": "count",
                "value": r["count"],
            }
        )
    rt = report["reply_time"]
    for channel, row in [("all", rt), *((c["channel"], c) for c in rt["by_channel"])]:
        for measure in ("count", "median_s", "p95_s"):
            value = row[measure]
            writer.writerow(
                {
                    "section": "reply_time",
                    "channel": channel,
                    "measure": measure,
                    "value": "" if value is None else value,
                }
            )
    for status, n in report["letters"]["by_status"].items():
        writer.writerow(
            {"section": "letters_by_status", "status": status, "measure": "count", "value": n}
        )
    for d in report["letters"]["by_department"]:
        writer.writerow(
            {
                "section": "letters_by_department",
                "department": d["department"],
                "measure": "count",
                "value": d["count"],
            }
        )
    deadlines = report["deadlines"]
    rows = [("deadlines_by_department", d, "") for d in deadlines["by_department"]]
    rows += [("deadlines_by_executor", e, e["executor"]) for e in deadlines["by_executor"]]
    for section, row, executor in rows:
        for measure in PERFORMANCE_MEASURES:
            value = row[measure]
            writer.writerow(
                {
                    "section": section,
                    "department": row["department"],
                    "executor": executor,
                    "measure": measure,
                    "value": "" if value is None else value,
                }
            )
    for d in deadlines["overdue_now"]["by_department"]:
        for measure in OVERDUE_MEASURES:
            writer.writerow(
                {
                    "section": "overdue_now",
                    "department": d["department"],
                    "measure": measure,
                    "value": d[measure],
                }
            )
    return buffer.getvalue()
