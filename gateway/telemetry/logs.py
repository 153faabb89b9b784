"""Structured JSON log lines. Callers pass ids through `extra`; personal data is never logged.
A line written inside a span carries its trace_id and span_id (hex, as in the W3C header)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from opentelemetry import trace

_CONTEXT_FIELDS = ("correlation_id", "message_id", "registration_number", "topic", "outcome")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            if (value := getattr(record, name, None)) is not None:
                line[name] = value
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = trace.format_trace_id(span.trace_id)
            line["span_id"] = trace.format_span_id(span.span_id)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "alembic"):
        logging.getLogger(noisy).setLevel("WARNING")
