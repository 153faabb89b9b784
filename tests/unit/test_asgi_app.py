"""The operations ASGI app: routing, status codes, readiness, metrics, the live AsyncAPI page,
mounted apps; and uvicorn serving it on a loopback port inside the process."""

from __future__ import annotations

import socket

import pytest
from faststream.kafka import KafkaBroker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.ops.asgi import HttpServer, build_app
from gateway.ops.asyncapi import specification
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness
from tests.support.http import asgi_client, http_get, metric_value, parse_metrics


async def test_ready_says_503_with_every_problem_then_200_and_metrics_follow():
    readiness, metrics = Readiness(), Metrics()
    async with asgi_client(build_app(readiness, metrics)) as http:
        readiness.fail("broker", "broker unreachable: KafkaConnectionError")
        readiness.fail("schemas", "XSDs failed to load")
        response = await http.get("/health/ready")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "ready": False,
            "problems": {
                "broker": "broker unreachable: KafkaConnectionError",
                "schemas": "XSDs failed to load",
            },
            "notes": {},
        }
        assert (await http.get("/health/live")).json() == {"live": True}
        scraped = await http.get("/metrics")
        assert metric_value(parse_metrics(scraped.text), "gateway_ready") == 0
        readiness.ok("broker")
        readiness.ok("schemas")
        readiness.notes["calendar"] = "working-day calendar lacks 2028"  # a note: still ready
        response = await http.get("/health/ready")
        assert response.status_code == 200
        assert response.json() == {
            "ready": True,
            "problems": {},
            "notes": {"calendar": "working-day calendar lacks 2028"},
        }
        scraped = await http.get("/metrics")
        assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert metric_value(parse_metrics(scraped.text), "gateway_ready") == 1


async def test_unknown_paths_other_methods_and_bad_periods_get_4xx_and_no_store_503():
    async with asgi_client(build_app(Readiness(), Metrics())) as http:
        assert (await http.get("/nope")).status_code == 404
        assert (await http.post("/health/live")).status_code == 405
        assert (await http.head("/health/live")).status_code == 200
        assert (await http.get("/reports", params={"period": "2026-11"})).status_code == 503
        assert (await http.get("/asyncapi")).status_code == 404  # no broker given: no page

    class Unused:  # the period is checked before the store is touched
        pass

    app = build_app(Readiness(), Metrics(), engine=Unused())  # type: ignore[arg-type]
    async with asgi_client(app) as http:
        response = await http.get("/reports", params={"period": "2026-13"})
        assert response.status_code == 400 and "no month 13" in response.json()["error"]
        assert (await http.get("/reports")).status_code == 400


async def test_the_live_asyncapi_page_describes_the_broker_without_try_it_out():
    broker = KafkaBroker("127.0.0.1:1")

    @broker.subscriber("some.requests.v1", title="some-requests")
    async def handle(message: bytes) -> None: ...

    app = build_app(Readiness(), Metrics(), asyncapi=specification(broker))
    async with asgi_client(app) as http:
        page = await http.get("/asyncapi")
        document = (await http.get("/asyncapi.json")).json()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "TryItOut" not in page.text and "try-it" not in page.text
    assert "some.requests.v1" in {c["address"] for c in document["channels"].values()}


async def test_mounted_apps_get_everything_under_their_prefix():
    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{request.url.path} {request.scope['root_path']}")

    console = Starlette(routes=[Route("/letters/{number}", echo)])
    app = build_app(Readiness(), Metrics(), mounts={"/console": console})
    async with asgi_client(app) as http:
        response = await http.get("/console/letters/DGK-2026-1")
        assert response.text == "/console/letters/DGK-2026-1 /console"
        assert (await http.get("/health/live")).status_code == 200


async def test_until_the_store_is_ready_mounted_apps_and_reports_answer_503_starting():
    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse("signed-in page")

    class Unused:  # not ready: the store is never touched
        pass

    store = {"ready": False}
    app = build_app(
        Readiness(),
        Metrics(),
        engine=Unused(),  # type: ignore[arg-type]
        mounts={"/console": Starlette(routes=[Route("/signin", page)])},
        store_ready=lambda: store["ready"],
    )
    async with asgi_client(app) as http:
        starting = await http.get("/console/signin")
        assert starting.status_code == 503 and "starting" in starting.text
        assert starting.headers["retry-after"] == "1"
        assert starting.headers["cache-control"] == "no-store"
        reports = await http.get("/reports", params={"period": "2026-11"})
        assert reports.status_code == 503 and reports.json() == {"error": "starting"}
        assert (await http.get("/health/live")).status_code == 200  # live all along
        store["ready"] = True
        ready = await http.get("/console/signin")
        assert ready.status_code == 200 and ready.text == "signed-in page"


async def test_uvicorn_serves_the_app_on_an_ephemeral_port_and_stops():
    server = HttpServer(build_app(Readiness(), Metrics()), "127.0.0.1", 0)
    await server.start()
    port = server.port
    try:
        status, headers, body = await http_get(port, "/health/live")
        assert status == 200 and body == b'{"live":true}'
        assert headers["cache-control"] == "no-store"
    finally:
        await server.stop()
    with pytest.raises(OSError):  # nothing listens there any more
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


async def test_a_taken_port_fails_the_start_with_the_os_error():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        server = HttpServer(build_app(Readiness(), Metrics()), "127.0.0.1", taken.getsockname()[1])
        with pytest.raises(OSError):
            await server.start()
