"""The metrics registry and its Prometheus text exposition."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from gateway.telemetry.metrics import OTHER_CLIENT, Counter, Histogram, Metrics

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? [-+0-9.eInf]+$')


def test_every_line_is_a_comment_or_a_well_formed_sample():
    metrics = Metrics(known_clients={"AZ/GOV/egov-portal"}, clock=lambda: 1000.0)
    metrics.request_handled("egov.req", "AZ/GOV/egov-portal", "ANSWERED", 0.03)
    metrics.event_stored("LetterRegistered", datetime.fromtimestamp(990, UTC))
    metrics.dead_letters.inc(reason="NOT_WELL_FORMED")
    metrics.consumer_lag.replace([({"topic": "t", "partition": "0"}, 5.0)])
    text = metrics.render()
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or SAMPLE.match(line), line
    assert 'gateway_consumer_lag{topic="t",partition="0"} 5' in text
    assert "gateway_dms_newest_event_age_seconds 10" in text
    assert 'gateway_dead_letters_total{reason="NOT_WELL_FORMED"} 1' in text


def test_unknown_client_ids_cannot_blow_up_the_label_set():
    metrics = Metrics(known_clients={"AZ/GOV/egov-portal"})
    for i in range(50):
        metrics.request_handled("egov.req", f"attacker-{i}", "ACCESS_DENIED", 0.001)
    metrics.request_handled("egov.req", None, "INVALID_REQUEST", 0.001)
    assert set(metrics.requests.values) == {
        (("channel", "egov.req"), ("client", OTHER_CLIENT), ("outcome", "ACCESS_DENIED")),
        (("channel", "egov.req"), ("client", OTHER_CLIENT), ("outcome", "INVALID_REQUEST")),
    }
    assert (
        metrics.requests.value(channel="egov.req", client=OTHER_CLIENT, outcome="ACCESS_DENIED")
        == 50
    )


def test_histogram_buckets_are_cumulative_with_sum_and_count():
    histogram = Histogram("h", "help", ("c",), buckets=(0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(value, c="x")
    lines = histogram.samples()
    assert lines == [
        'h_bucket{c="x",le="0.1"} 2',
        'h_bucket{c="x",le="1"} 3',
        'h_bucket{c="x",le="+Inf"} 4',
        'h_sum{c="x"} 3.65',
        'h_count{c="x"} 4',
    ]


def test_labels_are_escaped_and_checked():
    counter = Counter("c_total", "help", ("reason",))
    counter.inc(reason='a "quoted"\\ value\n')
    assert counter.samples() == ['c_total{reason="a \\"quoted\\"\\\\ value\\n"} 1']
    with pytest.raises(ValueError):
        counter.inc(other="x")
    with pytest.raises(ValueError):
        counter.inc(-1, reason="x")


def test_the_newest_event_age_follows_the_newest_event_only():
    now = [2000.0]
    metrics = Metrics(clock=lambda: now[0])
    assert metrics.newest_event_age.samples() == []  # nothing stored yet: no sample
    metrics.event_stored("StatusChanged", datetime.fromtimestamp(1900, UTC))
    metrics.event_stored("StatusChanged", datetime.fromtimestamp(1500, UTC))  # older: ignored
    now[0] = 2050.0
    assert metrics.newest_event_age.value() == 150.0
