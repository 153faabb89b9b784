"""Traces through Kafka on the real broker: a status request sent with a W3C traceparent is
handled in spans of the caller's trace, and its reply names the reply's span as parent; DMS
ingestion and its store transaction are spans; JSON log lines carry the trace and span ids."""

from __future__ import annotations

import json
import logging
import random
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gateway.app import Gateway, running
from gateway.domain.letters import LetterRegistered
from gateway.kafka import kafka_connection
from gateway.settings import Settings
from gateway.telemetry.logs import JsonFormatter
from gateway.tools.client import StatusClient, build_request
from gateway.tools.simulator import letter_events
from tests.integration.conftest import settings_for
from tests.support.kafka_io import DmsPublisher
from tests.support.store_snapshot import count
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


class JsonLines(logging.Handler):
    """Formats at emit time, inside whatever span is current then, as the real handler does."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    return settings_for(kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")


@pytest.fixture
async def traced_gateway(settings: Settings, spans: InMemorySpanExporter) -> AsyncIterator[Gateway]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    async with running(settings, tracing=provider) as gateway:
        yield gateway


def _named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


async def _ended(spans: InMemorySpanExporter, name: str) -> ReadableSpan:
    """The one span of that name, once ended: a reply reaches its caller as soon as the broker
    has it, a moment before the gateway logs the outcome and ends the request's span."""

    async def finished() -> list[ReadableSpan]:
        return _named(spans, name)

    (span,) = await eventually(finished, lambda found: len(found) > 0, timeout=10)
    return span


async def test_a_request_with_a_traceparent_is_answered_in_the_callers_trace(
    traced_gateway: Gateway, settings: Settings, dms: DmsPublisher, spans: InMemorySpanExporter
):
    events = letter_events(3, random.Random(3))
    await dms.publish(events)
    await eventually(lambda: count(traced_gateway.engine), lambda n: n == len(events))
    registered = events[0]
    assert isinstance(registered, LetterRegistered)

    client = StatusClient(
        kafka_connection(settings), settings.topic_egov_requests, settings.topic_egov_replies
    )
    await client.start()
    logs, logger = JsonLines(), logging.getLogger("consumers.requests")
    logger.addHandler(logs)
    level, _ = logger.level, logger.setLevel(logging.INFO)
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    try:
        request = build_request(
            settings, registered.registration_number, user=registered.applicant.identifier
        )
        reply, headers = await client.exchange(
            traced_gateway.status_codec.encode_request(request),
            timeout=20,
            headers=[("traceparent", f"00-{trace_id}-{caller_span}-01".encode())],
        )
        handled = await _ended(spans, f"{settings.topic_egov_requests} request")  # logged by then
    finally:
        logger.removeHandler(logs)
        logger.setLevel(level)
        await client.stop()
    assert traced_gateway.status_codec.decode_reply(reply).status is not None

    # The reply's traceparent: the caller's trace, and a span of ours as its parent.
    version, reply_trace, reply_parent, flags = headers["traceparent"].decode().split("-")
    assert (version, reply_trace, flags) == ("00", trace_id, "01")

    assert _named(spans, f"{settings.topic_egov_requests} request") == [handled]
    assert f"{handled.context.trace_id:032x}" == trace_id
    assert handled.parent is not None and f"{handled.parent.span_id:016x}" == caller_span
    assert handled.kind is SpanKind.CONSUMER
    assert handled.attributes is not None and handled.attributes["gateway.outcome"] == "ANSWERED"
    (published,) = _named(spans, f"{settings.topic_egov_replies} publish")
    assert f"{published.context.span_id:016x}" == reply_parent
    assert published.parent is not None and published.parent.span_id == handled.context.span_id
    assert published.kind is SpanKind.PRODUCER

    # The batch's store step links to the request; its transaction is a child of it.
    (stored,) = _named(spans, "status-requests store")
    assert handled.context.span_id in {link.context.span_id for link in stored.links}
    transactions = _named(spans, "store transaction")
    assert any(t.parent and t.parent.span_id == stored.context.span_id for t in transactions)
    # FastStream's own span for the poll is linked from the request's span.
    (poll,) = _named(spans, f"{settings.topic_egov_requests} process")
    assert poll.context.span_id in {link.context.span_id for link in handled.links}

    # DMS ingestion: a span per poll, its store transaction a child.
    ingests = _named(spans, "dms-events ingest")
    assert ingests
    ingest_ids = {s.context.span_id for s in ingests}
    assert any(t.parent and t.parent.span_id in ingest_ids for t in transactions)

    # The request's log line carries its trace and span.
    (line,) = [line for line in logs.lines if line.get("outcome") == "ANSWERED"]
    assert line["trace_id"] == trace_id
    assert line["span_id"] == f"{handled.context.span_id:016x}"


async def test_a_malformed_traceparent_is_dropped_and_the_reply_starts_a_trace_of_its_own(
    traced_gateway: Gateway, settings: Settings, spans: InMemorySpanExporter
):
    client = StatusClient(
        kafka_connection(settings), settings.topic_egov_requests, settings.topic_egov_replies
    )
    await client.start()
    try:
        request = build_request(settings, "DGK-2026-000001", user="1AB2C3D")
        _, headers = await client.exchange(
            traced_gateway.status_codec.encode_request(request),
            timeout=20,
            headers=[("traceparent", b"00-not-a-valid-context-01")],  # ignored, not an error
        )
    finally:
        await client.stop()
    _, reply_trace, reply_parent, _ = headers["traceparent"].decode().split("-")
    handled = await _ended(spans, f"{settings.topic_egov_requests} request")
    assert handled.parent is None  # a root: the malformed header was dropped
    (published,) = _named(spans, f"{settings.topic_egov_replies} publish")
    assert reply_trace == f"{handled.context.trace_id:032x}"
    assert reply_parent == f"{published.context.span_id:016x}"
