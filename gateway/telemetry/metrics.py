"""The gateway's metrics: prometheus_client families in one registry per Gateway (never the
global one, so several gateways in one process keep apart), exposed on GET /metrics.

FastStream's Prometheus middleware adds its per-subscriber families to the same registry.
Label values coming from requests (client ids) are bounded: unknown clients count as "(other)".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Reply latency buckets in seconds: a status reply is expected well under a second.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OTHER_CLIENT = "(other)"


class _NewestEventAge(Collector):
    """No sample until an event was stored: an age of "nothing yet" would be a made-up number."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.newest_at: float | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "gateway_dms_newest_event_age_seconds",
            "Age of the newest DMS event (by its occurredAt) this replica has stored.",
        )
        if self.newest_at is not None:
            family.add_metric([], max(0.0, self._clock() - self.newest_at))
        yield family


class Metrics:
    """Every metric the gateway exposes. One instance (and registry) per Gateway."""

    def __init__(
        self, known_clients: Iterable[str] = (), clock: Callable[[], float] = time.time
    ) -> None:
        self._known_clients = frozenset(known_clients)
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "gateway_status_requests",
            "Status requests handled, by channel (request topic), client and outcome.",
            ("channel", "client", "outcome"),
            registry=registry,
        )
        self.reply_latency = Histogram(
            "gateway_status_reply_seconds",
            "Time from taking a status request off Kafka to its reply being on the reply topic.",
            ("channel",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.events_ingested = Counter(
            "gateway_dms_events_ingested",
            "DMS events decoded and durably stored (duplicates included), by event type.",
            ("type",),
            registry=registry,
        )
        self.dead_letters = Counter(
            "gateway_dead_letters",
            "Records sent to the dead-letter topic, by reason.",
            ("reason",),
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "gateway_consumer_lag",
            "Records not yet committed by the consumer group, per topic partition.",
            ("topic", "partition"),
            registry=registry,
        )
        self._newest_event = _NewestEventAge(clock)
        registry.register(self._newest_event)
        self.audit_write_failures = Counter(
            "gateway_audit_write_failures",
            "Status requests whose audit record could not be written.",
            registry=registry,
        )
        self.outbox_pending = Gauge(
            "gateway_outbox_pending",
            "Unpublished outbox rows the relay found on its last poll (at most one relay batch).",
            ("outbox",),
            registry=registry,
        )
        self.outbox_published = Counter(
            "gateway_outbox_published",
            "Outbox rows published to Kafka and marked, by outbox.",
            ("outbox",),
            registry=registry,
        )
        self.audit_unsealed_rows = Gauge(
            "gateway_audit_unsealed_rows",
            "Audit rows not yet sealed into a block.",
            registry=registry,
        )
        self.audit_seal_lag = Gauge(
            "gateway_audit_seal_lag_seconds",
            "How long the oldest unsealed audit row has waited for its seal (0: none waits).",
            registry=registry,
        )
        self.ready = Gauge(
            "gateway_ready", "1 when /health/ready answers 200, else 0.", registry=registry
        )
        # The alert rules compare with these, so their thresholds are the gateway's settings.
        self.limits = Gauge(
            "gateway_alert_limit",
            "Thresholds from the settings: lag (records), dms_silence and reply_p95 (seconds).",
            ("limit",),
            registry=registry,
        )
        self._add_deadline_metrics(registry)

    def _add_deadline_metrics(self, registry: CollectorRegistry) -> None:
        """Legal deadlines (issue 14): four gauges, refreshed by ops/deadline_watch.py."""
        self.letters_overdue = Gauge(
            "gateway_letters_overdue",
            "Open letters past their legal due date, by department.",
            ("department",),
            registry=registry,
        )
        self.letters_due_soon = Gauge(
            "gateway_letters_due_soon",
            "Open letters with at most GATEWAY_DEADLINE_DUE_SOON_WORKING_DAYS left, by department.",
            ("department",),
            registry=registry,
        )
        self.calendar_year_missing = Gauge(
            "gateway_calendar_year_missing",
            "1 per year (this one or the next) the working-day calendar lacks: due dates that "
            "touch it are provisional.",
            ("year",),
            registry=registry,
        )
        self.dms_due_date_disagreements = Gauge(
            "gateway_dms_due_date_disagreements",
            "Letters whose DMS control date differs from the legal due date the gateway computes.",
            registry=registry,
        )

    def calendar_lacks(self, years: list[int]) -> None:
        self.calendar_year_missing.clear()
        for year in years:
            self.calendar_year_missing.labels(str(year)).set(1)

    def deadlines_are(
        self, overdue: dict[str, int], due_soon: dict[str, int], disagreements: int
    ) -> None:
        """The whole picture at once: departments no longer seen go."""
        for gauge, values in ((self.letters_overdue, overdue), (self.letters_due_soon, due_soon)):
            gauge.clear()
            for department, value in values.items():
                gauge.labels(department).set(value)
        self.dms_due_date_disagreements.set(disagreements)

    # ---- recording -------------------------------------------------------------------

    def client_label(self, client_id: str | None) -> str:
        return client_id if client_id in self._known_clients else OTHER_CLIENT

    def request_handled(
        self, channel: str, client_id: str | None, outcome: str, seconds: float
    ) -> None:
        self.requests.labels(channel, self.client_label(client_id), outcome).inc()
        self.reply_latency.labels(channel).observe(seconds)

    def event_stored(self, event_type: str, occurred_at: datetime) -> None:
        self.events_ingested.labels(event_type).inc()
        at = occurred_at.timestamp()
        if self._newest_event.newest_at is None or at > self._newest_event.newest_at:
            self._newest_event.newest_at = at

    def lag_is(self, lag: Iterable[tuple[str, int, int]]) -> None:
        """The whole picture at once (topic, partition, lag): partitions no longer seen go."""
        self.consumer_lag.clear()
        for topic, partition, n in lag:
            self.consumer_lag.labels(topic, str(partition)).set(n)

    def limits_are(self, *, lag: int, dms_silence_s: float, reply_p95_s: float) -> None:
        self.limits.labels("lag").set(lag)
        self.limits.labels("dms_silence").set(dms_silence_s)
        self.limits.labels("reply_p95").set(reply_p95_s)

    def value(self, name: str, **labels: str) -> float | None:
        """One sample's value, as a scrape would show it (None when there is no such sample)."""
        return self.registry.get_sample_value(name, labels)
