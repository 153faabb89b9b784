"""The operations side of one gateway process: the HTTP app (gateway/ops/asgi.py) served by
uvicorn, and the periodic probes behind readiness. Built and started by the composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from faststream.specification import AsyncAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from gateway.ops.asgi import HttpServer, build_app, utc_today
from gateway.ops.probes import Probes
from gateway.settings import Settings
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness


class Operations:
    """HTTP server plus probes; start() before the consumers, stop() after them."""

    def __init__(self, server: HttpServer, probes: Probes | None) -> None:
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
    *,
    asyncapi: AsyncAPI | None = None,
    mounts: Mapping[str, ASGIApp] | None = None,
    store_ready: Callable[[], bool] = lambda: True,
    today: Callable[[], date] = utc_today,
) -> Operations:
    app = build_app(
        readiness,
        metrics,
        engine=engine,
        roles=roles,
        asyncapi=asyncapi,
        mounts=mounts,
        store_ready=store_ready,
        today=today,
    )
    server = HttpServer(
        app,
        settings.http_host,
        settings.http_port,
        drain_s=max(1, int(settings.shutdown_timeout_s * 0.2)),
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
