"""Property: whatever bytes arrive on a request topic, with whatever transport headers, the
service layer (AuditedRequestHandler over StatusRequests, the store faked) returns a decision
whose reply is a schema-valid StatusReply, or refuses to publish at all - never an exception.

Bounded: about FUZZ_SECONDS of examples (hypothesis stops at max_examples or the time limit).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.domain.access_log import AccessLogPolicy, OfficialIds
from gateway.domain.rate_limit import RateLimiter
from gateway.services.audited_requests import (
    REPLY_TOPIC_REFUSED,
    AuditedRequestHandler,
    Delivery,
)
from gateway.services.ingestion import ingest_events
from gateway.services.status_requests import RateLimits, StatusRequests
from gateway.settings import Settings
from gateway.tools.simulator import generate_events
from gateway.xmlcodec.loading import load_codecs
from tests.support.deadlines import shipped_deadlines
from tests.support.fakes import FakeStore, FakeUnitOfWork

pytestmark = pytest.mark.reliability

FUZZ_SECONDS = 20.0
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
VALID = [p.read_bytes() for p in sorted(SCHEMAS.glob("egov/v1/examples/request-*.xml"))]
INVALID = [p.read_bytes() for p in sorted(SCHEMAS.glob("egov/v1/invalid/*.xml"))]
CORPUS = [p.read_bytes() for p in sorted((Path(__file__).parent / "corpus").glob("request/*.xml"))]
NUMBERS = [
    b"DGK-2026-000001",
    b"DGK-2026-000007",
    b"DGK-2026-000010",
    b"DGK-2026-000015",
    b"dgk-2026-000002 ",
    b"X",
    b"",
    b" " * 70,
]
SNIPPETS = [
    b"<",
    b">",
    b"</",
    b"&",
    b"&x;",
    b"<!DOCTYPE a>",
    b"<?pi?>",
    b"<![CDATA[",
    b"]]>",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b'xmlns=""',
    b"<a>",
    b"</a>",
    b"-->",
    b'kind="company"',
    b"<operatorId>OP-1</operatorId>",
    b"AZ/DGK/call-center",
    b"<protocolVersion>2.0</protocolVersion>",
    "ə".encode(),
    b"A" * 70_000,
]

SETTINGS = Settings(_env_file=None)  # defaults: the real topics, clients and limits
CODECS = load_codecs(SETTINGS)
STATUS_CODEC = CODECS[1]
TOPICS = sorted(SETTINGS.request_channels())
REPLY_TOPICS = [
    None,
    "",
    SETTINGS.topic_egov_replies,
    SETTINGS.topic_callcenter_replies,
    SETTINGS.topic_dms_registrations,
    "x" * 300,
]


def _handler() -> AuditedRequestHandler:
    store = FakeStore()
    hasher = SETTINGS.identifier_hasher()
    now = lambda: datetime(2026, 6, 1, tzinfo=UTC)  # noqa: E731
    events = list(generate_events(20, seed=3, disorder=0.2))
    service = StatusRequests(
        channels=SETTINGS.request_channels(),
        codec=STATUS_CODEC,
        numbers=SETTINGS.registration_number_pattern,
        hasher=hasher,
        limits=RateLimits(RateLimiter(1000.0, burst=1000), RateLimiter(1000.0, burst=1000)),
        now=now,
        monotonic=time.monotonic,
        access_log=AccessLogPolicy({}, OfficialIds.MASKED, False, lambda op: "official"),
        deadlines=shipped_deadlines(),
    )
    handler = AuditedRequestHandler(service, lambda: FakeUnitOfWork(store), now)
    handler.fuzz_store = store  # type: ignore[attr-defined]
    handler.fuzz_events = events  # type: ignore[attr-defined]
    handler.fuzz_hasher = hasher  # type: ignore[attr-defined]
    return handler


def _mutate(data: bytes, draw) -> bytes:
    for _ in range(draw(st.integers(1, 4))):
        n = len(data)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 40)))
        choice = draw(st.integers(0, 3))
        if choice == 0:  # delete a span
            data = data[:i] + data[j:]
        elif choice == 1:  # insert a snippet
            data = data[:i] + draw(st.sampled_from(SNIPPETS)) + data[i:]
        elif choice == 2:  # replace the registration number
            data = data.replace(b"DGK-2026-004127", draw(st.sampled_from(NUMBERS)))
        else:  # duplicate a span
            data = data[:j] + data[i:j] + data[j:]
    return data


@st.composite
def payloads(draw) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=2048))
    if kind == 1:
        return draw(st.text(max_size=400)).encode()
    base = draw(st.sampled_from(VALID if kind == 2 else INVALID + CORPUS))
    base = base.replace(b"DGK-2026-004127", draw(st.sampled_from(NUMBERS)))
    if draw(st.integers(0, 3)):  # mostly a fresh message id; else a reused one (redelivery)
        base = re.sub(rb"<id>[^<]*</id>", f"<id>{draw(st.uuids())}</id>".encode(), base, count=1)
    return _mutate(base, draw) if draw(st.integers(0, 4)) else base


@st.composite
def deliveries(draw) -> Delivery:
    """Mostly the allowed reply topic of the request topic (so requests get answered), else any."""
    topic = draw(st.sampled_from(TOPICS))
    allowed = sorted(SETTINGS.request_channels()[topic].allowed_reply_topics)
    reply_to = draw(
        st.sampled_from(allowed) if draw(st.integers(0, 4)) else st.sampled_from(REPLY_TOPICS)
    )
    correlation = draw(st.one_of(st.none(), st.text(max_size=40)))
    return Delivery(topic=topic, reply_to=reply_to, correlation_id=correlation)


def _drive(coroutine):
    """Run a coroutine that never really suspends (the fakes do no I/O) to its result, so the
    sync function hypothesis drives can call the async service."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise AssertionError("the fake store suspended")


def test_any_bytes_get_a_schema_valid_reply_or_a_refusal():
    handler = _handler()
    _drive(
        ingest_events(
            handler.fuzz_events,  # type: ignore[attr-defined]
            FakeUnitOfWork(handler.fuzz_store),  # type: ignore[attr-defined]
            handler.fuzz_hasher,  # type: ignore[attr-defined]
            lambda: datetime(2026, 6, 1, tzinfo=UTC),
        )
    )
    started = time.monotonic()
    outcomes: dict[str, int] = {}

    @settings(
        max_examples=9_000,  # ~500/s on 2 cores; the FUZZ_SECONDS guard caps the time
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(raw=payloads(), delivery=deliveries())
    def check(raw: bytes, delivery: Delivery) -> None:
        if time.monotonic() - started > FUZZ_SECONDS:
            return  # the time budget is spent: the remaining examples are no-ops
        topic, reply_to = delivery.topic, delivery.reply_to
        decision = _drive(handler.handle(raw, delivery))
        outcomes[decision.outcome] = outcomes.get(decision.outcome, 0) + 1
        if decision.reply is None:
            assert decision.outcome == REPLY_TOPIC_REFUSED
            assert reply_to not in SETTINGS.request_channels()[topic].allowed_reply_topics
            return
        assert decision.reply_topic == reply_to
        reply = STATUS_CODEC.decode_reply(decision.reply)  # schema-validates, or raises
        assert (reply.fault is None) != (reply.status is None)

    check()
    print(
        f"fuzzed {sum(outcomes.values())} requests in {time.monotonic() - started:.1f}s: {outcomes}"
    )
    assert sum(outcomes.values()) > 200
    assert {"ANSWERED", "INVALID_REQUEST", REPLY_TOPIC_REFUSED} <= set(outcomes)
