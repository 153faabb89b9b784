"""The operations endpoints of a running gateway on the real broker and stores: health, metrics
that count what really happened, reports, and readiness driven by consumer lag."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import Select, func, inspect, select

from gateway.app import Gateway
from gateway.domain.letters import LetterRegistered
from gateway.kafka import ensure_topics, kafka_connection
from gateway.ops.probes import CONSUMER_LAG, Probes
from gateway.store.sql import create_engine
from gateway.store.tables import request_days
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness
from gateway.tools.client import StatusClient, build_request
from gateway.tools.simulator import letter_events
from tests.integration.conftest import settings_for
from tests.support.http import (
    Samples,
    exposed_names,
    get_json,
    http_get,
    metric_value,
    metrics_text,
    monitoring_metric_names,
    scrape,
)
from tests.support.kafka_io import DmsPublisher
from tests.support.store_snapshot import count
from tests.support.waiting import eventually


async def _scalar(gateway: Gateway, query: Select[tuple[int]]) -> int:
    async with gateway.engine.connect() as conn:
        return int(await conn.scalar(query) or 0)


async def test_health_metrics_and_reports_follow_what_the_gateway_did(
    gateway: Gateway, dms: DmsPublisher, egov_client: StatusClient
):
    port = gateway.operations.port
    assert (await http_get(port, "/health/live"))[0] == 200
    await eventually(lambda: get_json(port, "/health/ready"), lambda r: r[0] == 200)

    events = letter_events(21, random.Random(21))
    await dms.publish(events)
    await dms.publish_raw(gateway.settings.topic_dms_status, b"<<not xml", "DGK-2026-000021")
    await eventually(lambda: count(gateway.engine), lambda n: n == len(events))
    registered = events[0]
    assert isinstance(registered, LetterRegistered)
    request = build_request(
        gateway.settings,
        registered.registration_number,
        user=registered.applicant.identifier,
        client="AZ/GOV/egov-portal",
    )
    reply = gateway.status_codec.decode_reply(
        await egov_client.send(gateway.status_codec.encode_request(request), timeout=20)
    )
    assert reply.status is not None

    settings = gateway.settings
    egov = settings.topic_egov_requests
    answered = {"channel": egov, "client": "AZ/GOV/egov-portal", "outcome": "ANSWERED"}
    samples = await eventually(
        lambda: scrape(port),
        lambda m: (
            metric_value(m, "gateway_status_requests_total", **answered) == 1
            and metric_value(m, "gateway_dead_letters_total", reason="NOT_WELL_FORMED") == 1
        ),
    )
    by_type = Counter(type(e).__name__ for e in events)
    for kind, n in by_type.items():
        assert metric_value(samples, "gateway_dms_events_ingested_total", type=kind) == n
    assert metric_value(samples, "gateway_status_reply_seconds_count", channel=egov) == 1
    assert (metric_value(samples, "gateway_dms_newest_event_age_seconds") or 0) > 0
    assert metric_value(samples, "gateway_audit_write_failures_total") == 0  # never happened
    assert metric_value(samples, "gateway_ready") == 1
    # FastStream's middleware counts what each subscriber received, in the same registry.
    received = {"app_name": "faststream", "broker": "kafka", "handler": egov}
    assert metric_value(samples, "faststream_received_messages_total", **received) == 1
    # Lag per partition of every consumed topic; all caught up once the commits are in.
    dms_status = settings.topic_dms_status

    def status_lag(m: Samples) -> list[float]:
        return [
            value
            for (name, labels), value in m.items()
            if name == "gateway_consumer_lag" and ("topic", dms_status) in labels
        ]

    samples = await eventually(
        lambda: scrape(port),
        lambda m: len(status_lag(m)) == settings.topic_partitions and not any(status_lag(m)),
    )
    # Every metric the dashboard and the alert rules use is in a real scrape.
    names = exposed_names(await metrics_text(port))
    used = monitoring_metric_names()
    assert len(used) >= 10
    assert used <= names, f"not exposed: {sorted(used - names)}"

    month = datetime.now(UTC).strftime("%Y-%m")
    status, report = await get_json(port, f"/reports?period={month}")
    assert status == 200
    assert report["requests"]["by_channel_client_outcome"] == [
        {
            "channel": "egov",
            "request_topic": settings.topic_egov_requests,
            "client": "AZ/GOV/egov-portal",
            "outcome": "ANSWERED",
            "count": 1,
        }
    ]
    # Once sealed, the request is rolled up by day, and the report gives it from there.
    rolled = select(func.coalesce(func.sum(request_days.c.requests), 0))
    await eventually(lambda: _scalar(gateway, rolled), lambda n: n == 1)
    assert (await get_json(port, f"/reports?period={month}"))[1] == report
    assert (await get_json(port, "/reports?period=garbage"))[0] == 400

    # The live AsyncAPI document: this gateway's own topics, inbound and outbound.
    status, document = await get_json(port, "/asyncapi.json")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert status == 200
    assert {settings.topic_egov_requests, settings.topic_egov_replies} <= addresses
    assert settings.topic_dead_letters in addresses


async def test_lag_above_the_limit_makes_readiness_fail_until_the_group_catches_up(
    kafka_bootstrap: str, tmp_path: Path
):
    settings = settings_for(
        kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", topic_partitions=1
    )
    topic = settings.topic_dms_registrations
    await ensure_topics(settings, [topic])
    producer = AIOKafkaProducer(**kafka_connection(settings))
    await producer.start()
    try:
        for i in range(12):
            await producer.send_and_wait(topic, f"record {i}".encode())
    finally:
        await producer.stop()
    readiness, metrics = Readiness(), Metrics()
    engine = create_engine(settings.database_url)
    probes = Probes(
        kafka_connection(settings),
        engine,
        readiness,
        metrics,
        groups={settings.group("dms"): [topic]},
        interval_s=0.2,
        timeout_s=5.0,
        max_ready_lag=10,
    )
    try:
        await probes.probe_once()
        assert readiness.problems.get(CONSUMER_LAG) == "consumer lag 12 is above the limit 10"
        assert metrics.value("gateway_consumer_lag", topic=topic, partition="0") == 12
        # The group consumes and commits 5 records: lag 7, within the limit.
        consumer = AIOKafkaConsumer(
            topic,
            **kafka_connection(settings),
            group_id=settings.group("dms"),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"probe-test-{uuid.uuid4().hex[:6]}",
        )
        await consumer.start()
        try:
            taken = 0
            while taken < 5:
                batch = await consumer.getmany(timeout_ms=2000, max_records=5 - taken)
                taken += sum(len(records) for records in batch.values())
            await consumer.commit()
        finally:
            await consumer.stop()
        await probes.probe_once()
        assert CONSUMER_LAG not in readiness.problems
        assert metrics.value("gateway_consumer_lag", topic=topic, partition="0") == 7
    finally:
        await probes._close_clients()  # noqa: SLF001
        await engine.dispose()


async def test_a_first_start_answers_the_console_503_starting_until_the_store_is_migrated(
    kafka_bootstrap: str, database_url: str
):
    gateway = Gateway(settings_for(kafka_bootstrap, database_url))
    await gateway.operations.start()  # what start() does first: liveness at once
    try:
        port = gateway.operations.port
        async with gateway.engine.connect() as conn:  # the first start: no tables yet
            assert not await conn.run_sync(lambda sync: inspect(sync).has_table("console_accounts"))
        status, headers, body = await http_get(port, "/console/signin")
        assert (status, headers["retry-after"]) == (503, "1") and b"starting" in body
        assert (await http_get(port, "/reports?period=2026-11"))[0] == 503
        assert (await http_get(port, "/health/live"))[0] == 200
        await gateway.prepare_store()
        status, _, body = await http_get(port, "/console/signin")
        assert status == 200 and b'name="password"' in body
    finally:
        await gateway.operations.stop()
        await gateway.engine.dispose()
