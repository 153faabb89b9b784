"""The one ASGI application for everything HTTP, and the uvicorn server that runs it inside the
gateway process (started and stopped by the composition root, never on its own).

    GET /health/live     200 while the process runs (the event loop answers)
    GET /health/ready    200 {"ready": true, "problems": {}, "notes": {}} or 503 with the
                         problems; notes never make it unready (e.g. a missing calendar year)
    GET /metrics         Prometheus text format (prometheus_client, the Gateway's registry)
    GET /reports?period=2026-11 | 2026-Q4 | 2026   or   ?from=2026-11-01&to=2026-11-15
    GET /asyncapi        FastStream's AsyncAPI page of the running broker (/asyncapi.json)

Other applications (the console) come in as `mounts`, each under its own path prefix.
The server starts before the store is migrated (liveness answers at once): until
`store_ready()`, the mounted apps and /reports answer 503 "starting" instead of failing on
tables that do not exist yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime

import uvicorn
from faststream.asgi import AsgiFastStream, AsyncAPIRoute
from faststream.specification import AsyncAPI
from prometheus_client.exposition import choose_encoder
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.reports.control import control_report
from gateway.reports.periods import PeriodError, period_from
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness

log = logging.getLogger(__name__)

ASYNCAPI_PATH = "/asyncapi"


def utc_today() -> date:
    return datetime.now(UTC).date()


class NoStore(JSONResponse):
    def __init__(self) -> None:
        super().__init__({"error": "no store"}, 503)


STARTING_HEADERS = {"Retry-After": "1", "Cache-Control": "no-store"}


class UntilStoreReady:
    """Passes requests to `app` once the store is ready; before that, 503 "starting"."""

    def __init__(self, app: ASGIApp, store_ready: Callable[[], bool]) -> None:
        self._app, self._store_ready = app, store_ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._store_ready():
            starting = PlainTextResponse(
                "The gateway is starting. Try again in a moment.", 503, headers=STARTING_HEADERS
            )
            await starting(scope, receive, send)
            return
        await self._app(scope, receive, send)


def build_app(
    readiness: Readiness,
    metrics: Metrics,
    *,
    engine: AsyncEngine | None = None,
    roles: Mapping[str, str] | None = None,
    asyncapi: AsyncAPI | None = None,
    mounts: Mapping[str, ASGIApp] | None = None,
    today: Callable[[], date] = utc_today,
    store_ready: Callable[[], bool] = lambda: True,
) -> Starlette:
    """`roles`: channel name by request topic (for the reports). `asyncapi`: the running
    broker's document, for the live AsyncAPI page; without it the page is not served.
    `store_ready`: whether the store is migrated (the composition root's start says so)."""

    async def live(_: Request) -> Response:
        return JSONResponse({"live": True}, headers={"Cache-Control": "no-store"})

    async def ready(_: Request) -> Response:
        problems = dict(sorted(readiness.problems.items()))
        notes = dict(sorted(readiness.notes.items()))
        return JSONResponse(
            {"ready": not problems, "problems": problems, "notes": notes},
            200 if not problems else 503,
            headers={"Cache-Control": "no-store"},
        )

    async def metrics_text(request: Request) -> Response:
        # Prometheus text, or OpenMetrics when the scraper asks for it (prometheus_client's own)
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(metrics.registry), headers={"Content-Type": content_type})

    async def reports(request: Request) -> Response:
        if engine is None:
            return NoStore()
        if not store_ready():
            return JSONResponse({"error": "starting"}, 503, headers=STARTING_HEADERS)
        query = request.query_params
        try:
            period = period_from(query.get("period"), query.get("from"), query.get("to"))
        except PeriodError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        report = await control_report(engine, period, today(), dict(roles or {}))
        return JSONResponse(report)

    metrics.ready.set_function(lambda: 1.0 if readiness.ready else 0.0)
    routes: list[BaseRoute] = [
        Route("/health/live", live),
        Route("/health/ready", ready),
        Route("/metrics", metrics_text),
        Route("/reports", reports),
    ]
    if asyncapi is not None:
        # FastStream's own ASGI app serves the page and the JSON at these exact paths. No
        # "try it out": it would let any HTTP caller publish to the gateway's topics.
        faststream = AsgiFastStream(
            asyncapi_path=AsyncAPIRoute(ASYNCAPI_PATH, try_it_out_path=None),
            specification=asyncapi,
            logger=log,
        )
        routes += [Route(p, faststream) for p in (ASYNCAPI_PATH, f"{ASYNCAPI_PATH}.json")]
    # as Mount middleware, not a wrapper app: url_for still finds the mounted app's routes
    until_ready = [Middleware(UntilStoreReady, store_ready=store_ready)]
    routes += [Mount(p, app, middleware=until_ready) for p, app in (mounts or {}).items()]
    return Starlette(routes=routes)


class _InProcessServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # SIGTERM belongs to the gateway's CLI, which stops this server in its turn


class HttpServer:
    """uvicorn serving `app` on a socket bound here (so a taken port fails at start(), with
    the OSError, instead of uvicorn exiting the process)."""

    def __init__(self, app: ASGIApp, host: str, port: int, *, drain_s: int = 3) -> None:
        self._app, self._host, self._requested_port, self._drain_s = app, host, port, drain_s
        self._socket: socket.socket | None = None
        self._server: _InProcessServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0, which asks for an ephemeral one)."""
        if self._socket is None:
            raise RuntimeError("the HTTP server is not running")
        return int(self._socket.getsockname()[1])

    async def start(self) -> None:
        self._socket = socket.create_server((self._host, self._requested_port))
        config = uvicorn.Config(
            self._app,
            lifespan="off",  # the composition root starts and stops everything
            log_config=None,  # our JSON lines (gateway/telemetry/logs.py)
            access_log=False,
            timeout_graceful_shutdown=self._drain_s,
        )
        self._server = server = _InProcessServer(config)
        self._task = asyncio.create_task(server.serve(sockets=[self._socket]))
        while not server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("operations HTTP on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        """Stops taking connections, lets requests in flight finish (up to `drain_s`)."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await asyncio.gather(self._task, return_exceptions=True)
        if self._socket is not None:
            self._socket.close()
        self._server = self._task = self._socket = None
