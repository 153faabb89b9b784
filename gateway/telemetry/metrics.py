"""The gateway's metrics, kept in one plain object built by the composition root and rendered in
the Prometheus text exposition format (version 0.0.4) on GET /metrics.

Hand-written on purpose: a handful of counters, gauges and one histogram need no dependency.
Label values coming from requests (client ids) are bounded: unknown clients count as "(other)".
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

Labels = tuple[tuple[str, str], ...]

# Reply latency buckets in seconds: a status reply is expected well under a second.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OTHER_CLIENT = "(other)"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: Labels = ()) -> str:
    pairs = (*labels, *extra)
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


class _Family:
    kind = ""

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(label_names)

    def _key(self, labels: dict[str, str]) -> Labels:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {sorted(labels)}")
        return tuple((name, str(labels[name])) for name in self.label_names)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Family):
    kind = "counter"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, label_names)
        self.values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        self.values[key] = self.values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self.values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        return [f"{self.name}{_labels(k)} {_number(v)}" for k, v in sorted(self.values.items())]


class Gauge(_Family):
    kind = "gauge"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, label_names)
        self.values: dict[Labels, float] = {}
        self.function: Callable[[], float | None] | None = None

    def set(self, value: float, **labels: str) -> None:
        self.values[self._key(labels)] = value

    def replace(self, values: Iterable[tuple[dict[str, str], float]]) -> None:
        """All samples at once (e.g. lag per partition): partitions no longer seen disappear."""
        self.values = {self._key(labels): value for labels, value in values}

    def value(self, **labels: str) -> float | None:
        if self.function is not None:
            return self.function()
        return self.values.get(self._key(labels))

    def samples(self) -> list[str]:
        if self.function is not None:
            value = self.function()
            return [] if value is None else [f"{self.name} {_number(value)}"]
        return [f"{self.name}{_labels(k)} {_number(v)}" for k, v in sorted(self.values.items())]


class Histogram(_Family):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        label_names: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, label_names)
        self.buckets = tuple(sorted(buckets))
        self.series: dict[Labels, tuple[list[int], list[float]]] = {}  # counts, [sum, count]

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        counts, totals = self.series.setdefault(key, ([0] * len(self.buckets), [0.0, 0.0]))
        index = bisect.bisect_left(self.buckets, value)  # le: value <= bound
        for i in range(index, len(self.buckets)):
            counts[i] += 1
        totals[0] += value
        totals[1] += 1

    def count(self, **labels: str) -> int:
        found = self.series.get(self._key(labels))
        return int(found[1][1]) if found else 0

    def samples(self) -> list[str]:
        lines: list[str] = []
        for key, (counts, (total, n)) in sorted(self.series.items()):
            for bound, cumulative in zip(self.buckets, counts, strict=True):
                le = (("le", _number(bound)),)
                lines.append(f"{self.name}_bucket{_labels(key, le)} {cumulative}")
            lines.append(f"{self.name}_bucket{_labels(key, (('le', '+Inf'),))} {int(n)}")
            lines.append(f"{self.name}_sum{_labels(key)} {_number(total)}")
            lines.append(f"{self.name}_count{_labels(key)} {int(n)}")
        return lines


class Metrics:
    """Every metric the gateway exposes. One instance per Gateway; nothing global."""

    def __init__(
        self, known_clients: Iterable[str] = (), clock: Callable[[], float] = time.time
    ) -> None:
        self._known_clients = frozenset(known_clients)
        self._clock = clock
        self.requests = Counter(
            "gateway_status_requests_total",
            "Status requests handled, by channel (request topic), client and outcome.",
            ("channel", "client", "outcome"),
        )
        self.reply_latency = Histogram(
            "gateway_status_reply_seconds",
            "Time from taking a status request off Kafka to its reply being on the reply topic.",
            ("channel",),
        )
        self.events_ingested = Counter(
            "gateway_dms_events_ingested_total",
            "DMS events decoded and durably stored (duplicates included), by event type.",
            ("type",),
        )
        self.dead_letters = Counter(
            "gateway_dead_letters_total",
            "Records sent to the dead-letter topic, by reason.",
            ("reason",),
        )
        self.consumer_lag = Gauge(
            "gateway_consumer_lag",
            "Records not yet committed by the consumer group, per topic partition.",
            ("topic", "partition"),
        )
        self.newest_event_age = Gauge(
            "gateway_dms_newest_event_age_seconds",
            "Age of the newest DMS event (by its occurredAt) this replica has stored.",
        )
        self.newest_event_age.function = self._newest_event_age
        self.audit_write_failures = Counter(
            "gateway_audit_write_failures_total",
            "Status requests whose audit record could not be written.",
        )
        self.ready = Gauge("gateway_ready", "1 when /health/ready answers 200, else 0.")
        self._newest_event_at: float | None = None

    @property
    def families(self) -> tuple[_Family, ...]:
        return (
            self.requests,
            self.reply_latency,
            self.events_ingested,
            self.dead_letters,
            self.consumer_lag,
            self.newest_event_age,
            self.audit_write_failures,
            self.ready,
        )

    # ---- recording -------------------------------------------------------------------

    def client_label(self, client_id: str | None) -> str:
        return client_id if client_id in self._known_clients else OTHER_CLIENT

    def request_handled(
        self, channel: str, client_id: str | None, outcome: str, seconds: float
    ) -> None:
        self.requests.inc(channel=channel, client=self.client_label(client_id), outcome=outcome)
        self.reply_latency.observe(seconds, channel=channel)

    def event_stored(self, event_type: str, occurred_at: datetime) -> None:
        self.events_ingested.inc(type=event_type)
        at = occurred_at.timestamp()
        if self._newest_event_at is None or at > self._newest_event_at:
            self._newest_event_at = at

    def _newest_event_age(self) -> float | None:
        if self._newest_event_at is None:
            return None
        return max(0.0, self._clock() - self._newest_event_at)

    # ---- exposition ------------------------------------------------------------------

    def render(self) -> str:
        lines: list[str] = []
        for family in self.families:
            lines += family.header()
            lines += family.samples()
        return "\n".join(lines) + "\n"
