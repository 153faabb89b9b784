"""The operations HTTP server on a loopback ephemeral port: routing, status codes, readiness."""

from __future__ import annotations

import asyncio
import json

from gateway.ops.endpoints import PROMETHEUS_TEXT, routes
from gateway.ops.http import OpsHttpServer, Response
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness
from tests.support.http import http_get


async def test_ready_says_503_with_every_problem_then_200():
    readiness, metrics = Readiness(), Metrics()
    server = OpsHttpServer("127.0.0.1", 0, routes(readiness, metrics, None, {}))
    await server.start()
    try:
        assert server.port > 0
        readiness.fail("broker", "broker unreachable: KafkaConnectionError")
        readiness.fail("schemas", "XSDs failed to load")
        status, headers, body = await http_get(server.port, "/health/ready")
        assert status == 503 and headers["Content-Type"] == "application/json"
        assert json.loads(body) == {
            "ready": False,
            "problems": {
                "broker": "broker unreachable: KafkaConnectionError",
                "schemas": "XSDs failed to load",
            },
        }
        assert (await http_get(server.port, "/health/live"))[0] == 200
        _, _, text = await http_get(server.port, "/metrics")
        assert b"gateway_ready 0" in text
        readiness.ok("broker")
        readiness.ok("schemas")
        status, _, body = await http_get(server.port, "/health/ready")
        assert status == 200 and json.loads(body) == {"ready": True, "problems": {}}
        status, headers, text = await http_get(server.port, "/metrics")
        assert status == 200 and headers["Content-Type"] == PROMETHEUS_TEXT
        assert b"gateway_ready 1" in text
    finally:
        await server.stop()


async def test_unknown_paths_methods_and_garbage_get_4xx_and_a_failing_handler_500():
    async def boom(_):
        raise RuntimeError("x")

    async def fine(query):
        return Response.json(200, dict(query))

    server = OpsHttpServer("127.0.0.1", 0, {"/boom": boom, "/q": fine})
    await server.start()
    try:
        assert (await http_get(server.port, "/nope"))[0] == 404
        assert (await http_get(server.port, "/q", method="POST"))[0] == 405
        assert (await http_get(server.port, "/boom"))[0] == 500
        status, _, body = await http_get(server.port, "/q?period=2026-11&x=1")
        assert status == 200 and json.loads(body) == {"period": "2026-11", "x": "1"}
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"nonsense\r\n\r\n")
        assert (await reader.read()).startswith(b"HTTP/1.1 400")
        writer.close()
    finally:
        await server.stop()


async def test_reports_without_a_valid_period_is_a_400():
    readiness, metrics = Readiness(), Metrics()
    handlers = routes(readiness, metrics, object(), {})  # type: ignore[arg-type]
    response = await handlers["/reports"]({"period": "2026-13"})
    assert response.status == 400 and b"no month 13" in response.body
    response = await handlers["/reports"]({})
    assert response.status == 400
