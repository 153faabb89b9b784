"""Requests rolled up by day: the reply-time buckets, percentiles as upper bounds, the tally."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.request_rollup import (
    EDGES_MS,
    AuditedRequest,
    bucket_of,
    percentile_bound,
    tally,
)
from gateway.store.reports import ReplyTiming, reply_timings

MS = timedelta(milliseconds=1)


def test_buckets_are_a_millisecond_wide_then_at_most_five_percent():
    assert EDGES_MS[:3] == (1, 2, 3)
    for lower, upper in zip(EDGES_MS, EDGES_MS[1:], strict=False):
        assert upper - lower == 1 or upper <= lower * 1.05
    assert EDGES_MS[-1] >= 30 * 24 * 3600 * 1000  # a month: no reply takes longer


@pytest.mark.parametrize(
    ("reply_time", "edge"),
    [
        (timedelta(0), 1),
        (timedelta(microseconds=1), 1),
        (MS, 1),  # an edge belongs to the bucket it closes: "at most 1 ms"
        (MS + timedelta(microseconds=1), 2),
        (40 * MS, 40),
        (41 * MS, 42),
        (timedelta(days=365), EDGES_MS[-1]),  # beyond the last edge: in the last bucket
    ],
)
def test_a_reply_time_falls_in_the_bucket_whose_upper_edge_is_the_first_at_or_above_it(
    reply_time, edge
):
    assert bucket_of(reply_time) == edge


def test_percentiles_are_the_upper_edge_of_the_bucket_holding_the_nearest_rank():
    histogram = Counter({5: 3, 12: 1, 40: 1})  # five replies: 3 within 5 ms, ...
    assert percentile_bound(histogram, 0.5) == 0.005  # 3rd of 5
    assert percentile_bound(histogram, 0.8) == 0.012  # 4th of 5
    assert percentile_bound(histogram, 0.95) == 0.04  # 5th of 5
    assert percentile_bound(Counter(), 0.5) is None


reply_times_us = st.lists(st.integers(0, 3_600_000_000), min_size=1, max_size=200)


@given(reply_times_us, st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_the_bound_holds_the_exact_percentile_and_overstates_it_by_at_most_5_percent_or_1_ms(
    micros, fraction
):
    times = [timedelta(microseconds=m) for m in micros]
    exact = sorted(times)[max(1, math.ceil(fraction * len(times))) - 1]  # nearest rank
    bound = percentile_bound(Counter(bucket_of(t) for t in times), fraction)
    assert bound is not None
    assert exact <= timedelta(seconds=bound) <= max(exact * 1.05, exact + MS)


def _audited(id_: int, at: datetime, outcome: str, reply_ms: int | None) -> AuditedRequest:
    replied = reply_ms is not None
    return AuditedRequest(
        id_, "egov.req", "portal", outcome, at, at + (reply_ms or 0) * MS, replied
    )


def test_the_tally_counts_by_utc_day_and_buckets_the_replies():
    late = datetime(2026, 11, 30, 23, 59, 59, 999000, tzinfo=UTC)
    rows = [
        _audited(1, late, "ANSWERED", 3),
        _audited(2, late, "ANSWERED", 3),
        _audited(3, late + timedelta(seconds=1), "NOT_FOUND", 41),  # the next UTC day
        _audited(4, late, "REFUSED", None),  # no reply went out: no reply time
    ]
    result = tally(rows)
    nov30, dec1 = late.date(), (late + timedelta(seconds=1)).date()
    assert result.requests == Counter(
        {
            (nov30, "egov.req", "portal", "ANSWERED"): 2,
            (nov30, "egov.req", "portal", "REFUSED"): 1,
            (dec1, "egov.req", "portal", "NOT_FOUND"): 1,
        }
    )
    assert result.reply_times == Counter({(nov30, "egov.req", 3): 2, (dec1, "egov.req", 42): 1})


def test_reply_timings_give_all_topics_together_then_each():
    timings = reply_timings({"a": Counter({5: 2}), "b": Counter({100: 1})})
    assert timings == [
        ReplyTiming(None, 3, 0.005, 0.1),
        ReplyTiming("a", 2, 0.005, 0.005),
        ReplyTiming("b", 1, 0.1, 0.1),
    ]
    assert reply_timings({}) == [ReplyTiming(None, 0, None, None)]
