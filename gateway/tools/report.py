"""`python -m gateway report`: the control report from the store, with no running gateway
needed: the calendar is stored first, as a start stores it."""

from __future__ import annotations

from datetime import date

from gateway.ops.deadline_watch import store_settings_calendar
from gateway.reports.control import control_report
from gateway.reports.periods import Period
from gateway.reports.render import render_csv, render_table
from gateway.settings import Settings
from gateway.store.sql import create_engine


async def run_report(settings: Settings, period: Period, csv_path: str | None, today: date) -> int:
    """Read the store, print the table, optionally write CSV."""
    engine = create_engine(settings.database_url)
    try:
        await store_settings_calendar(settings, engine, today)  # no running gateway needed
        roles = {topic: ch.name for topic, ch in settings.request_channels().items()}
        report = await control_report(engine, period, today, roles)
    finally:
        await engine.dispose()
    print(render_table(report), end="")
    if csv_path:
        with open(csv_path, "w", encoding="utf-8", newline="") as file:
            file.write(render_csv(report))
        print(f"CSV written to {csv_path}")
    return 0
