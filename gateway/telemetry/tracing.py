"""OpenTelemetry tracing: one tracer provider per Gateway (GATEWAY_TRACING_EXPORTER: off,
otlp, console) and the W3C trace context carried in Kafka record headers.

With the exporter off, spans are not recorded at all (a no-op provider), yet a request's
trace context still passes on to its reply.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Literal

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Link, Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICE_NAME = "appeals-status-gateway"
TRACER_NAME = "gateway"
Exporter = Literal["off", "otlp", "console"]
Headers = Sequence[tuple[str, bytes]]

_W3C = TraceContextTextMapPropagator()
_CONTEXT_HEADERS = frozenset(_W3C.fields)  # traceparent, tracestate


def tracer_provider(exporter: Exporter, otlp_endpoint: str | None = None) -> trace.TracerProvider:
    if exporter == "off":
        return trace.NoOpTracerProvider()
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(BatchSpanProcessor(_exporter(exporter, otlp_endpoint)))
    return provider


def _exporter(exporter: Exporter, otlp_endpoint: str | None) -> SpanExporter:
    if exporter == "console":
        return ConsoleSpanExporter(out=sys.stdout)  # today's stdout, not the one at import
    try:  # optional: pip install 'appeals-status-gateway[otlp]'
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise RuntimeError(
            "GATEWAY_TRACING_EXPORTER=otlp needs the otlp extra "
            "(opentelemetry-exporter-otlp-proto-http)"
        ) from exc
    return OTLPSpanExporter(endpoint=otlp_endpoint)  # None: OTEL_EXPORTER_OTLP_* or localhost


def shutdown_tracing(provider: trace.TracerProvider) -> None:
    """Flushes spans still queued for export."""
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def context_from(headers: Headers | None) -> Context:
    """The caller's trace context from a record's headers (empty if none or malformed: the
    propagator validates the untrusted text and drops what does not parse)."""
    carrier = {
        key: value.decode("latin-1")
        for key, value in headers or ()
        if key in _CONTEXT_HEADERS and value
    }
    return _W3C.extract(carrier) if carrier else Context()


def headers_for(span: Span) -> list[tuple[str, bytes]]:
    """traceparent (and tracestate) naming `span` as the parent of whatever reads the record."""
    if not span.get_span_context().is_valid:  # tracing off and no caller context: nothing
        return []
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=trace.set_span_in_context(span))
    return [(key, value.encode("latin-1")) for key, value in carrier.items()]


def links_to(headers_of_records: Sequence[Headers | None]) -> list[Link]:
    """Links to the senders' spans of a batch's records, for those that carry a traceparent."""
    found = (trace.get_current_span(context_from(h)).get_span_context() for h in headers_of_records)
    return [Link(span) for span in found if span.is_valid]
