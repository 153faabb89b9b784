"""The gateway's metrics: prometheus_client families in a registry of their own."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import generate_latest

from gateway.telemetry.metrics import OTHER_CLIENT, Metrics
from tests.support.http import metric_value, parse_metrics


def _scrape(metrics: Metrics):
    return parse_metrics(generate_latest(metrics.registry).decode())


def test_what_was_recorded_is_what_a_scrape_shows():
    metrics = Metrics(known_clients={"AZ/GOV/egov-portal"}, clock=lambda: 1000.0)
    metrics.request_handled("egov.req", "AZ/GOV/egov-portal", "ANSWERED", 0.03)
    metrics.event_stored("LetterRegistered", datetime.fromtimestamp(990, UTC))
    metrics.dead_letters.labels("NOT_WELL_FORMED").inc()
    metrics.lag_is([("t", 0, 5)])
    scraped = _scrape(metrics)
    answered = {"channel": "egov.req", "client": "AZ/GOV/egov-portal", "outcome": "ANSWERED"}
    assert metric_value(scraped, "gateway_status_requests_total", **answered) == 1
    assert metric_value(scraped, "gateway_status_reply_seconds_count", channel="egov.req") == 1
    le_50ms = {"channel": "egov.req", "le": "0.05"}
    assert metric_value(scraped, "gateway_status_reply_seconds_bucket", **le_50ms) == 1
    assert metric_value(scraped, "gateway_consumer_lag", topic="t", partition="0") == 5
    assert metric_value(scraped, "gateway_dms_newest_event_age_seconds") == 10
    assert metric_value(scraped, "gateway_dead_letters_total", reason="NOT_WELL_FORMED") == 1
    assert metric_value(scraped, "gateway_audit_write_failures_total") == 0


def test_unknown_client_ids_cannot_blow_up_the_label_set():
    metrics = Metrics(known_clients={"AZ/GOV/egov-portal"})
    for i in range(50):
        metrics.request_handled("egov.req", f"attacker-{i}", "ACCESS_DENIED", 0.001)
    metrics.request_handled("egov.req", None, "INVALID_REQUEST", 0.001)
    series = {
        labels
        for (name, labels), _ in _scrape(metrics).items()
        if name == "gateway_status_requests_total"
    }
    assert {dict(s)["client"] for s in series} == {OTHER_CLIENT}
    assert len(series) == 2
    other = {"channel": "egov.req", "client": OTHER_CLIENT, "outcome": "ACCESS_DENIED"}
    assert metrics.value("gateway_status_requests_total", **other) == 50


def test_lag_is_a_snapshot_partitions_no_longer_seen_disappear():
    metrics = Metrics()
    metrics.lag_is([("t", 0, 5), ("t", 1, 7)])
    metrics.lag_is([("t", 1, 2)])
    assert metrics.value("gateway_consumer_lag", topic="t", partition="0") is None
    assert metrics.value("gateway_consumer_lag", topic="t", partition="1") == 2


def test_the_newest_event_age_follows_the_newest_event_only():
    now = [2000.0]
    metrics = Metrics(clock=lambda: now[0])
    assert metrics.value("gateway_dms_newest_event_age_seconds") is None  # nothing stored yet
    metrics.event_stored("StatusChanged", datetime.fromtimestamp(1900, UTC))
    metrics.event_stored("StatusChanged", datetime.fromtimestamp(1500, UTC))  # older: ignored
    now[0] = 2050.0
    assert metrics.value("gateway_dms_newest_event_age_seconds") == 150.0


def test_two_gateways_in_one_process_keep_their_own_counts():
    first, second = Metrics(), Metrics()
    first.audit_write_failures.inc()
    assert first.value("gateway_audit_write_failures_total") == 1
    assert second.value("gateway_audit_write_failures_total") == 0
