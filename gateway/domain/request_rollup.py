"""Requests rolled up by day: counts per (day, topic, client, outcome) and reply times as a
histogram per (day, topic), so that a month's or a year's figures are sums over a few
thousand rows instead of a pass over every audit row.

A histogram loses the exact values, so reply-time percentiles become upper bounds: "95% of the
replies came within X seconds", X the upper edge of the bucket holding the percentile's value.
The edges are whole milliseconds: 1 ms apart up to 20 ms, then 5% apart, so X overstates the
exact figure by at most 1 ms or 5%, whichever is larger.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

_FINE_UNTIL_MS = 20  # below this, 5% of a value is under a millisecond
_GROWTH = 1.05
# No reply can take this long (Kafka keeps a request for days, not weeks); a longer reply
# time is counted in the last bucket.
_LONGEST_MS = 30 * 24 * 3600 * 1000


def _edges() -> tuple[int, ...]:
    edges = list(range(1, _FINE_UNTIL_MS + 1))
    while edges[-1] < _LONGEST_MS:
        edges.append(max(edges[-1] + 1, math.floor(edges[-1] * _GROWTH)))
    return tuple(edges)


EDGES_MS = _edges()
_EDGES_US = tuple(edge * 1000 for edge in EDGES_MS)


def bucket_of(reply_time: timedelta) -> int:
    """The upper edge (ms) of the bucket of a reply time: the smallest edge at or above it."""
    micros = reply_time // timedelta(microseconds=1)
    return EDGES_MS[min(bisect_left(_EDGES_US, micros), len(EDGES_MS) - 1)]


def percentile_bound(histogram: Mapping[int, int], fraction: float) -> float | None:
    """Seconds within which `fraction` of the replies came: the upper edge of the bucket that
    holds the ceil(fraction * n)-th smallest reply time (nearest rank). None: no replies."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank, seen = max(1, math.ceil(fraction * total)), 0
    for edge in sorted(histogram):
        seen += histogram[edge]
        if seen >= rank:
            return edge / 1000
    raise AssertionError("unreachable: the ranks end at the total")


@dataclass(frozen=True)
class AuditedRequest:
    """What the rollup needs of one audit row."""

    id: int
    request_topic: str
    client_id: str
    outcome: str
    received_at: datetime
    replied_at: datetime
    replied: bool  # a reply went out (the audit row has a reply hash): it has a reply time


RequestKey = tuple[date, str, str, str]  # (UTC day received, request topic, client, outcome)
ReplyTimeKey = tuple[date, str, int]  # (UTC day received, request topic, bucket edge ms)


@dataclass
class RequestTally:
    requests: Counter[RequestKey] = field(default_factory=Counter)
    reply_times: Counter[ReplyTimeKey] = field(default_factory=Counter)


def tally(rows: Iterable[AuditedRequest]) -> RequestTally:
    result = RequestTally()
    for row in rows:
        day = row.received_at.astimezone(UTC).date()
        result.requests[(day, row.request_topic, row.client_id, row.outcome)] += 1
        if row.replied:
            bucket = bucket_of(row.replied_at - row.received_at)
            result.reply_times[(day, row.request_topic, bucket)] += 1
    return result
