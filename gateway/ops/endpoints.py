"""The operations side of one gateway process: the HTTP endpoints (health, metrics, reports) and
the periodic probes behind readiness. Built and started by the composition root.

    GET /health/live     200 while the process runs (the event loop answers)
    GET /health/ready    200 {"ready": true, "problems": {}} or 503 with the problems
    GET /metrics         Prometheus text format
    GET /reports?period=2026-11 | 2026-Q4 | 2026   or   ?from=2026-11-01&to=2026-11-15
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ops.http import Handler, OpsHttpServer, Response
from gateway.ops.probes import Probes
from gateway.reports.control import control_report
from gateway.reports.periods import PeriodError, period_from
from gateway.settings import Settings
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def utc_today() -> date:
    return datetime.now(UTC).date()


def routes(
    readiness: Readiness,
    metrics: Metrics,
    engine: AsyncEngine | None,
    roles: Mapping[str, str],
    today: Callable[[], date] = utc_today,
) -> dict[str, Handler]:
    async def live(_: Mapping[str, str]) -> Response:
        return Response.json(200, {"live": True})

    async def ready(_: Mapping[str, str]) -> Response:
        problems = dict(sorted(readiness.problems.items()))
        metrics.ready.set(0 if problems else 1)
        return Response.json(
            200 if not problems else 503, {"ready": not problems, "problems": problems}
        )

    async def metrics_text(_: Mapping[str, str]) -> Response:
        metrics.ready.set(1 if readiness.ready else 0)
        return Response.text(200, metrics.render(), PROMETHEUS_TEXT)

    async def reports(query: Mapping[str, str]) -> Response:
        if engine is None:
            return Response.json(503, {"error": "no store"})
        try:
            period = period_from(query.get("period"), query.get("from"), query.get("to"))
        except PeriodError as exc:
            return Response.json(400, {"error": str(exc)})
        return Response.json(200, await control_report(engine, period, today(), roles))

    return {
        "/health/live": live,
        "/health/ready": ready,
        "/metrics": metrics_text,
        "/reports": reports,
    }


class Operations:
    """HTTP server plus probes; start() before the consumers, stop() after them."""

    def __init__(self, server: OpsHttpServer, probes: Probes | None) -> None:
        self.server, self.probes = server, probes
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        await self.server.start()
        if self.probes is not None:
            self._task = asyncio.create_task(self.probes.run_forever())

    async def stop_probes(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def stop(self) -> None:
        await self.stop_probes()
        await self.server.stop()


def build_operations(
    settings: Settings,
    readiness: Readiness,
    metrics: Metrics,
    engine: AsyncEngine | None,
    connection: dict[str, Any] | None,
    roles: Mapping[str, str],
    groups: Mapping[str, Sequence[str]] | None = None,
) -> Operations:
    server = OpsHttpServer(
        settings.http_host, settings.http_port, routes(readiness, metrics, engine, roles)
    )
    probes = None
    if engine is not None and connection is not None:
        probes = Probes(
            connection,
            engine,
            readiness,
            metrics,
            groups=groups or {},
            interval_s=settings.probe_interval_s,
            timeout_s=settings.probe_timeout_s,
            max_ready_lag=settings.max_ready_lag,
        )
    return Operations(server, probes)


async def serve_unready(
    settings: Settings, problems: Mapping[str, str], stop: asyncio.Event
) -> None:
    """Only the HTTP endpoints, permanently not ready with `problems`, until `stop` is set:
    used when the gateway cannot be built (the XSDs failed to load), so the reason is visible
    on /health/ready rather than only in a crash loop's last log line."""
    readiness = Readiness()
    for component, reason in problems.items():
        readiness.fail(component, reason)
    operations = build_operations(settings, readiness, Metrics(), None, None, {})
    await operations.start()
    try:
        await stop.wait()
    finally:
        await operations.stop()
