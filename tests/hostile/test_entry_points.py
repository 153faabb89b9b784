"""Hostile input at every entry point of the running gateway (a real `python -m gateway run`
process on the real broker and PostgreSQL): the DMS topics, the e-gov and call-center request
topics, and the transport headers.

For each corpus document: on the DMS topics a dead letter with its specific reason; on the
request topics the specific fault reply. Throughout: the secret file is never opened (inotify),
nothing connects to the loopback listener the documents point at, the process stays up, and its
RSS grows by less than RSS_GROWTH_BOUND_MB over the whole corpus.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from sqlalchemy import select

from gateway.domain.requests import Fault
from gateway.kafka import ensure_topics, kafka_connection
from gateway.settings import Settings
from gateway.store.sql import create_engine
from gateway.store.tables import processed_events, request_audit
from gateway.tools.client import StatusClient, build_request
from gateway.tools.simulator import letter_events
from gateway.xmlcodec.dms import DmsXmlCodec
from gateway.xmlcodec.egov import EgovXmlCodec
from tests.hostile.watch import FileWatch, Listener
from tests.reliability.harness import GatewayProcess, fresh_database, log_dir, unique_settings
from tests.support.kafka_io import read_topic
from tests.support.waiting import eventually

pytestmark = pytest.mark.reliability

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, dict[str, str | None]] = {
    k: v for k, v in json.loads((CORPUS / "expected.json").read_text()).items() if k[0] != "_"
}
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
EVENT = SCHEMAS / "dms/v1/examples/letter-registered.xml"
REQUEST = SCHEMAS / "egov/v1/examples/request-person.xml"
MARKER = f"HOSTILE-MARKER-{uuid.uuid4().hex}"
RSS_GROWTH_BOUND_MB = 50.0
TIMEOUT = 20.0
TEN_MB = 10 * 1024 * 1024


@dataclass
class Target:
    settings: Settings
    process: GatewayProcess
    database_url: str
    secret: Path
    watch: FileWatch
    listener: Listener
    rss_before_mb: float
    codec: EgovXmlCodec

    def fill(self, raw: bytes) -> bytes:
        return (
            raw.replace(b"@SECRET_URI@", self.secret.as_uri().encode())
            .replace(b"@PORT@", str(self.listener.port).encode())
            .replace(b"@MSGID@", uuid.uuid4().hex.encode())
        )

    def untouched(self) -> None:
        """Nothing read, nothing connected to, the gateway still up."""
        assert self.watch.events() == 0, "the secret file was opened or read"
        assert self.listener.connections() == 0, "something connected to the listener"
        assert self.process.alive(), self.process.tail()


@pytest.fixture(scope="module")
async def target(kafka_bootstrap: str, postgres_url: str) -> AsyncIterator[Target]:
    directory = log_dir("hostile")
    secret = directory / "secret.txt"
    secret.write_text(MARKER)
    async with fresh_database(postgres_url) as database:
        settings = unique_settings(kafka_bootstrap, database)
        await ensure_topics(settings, settings.all_topics)
        process = GatewayProcess(settings, directory)
        watch, listener = FileWatch(secret), Listener()
        try:
            process.start()
            codec = EgovXmlCodec(max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth)
            await _warm_up(settings, codec)
            rss_before = process.rss_mb()
            yield Target(settings, process, database, secret, watch, listener, rss_before, codec)
        finally:
            process.stop()
            watch.close()
            listener.close()
            log = process.log_text()
    assert MARKER not in log


async def _warm_up(settings: Settings, codec: EgovXmlCodec) -> None:
    """One valid request and one valid event first, so the RSS baseline includes warm code."""
    client = StatusClient(
        kafka_connection(settings), settings.topic_egov_requests, settings.topic_egov_replies
    )
    await client.start()
    try:
        request = build_request(settings, "DGK-2026-000001", user="5ZK3R8P")
        codec.decode_reply(await client.send(codec.encode_request(request), timeout=TIMEOUT))
    finally:
        await client.stop()
    producer = AIOKafkaProducer(**kafka_connection(settings))
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topic_dms_registrations, EVENT.read_bytes(), key=b"DGK-2026-004127"
        )
    finally:
        await producer.stop()


def _generated_dms() -> dict[str, tuple[bytes, str]]:
    event = EVENT.read_bytes()
    number = b"DGK-2026-004127"
    return {
        # 70,000 bytes: over the 64 KiB cap, which is checked before any parsing
        "nesting-10000-deep": (
            event.replace(number, b"<a>" * 10_000 + b"</a>" * 10_000, 1),
            "OVERSIZED",
        ),
        # 35,000 bytes: under the cap, so the depth limit is what refuses it
        "nesting-5000-deep": (
            event.replace(number, b"<a>" * 5_000 + b"</a>" * 5_000, 1),
            "TOO_DEEP",
        ),
        # valid but for its size: a 1,000,000-byte text node (fits Kafka's ~1 MiB default)
        "text-node-1mb": (event.replace("Artıq".encode(), b"A" * 1_000_000, 1), "OVERSIZED"),
    }


def _generated_requests() -> dict[str, tuple[bytes, str]]:
    raw = REQUEST.read_bytes().replace(b"b7a3f0d2-5c1e-4a9b-8f64-2e7d9c1a3b50", b"@MSGID@")
    number = b"DGK-2026-000007"
    return {
        "nesting-10000-deep": (
            raw.replace(number, b"<a>" * 10_000 + b"</a>" * 10_000, 1),
            "OVERSIZED",
        ),
        "nesting-5000-deep": (raw.replace(number, b"<a>" * 5_000 + b"</a>" * 5_000, 1), "TOO_DEEP"),
        "text-node-1mb": (raw.replace(number, b"A" * 1_000_000, 1), "OVERSIZED"),
    }


async def _publish(settings: Settings, topic: str, value: bytes, case: str, **options) -> None:
    producer = AIOKafkaProducer(**kafka_connection(settings), **options)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value, key=f"hostile-{case}".encode(), headers=[("case", case.encode())]
        )
    finally:
        await producer.stop()


async def _dead_letters(settings: Settings) -> dict[str, dict[str, bytes]]:
    records = await read_topic(settings, settings.topic_dead_letters)
    found = {}
    for record in records:
        headers = dict(record.headers or ())
        if b"case" in [k.encode() for k in headers]:
            found[headers["case"].decode()] = {**headers, "value-length": str(len(record.value))}
    return found


# ---- the DMS topics ------------------------------------------------------------------------------


async def test_each_hostile_dms_event_is_dead_lettered_with_its_reason(target: Target):
    settings = target.settings
    cases = {
        name: ((CORPUS / "dms" / f"{name}.xml").read_bytes(), e["dms"])
        for name, e in EXPECTED.items()
    }
    cases.update(_generated_dms())
    for i, (name, (raw, _)) in enumerate(sorted(cases.items())):
        topic = settings.topic_dms_registrations if i % 2 else settings.topic_dms_status
        await _publish(settings, topic, target.fill(raw), name)
    found = await eventually(
        lambda: _dead_letters(settings), lambda f: set(cases) <= set(f), timeout=60, interval=0.5
    )
    reasons = {name: found[name]["dlq-reason"].decode() for name in cases}
    assert reasons == {name: reason for name, (_, reason) in cases.items()}
    for name in cases:
        assert MARKER.encode() not in found[name]["dlq-detail"]
        assert found[name]["dlq-source-topic"].decode() in settings.dms_topics
    target.untouched()


# ---- the request topics --------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["egov", "callcenter"])
async def test_each_hostile_request_gets_its_specific_fault(target: Target, channel: str):
    settings = target.settings
    requests, replies = (
        (settings.topic_egov_requests, settings.topic_egov_replies)
        if channel == "egov"
        else (settings.topic_callcenter_requests, settings.topic_callcenter_replies)
    )
    cases: dict[str, tuple[bytes, str, str | None]] = {
        name: ((CORPUS / "request" / f"{name}.xml").read_bytes(), e["fault"], e["detail"])
        for name, e in EXPECTED.items()
    }
    for name, (raw, detail) in _generated_requests().items():
        cases[name] = (raw, "INVALID_REQUEST", detail)
    client = StatusClient(kafka_connection(settings), requests, replies)
    await client.start()
    got: dict[str, tuple[str, str | None]] = {}
    try:
        for name, (raw, _, _) in cases.items():
            reply = target.codec.decode_reply(
                await client.send(target.fill(raw), timeout=TIMEOUT, key=name.encode())
            )
            assert reply.fault is not None and reply.status is None, name
            assert MARKER not in (reply.fault.detail or "")
            got[name] = (reply.fault.code.value, reply.fault.detail)
    finally:
        await client.stop()
    want = {name: (fault, detail) for name, (_, fault, detail) in cases.items()}
    version = got.pop("wrong-version")
    want.pop("wrong-version")
    assert version[0] == Fault.UNSUPPORTED_VERSION.value  # its detail is the schema path
    assert got == want
    target.untouched()


# ---- the transport headers -----------------------------------------------------------------------


async def _audit(target: Target) -> list[dict]:
    engine = create_engine(target.database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(request_audit).order_by(request_audit.c.id))
            return [dict(r) for r in rows.mappings()]
    finally:
        await engine.dispose()


async def _processed(target: Target, event_ids: list) -> set[str]:
    engine = create_engine(target.database_url)
    try:
        async with engine.connect() as connection:
            column = processed_events.c.event_id
            query = select(column).where(column.in_([str(i) for i in event_ids]))
            return {r[0] for r in await connection.execute(query)}
    finally:
        await engine.dispose()


async def _replies_with_hash(settings: Settings, topic: str, request: bytes) -> list:
    digest = hashlib.sha256(request).hexdigest().encode()
    return [r for r in await read_topic(settings, topic) if digest in (r.value or b"")]


async def test_hostile_headers(target: Target):
    settings, codec = target.settings, target.codec
    client = StatusClient(
        kafka_connection(settings), settings.topic_egov_requests, settings.topic_egov_replies
    )
    call_center = StatusClient(
        kafka_connection(settings),
        settings.topic_callcenter_requests,
        settings.topic_callcenter_replies,
    )
    await client.start()
    await call_center.start()
    try:

        def request(**who: str) -> bytes:
            return codec.encode_request(build_request(settings, "DGK-2026-000001", **who))

        # a client id allowed on the call-center topic, presented on the e-gov topic (and back)
        spoofed = request(user="5ZK3R8P", client="AZ/DGK/call-center")
        reply = codec.decode_reply(await client.send(spoofed, timeout=TIMEOUT))
        assert reply.fault is not None and reply.fault.code is Fault.ACCESS_DENIED
        spoofed_back = request(operator="OP-1", client="AZ/GOV/egov-portal")
        reply = codec.decode_reply(await call_center.send(spoofed_back, timeout=TIMEOUT))
        assert reply.fault is not None and reply.fault.code is Fault.ACCESS_DENIED

        # no correlation_id: still answered (the requester can match on requestHash only)
        no_correlation = request(user="5ZK3R8P")
        await client._producer.send_and_wait(  # noqa: SLF001 - a requester breaking the rules
            settings.topic_egov_requests,
            no_correlation,
            headers=[("reply_to", settings.topic_egov_replies.encode())],
        )
        found = await eventually(
            lambda: _replies_with_hash(settings, settings.topic_egov_replies, no_correlation),
            lambda r: len(r) == 1,
            timeout=TIMEOUT,
        )
        assert "correlation_id" not in dict(found[0].headers or ())

        # no reply_to, and a reply_to naming a DMS topic: audited, nothing published anywhere
        no_reply_to = request(user="5ZK3R8P")
        with pytest.raises(TimeoutError):
            await client.send(no_reply_to, timeout=5, reply_to="")
        to_dms = request(user="5ZK3R8P")
        with pytest.raises(TimeoutError):
            await client.send(to_dms, timeout=5, reply_to=settings.topic_dms_registrations)
    finally:
        await client.stop()
        await call_center.stop()

    def refused(raw: bytes):
        digest = hashlib.sha256(raw).hexdigest()
        return [r for r in rows if r["request_hash"] == digest]

    rows = await eventually(lambda: _audit(target), lambda r: len(r) >= 5, timeout=TIMEOUT)
    [missing] = refused(no_reply_to)
    assert missing["outcome"] == "REPLY_TOPIC_REFUSED" and missing["reply_topic"] is None
    [dms] = refused(to_dms)
    assert dms["outcome"] == "REPLY_TOPIC_REFUSED"
    assert dms["reply_topic"] == settings.topic_dms_registrations
    for topic in (*settings.dms_topics, settings.topic_egov_replies):
        assert not await _replies_with_hash(settings, topic, to_dms)
        assert not await _replies_with_hash(settings, topic, no_reply_to)
    target.untouched()


# ---- the 10 MB document: where is it refused? ---------------------------------------------------


async def test_a_ten_megabyte_document(target: Target):
    """What really happens to 10 MB on Kafka with default limits:
    1. the producer client refuses it (max_request_size 1 MiB), nothing is sent;
    2. a producer configured for 16 MiB sends it and the broker refuses it (message.max.bytes);
    3. gzip-compressed it is ~10 KB on the wire, so the broker takes it and the gateway receives
       10 MB: the gateway's own cap refuses it (OVERSIZED) - a reply on the request topic, a
       dead letter (with the value cut to a size the dead-letter topic takes) on the DMS topic.
    """
    settings = target.settings
    event = EVENT.read_bytes().replace("Artıq".encode(), b"A" * TEN_MB, 1)
    assert len(event) > TEN_MB

    with pytest.raises(MessageSizeTooLargeError, match="max_request_size"):
        await _publish(settings, settings.topic_dms_status, event, "10mb-client")
    with pytest.raises(MessageSizeTooLargeError) as broker:
        await _publish(
            settings, settings.topic_dms_status, event, "10mb-broker", max_request_size=16 << 20
        )
    assert "max_request_size" not in str(broker.value)  # the broker's answer, not the client's

    # Valid events just before and after it, in the same partition (the same consumer batch):
    # they must be stored, and the poison dead-lettered, not the batch dropped.
    neighbours = letter_events(990_001, random.Random(1))[:2]
    codec = DmsXmlCodec(max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth)
    producer = AIOKafkaProducer(
        **kafka_connection(settings),
        max_request_size=16 << 20,
        compression_type="gzip",
        linger_ms=200,
    )
    await producer.start()
    try:
        sent = [
            await producer.send(settings.topic_dms_status, value, partition=0, headers=headers)
            for value, headers in (
                (codec.encode(neighbours[0]), []),
                (event, [("case", b"10mb-gzip")]),
                (codec.encode(neighbours[1]), []),
            )
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    assert len(gzip.compress(event)) < 100_000
    found = await eventually(
        lambda: _dead_letters(settings), lambda f: "10mb-gzip" in f, timeout=60, interval=0.5
    )
    letter = found["10mb-gzip"]
    assert letter["dlq-reason"] == b"OVERSIZED"
    assert int(letter["value-length"]) < 1024 * 1024
    assert letter["dlq-original-size"] == str(len(event)).encode()
    stored = await eventually(
        lambda: _processed(target, [e.event_id for e in neighbours]),
        lambda ids: len(ids) == 2,
        timeout=30,
    )
    assert stored == {str(e.event_id) for e in neighbours}

    raw = REQUEST.read_bytes().replace(b"DGK-2026-000007", b"A" * TEN_MB)
    client = StatusClient(
        kafka_connection(settings),
        settings.topic_egov_requests,
        settings.topic_egov_replies,
    )
    await client.start()
    try:
        await client._producer.stop()  # noqa: SLF001 - swap in a producer that can send 10 MB
        client._producer = AIOKafkaProducer(  # noqa: SLF001
            **kafka_connection(settings), max_request_size=16 << 20, compression_type="gzip"
        )
        await client._producer.start()  # noqa: SLF001
        reply = target.codec.decode_reply(await client.send(raw, timeout=TIMEOUT))
    finally:
        await client.stop()
    assert reply.fault is not None
    assert (reply.fault.code.value, reply.fault.detail) == ("INVALID_REQUEST", "OVERSIZED")
    target.untouched()


# ---- after the whole corpus ----------------------------------------------------------------------


async def test_the_gateway_is_up_and_its_memory_bounded_after_the_corpus(target: Target):
    await asyncio.sleep(1.0)
    readings = []
    for _ in range(4):
        readings.append(target.process.rss_mb())
        await asyncio.sleep(0.25)
    after = max(readings)
    growth = after - target.rss_before_mb
    print(f"gateway RSS before the corpus {target.rss_before_mb:.0f} MB, after {after:.0f} MB")
    assert growth < RSS_GROWTH_BOUND_MB, f"RSS grew {growth:.1f} MB over the corpus"
    target.untouched()
