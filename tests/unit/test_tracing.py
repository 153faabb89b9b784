"""The tracing setting: off records nothing but still passes a trace context on; console writes
spans out; otlp posts them over OTLP/HTTP (to a receiver on a loopback port here)."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.ops.asgi import HttpServer
from gateway.telemetry.tracing import (
    SERVICE_NAME,
    context_from,
    headers_for,
    shutdown_tracing,
    tracer_provider,
)

CALLER = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_off_records_nothing_yet_the_callers_context_goes_on_to_the_reply():
    tracer = tracer_provider("off").get_tracer("t")
    span = tracer.start_span("request", context_from([("traceparent", CALLER)]))
    assert not span.is_recording()
    assert headers_for(span) == [("traceparent", CALLER)]


@pytest.mark.parametrize(
    "header",
    [b"", b"garbage", b"00-00000000000000000000000000000000-b7ad6b7169203331-01", b"\xff" * 60],
)
def test_malformed_trace_headers_give_no_parent(header: bytes):
    context = context_from([("traceparent", header)])
    assert not trace.get_current_span(context).get_span_context().is_valid


def test_console_writes_each_span_as_json(capsys: pytest.CaptureFixture[str]):
    provider = tracer_provider("console")
    with provider.get_tracer("t").start_as_current_span("dms-events ingest"):
        pass
    shutdown_tracing(provider)  # flushes the batch processor
    span = json.loads(capsys.readouterr().out)
    assert span["name"] == "dms-events ingest"
    assert span["resource"]["attributes"]["service.name"] == SERVICE_NAME


async def test_otlp_posts_the_spans_to_the_collector():
    received: list[ExportTraceServiceRequest] = []

    async def collect(request: Request) -> Response:
        received.append(ExportTraceServiceRequest.FromString(await request.body()))
        return Response(b"", media_type="application/x-protobuf")

    collector = HttpServer(
        Starlette(routes=[Route("/v1/traces", collect, methods=["POST"])]), "127.0.0.1", 0
    )
    await collector.start()
    try:
        provider = tracer_provider("otlp", f"http://127.0.0.1:{collector.port}/v1/traces")
        parent = context_from([("traceparent", CALLER)])
        provider.get_tracer("t").start_span("egov.status.requests.v1 request", parent).end()
        await asyncio.to_thread(shutdown_tracing, provider)  # the exporter posts synchronously
    finally:
        await collector.stop()
    (export,) = received
    (span,) = export.resource_spans[0].scope_spans[0].spans
    assert span.name == "egov.status.requests.v1 request"
    assert span.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent_span_id.hex() == "b7ad6b7169203331"
