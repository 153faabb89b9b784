"""Faults on the real broker and real PostgreSQL, with the gateway as a real process
(`python -m gateway run`): SIGKILL mid-ingestion, a broker restart, a PostgreSQL outage, a
stuck database. Each scenario checks the store against the reference fold over the events,
checks every reply against the known right answer, and writes one line to the results file
that `make chaos` prints.

Sizes: CHAOS_EVENTS events per scenario (CI default 20,000; `make chaos` uses 100,000).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.domain.letters import DmsEvent
from gateway.kafka import ensure_topics, kafka_connection
from gateway.settings import Settings
from gateway.store.sql import create_engine
from gateway.store.tables import notice_outbox
from gateway.tools.simulator import generate_events
from tests.reliability.conftest import ChaosServices
from tests.reliability.harness import (
    FastProducer,
    GatewayProcess,
    RequestLoad,
    admin_dsn,
    chaos_events,
    compare_with_reference,
    encode_events,
    fresh_database,
    log_dir,
    record_result,
    stable_expectations,
    unique_settings,
)
from tests.support.kafka_io import read_topic
from tests.support.store_snapshot import count

pytestmark = pytest.mark.reliability

NO_RATE_LIMITS = {
    "rate_limit_per_user_per_minute": 1_000_000,
    "rate_limit_per_client_per_second": 100_000,
}


def stream(n: int, seed: int) -> list[DmsEvent]:
    """The first n events of a long simulated DMS stream, 20 % of letters disordered/duplicated."""
    return list(itertools.islice(generate_events(10**7, seed=seed, disorder=0.2), n))


def unique(events: Sequence[DmsEvent]) -> int:
    return len({e.event_id for e in events})


async def wait_for(
    probe: Callable[[], Awaitable[int]], accept: Callable[[int], bool], timeout: float
) -> int:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s (last value {value})")
        await asyncio.sleep(0.05)


async def trickle(
    settings: Settings, records: Sequence[tuple[str, bytes, bytes]], per_s: float, limit_s: float
) -> int:
    """Publish at a steady rate, as the DMS would; a chunk whose send fails (broker away) is
    sent again, so this is at-least-once, like the DMS. Returns the number of resends."""
    resends = 0
    deadline = time.monotonic() + limit_s
    chunk = max(1, int(per_s / 10))
    async with FastProducer(settings) as producer:
        for start in range(0, len(records), chunk):
            part = records[start : start + chunk]
            while True:
                assert time.monotonic() < deadline, "could not publish within the time limit"
                try:
                    await producer.publish(part)
                    break
                except Exception:  # noqa: BLE001 - the broker is away: try again shortly
                    resends += 1
                    await asyncio.sleep(0.5)
            await asyncio.sleep(0.1)
    return resends


def state_figures(diff: dict[str, int]) -> int:
    """Store rows that differ from the fold (an event applied twice in effect would show here)."""
    return (
        diff["letters_wrong"]
        + diff["letters_extra"]
        + diff["history_wrong"]
        + diff["history_extra"]
    )


async def unpublished_notices(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).where(notice_outbox.c.published_at.is_(None))
        return int(await connection.scalar(query) or 0)


async def notice_copies(settings: Settings, engine: AsyncEngine) -> dict[str, int]:
    """Queued notices, and how many of them are missing from or repeated on the topic."""
    async with engine.connect() as connection:
        queued = {str(i) for i in await connection.scalars(select(notice_outbox.c.notice_id))}
    on_topic = Counter(
        dict(r.headers)["notice_id"].decode()
        for r in await read_topic(settings, settings.topic_acceptance_notices)
    )
    return {
        "queued": len(queued),
        "missing": len(queued - set(on_topic)),
        "sent twice": sum(n - 1 for n in on_topic.values()),
    }


# ---- 1. SIGKILL the gateway repeatedly while it ingests ------------------------------------------


async def test_sigkill_during_ingestion_loses_nothing_and_applies_nothing_twice(
    chaos_services: ChaosServices,
):
    # Large enough that the last 30 % of the stream outlasts the poll before the third kill on
    # an idle machine (20,000 events were ingested before it once).
    n = chaos_events(default=60_000)
    events = stream(n, seed=101)
    total = unique(events)
    async with fresh_database(chaos_services.postgres_url) as database:
        settings = unique_settings(chaos_services.kafka.bootstrap, database)
        await ensure_topics(settings, settings.all_topics)
        async with FastProducer(settings) as producer:
            await producer.publish(encode_events(settings, events))
        gateway = GatewayProcess(settings, log_dir("sigkill"))
        engine = create_engine(database)
        kills: list[int] = []
        recoveries: list[float] = []
        try:
            gateway.start()
            for fraction in (0.2, 0.45, 0.7):
                await wait_for(lambda: count(engine), lambda c, f=fraction: c >= f * total, 300)
                gateway.kill9()
                at_kill = await count(engine)
                kills.append(at_kill)
                assert at_kill < total, "ingestion finished before the kill; use more events"
                restarted = time.monotonic()
                gateway.start(wait=False)
                await wait_for(lambda: count(engine), lambda c, k=at_kill: c > k, 120)
                recoveries.append(time.monotonic() - restarted)
            stored = await wait_for(lambda: count(engine), lambda c: c >= total, 600)
            await asyncio.sleep(1.0)  # anything applied twice would land now
            stored = await count(engine)
            diff = await compare_with_reference(engine, settings, events)
            # Issue 17: notices relayed around the kills are on their topic once each.
            await wait_for(lambda: unpublished_notices(engine), lambda n: n == 0, 120)
            notices = await notice_copies(settings, engine)
            alive = gateway.alive()
        finally:
            gateway.stop()
            await engine.dispose()
    record_result(
        "sigkill x3 during ingestion",
        events_sent=len(events),
        unique_events=total,
        events_in_store=stored,
        lost=total - stored + diff["letters_missing"] + diff["history_missing"],
        duplicated=max(0, stored - total) + state_figures(diff) + notices["sent twice"],
        recovery_s=max(recoveries),
        detail=f"killed at {kills} of {total}; notices {notices}",
    )
    assert notices["queued"] > 0 and notices == {**notices, "missing": 0, "sent twice": 0}
    assert len(kills) == 3 and all(k < total for k in kills)
    assert stored == total, f"processed_events {stored} != unique events {total}"
    assert diff == dict.fromkeys(diff, 0), diff
    assert alive


# ---- 2. the Kafka broker stops and comes back during ingestion and requests ----------------------


async def test_broker_restart_during_ingestion_and_requests(chaos_services: ChaosServices):
    kafka = chaos_services.kafka
    n = chaos_events()
    events = stream(n, seed=202)
    before, after = events[: n // 2], events[n // 2 :]
    async with fresh_database(chaos_services.postgres_url) as database:
        settings = unique_settings(kafka.bootstrap, database, **NO_RATE_LIMITS)
        await ensure_topics(settings, settings.all_topics)
        async with FastProducer(settings) as producer:
            await producer.publish(encode_events(settings, before))
        expected, history = stable_expectations(settings, before, after)
        gateway = GatewayProcess(settings, log_dir("broker-restart"))
        engine = create_engine(database)
        broker_down = False
        try:
            gateway.start()
            await wait_for(lambda: count(engine), lambda c: c >= unique(before), 300)
            stop = asyncio.Event()
            async with RequestLoad(settings, expected, history, rate_per_s=40) as load:
                traffic = asyncio.create_task(load.run(stop, max_seconds=300))
                publishing = asyncio.create_task(
                    trickle(settings, encode_events(settings, after), per_s=n / 30, limit_s=240)
                )
                await asyncio.sleep(4)
                in_store_at_stop = await count(engine)
                broker_down = True
                down_at = time.monotonic()
                await asyncio.to_thread(kafka.stop)
                await asyncio.sleep(5)
                await asyncio.to_thread(kafka.start)
                broker_down = False
                up_at = time.monotonic()
                resends = await asyncio.wait_for(publishing, 300)
                stored = await wait_for(lambda: count(engine), lambda c: c >= unique(events), 300)
                caught_up = time.monotonic() - up_at
                await asyncio.sleep(5)  # requests after the restart, too
                stop.set()
                await asyncio.wait_for(traffic, 60)
                after_recovery = await load.probe()
            await asyncio.sleep(1.0)
            stored = await count(engine)
            diff = await compare_with_reference(engine, settings, events)
            alive = gateway.alive()
        finally:
            gateway.stop()
            await engine.dispose()
            if broker_down:  # later scenarios need the broker
                await asyncio.to_thread(kafka.start)
    figures = load.figures()
    first_answer = load.first_answer_after(up_at)
    record_result(
        "kafka broker restart",
        events_sent=len(events),
        unique_events=unique(events),
        events_in_store=stored,
        lost=unique(events) - stored + diff["letters_missing"] + diff["history_missing"],
        duplicated=max(0, stored - unique(events)) + state_figures(diff),
        **figures,
        recovery_s=(first_answer - up_at) if first_answer else None,
        detail=(
            f"down {up_at - down_at:.1f}s; {in_store_at_stop} in store at stop; "
            f"ingestion caught up {caught_up:.1f}s after restart; {resends} DMS chunk resends; "
            f"outcomes {load.summary()}; probe after recovery {after_recovery}"
        ),
    )
    assert figures["wrong_answers"] == 0, load.wrong[:5]
    assert in_store_at_stop < unique(events), "ingestion was over before the broker stopped"
    assert stored == unique(events)
    assert diff == dict.fromkeys(diff, 0), diff
    assert first_answer is not None, f"no right answer after the restart: {load.summary()}"
    assert after_recovery == {"answered": 30}, f"not every partition recovered: {after_recovery}"
    assert figures["answered"] > 0 and alive


# ---- 3. PostgreSQL stops for 20 s during ingestion and requests ----------------------------------


async def test_postgres_outage_during_ingestion_and_requests(chaos_services: ChaosServices):
    postgres = chaos_services.postgres
    outage_s = 20.0
    n = chaos_events()
    events = stream(n, seed=303)
    before, after = events[: n // 2], events[n // 2 :]
    async with fresh_database(chaos_services.postgres_url) as database:
        settings = unique_settings(chaos_services.kafka.bootstrap, database, **NO_RATE_LIMITS)
        await ensure_topics(settings, settings.all_topics)
        async with FastProducer(settings) as producer:
            await producer.publish(encode_events(settings, before))
        expected, history = stable_expectations(settings, before, after)
        gateway = GatewayProcess(settings, log_dir("postgres-outage"))
        engine = create_engine(database)
        database_down = False
        try:
            gateway.start()
            await wait_for(lambda: count(engine), lambda c: c >= unique(before), 300)
            stop = asyncio.Event()
            async with RequestLoad(settings, expected, history, rate_per_s=20) as load:
                traffic = asyncio.create_task(load.run(stop, max_seconds=300))
                publishing = asyncio.create_task(
                    trickle(settings, encode_events(settings, after), per_s=n / 20, limit_s=240)
                )
                await asyncio.sleep(3)
                in_store_at_stop = await count(engine)
                database_down = True
                await engine.dispose()  # the test's own pool must not hold dead connections
                down_at = time.monotonic()
                await asyncio.to_thread(postgres.stop)
                stopped_at = time.monotonic()
                await asyncio.sleep(outage_s)
                await asyncio.to_thread(postgres.start)
                database_down = False
                up_at = time.monotonic()
                await asyncio.wait_for(publishing, 300)
                stored = await wait_for(lambda: count(engine), lambda c: c >= unique(events), 300)
                caught_up = time.monotonic() - up_at
                await asyncio.sleep(5)
                stop.set()
                await asyncio.wait_for(traffic, 60)
                after_recovery = await load.probe()
            await asyncio.sleep(1.0)
            stored = await count(engine)
            diff = await compare_with_reference(engine, settings, events)
            alive = gateway.alive()
        finally:
            gateway.stop()
            await engine.dispose()
            if database_down:
                await asyncio.to_thread(postgres.start)
    figures = load.figures()
    during = [o for sent, _, o in load.outcomes if stopped_at + 1 <= sent <= up_at - 1]
    first_answer = load.first_answer_after(up_at)
    record_result(
        "postgresql down 20s",
        events_sent=len(events),
        unique_events=unique(events),
        events_in_store=stored,
        lost=unique(events) - stored + diff["letters_missing"] + diff["history_missing"],
        duplicated=max(0, stored - unique(events)) + state_figures(diff),
        **figures,
        recovery_s=(first_answer - up_at) if first_answer else None,
        detail=(
            f"down {up_at - down_at:.1f}s; {len(during)} requests inside the outage: "
            f"{ {o: during.count(o) for o in set(during)} }; "
            f"ingestion caught up {caught_up:.1f}s after restart; all outcomes {load.summary()}; "
            f"probe after recovery {after_recovery}"
        ),
    )
    assert figures["wrong_answers"] == 0, load.wrong[:5]
    assert in_store_at_stop < unique(events)
    assert stored == unique(events)
    assert diff == dict.fromkeys(diff, 0), diff
    assert len(during) >= 10
    assert set(during) == {"fault:TEMPORARILY_UNAVAILABLE"}, load.summary()
    assert first_answer is not None and alive
    assert after_recovery == {"answered": 30}, f"not every partition recovered: {after_recovery}"


# ---- 4. a stuck database: in-flight work stays bounded -------------------------------------------


RSS_GROWTH_BOUND_MB = 25.0
# Each flood record carries a 1.5 KB header the gateway ignores: a consumer that kept reading
# while the database is stuck would hold it in memory with the record, so the flood is large
# (~80 MB) while encoding and ingesting stay fast enough for CI.
PADDING = [("padding", b"p" * 1536)]


async def test_a_stuck_database_keeps_memory_bounded(chaos_services: ChaosServices):
    lock_s = 15.0
    events = stream(2_000 + max(chaos_events(), 40_000), seed=404)
    warmup, flood = events[:2_000], events[2_000:]
    async with fresh_database(chaos_services.postgres_url) as database:
        settings = unique_settings(chaos_services.kafka.bootstrap, database)
        await ensure_topics(settings, settings.all_topics)
        flood_records = encode_events(settings, flood)
        flood_bytes = sum(len(v) + len(PADDING[0][1]) for _, _, v in flood_records)
        async with FastProducer(settings) as producer:
            await producer.publish(encode_events(settings, warmup))
        gateway = GatewayProcess(settings, log_dir("stuck-database"))
        engine = create_engine(database)
        locker = None
        samples: list[float] = []
        try:
            gateway.start()
            await wait_for(lambda: count(engine), lambda c: c >= unique(warmup), 120)
            readings = []
            for _ in range(8):
                readings.append(gateway.rss_mb())
                await asyncio.sleep(0.25)
            baseline = max(readings)
            locker = await asyncpg.connect(admin_dsn(database, make_url(database).database or ""))
            tx = locker.transaction()
            await tx.start()
            await locker.execute("LOCK TABLE letters IN ACCESS EXCLUSIVE MODE")
            locked_at = time.monotonic()
            in_store_at_lock = await count(engine)
            async with FastProducer(settings) as producer:
                await producer.publish(flood_records, headers=PADDING)
            while time.monotonic() - locked_at < lock_s:
                samples.append(gateway.rss_mb())
                await asyncio.sleep(0.25)
            in_store_while_locked = await count(engine)
            await tx.rollback()
            released_at = time.monotonic()
            await locker.close()
            locker = None
            stored = await wait_for(lambda: count(engine), lambda c: c >= unique(events), 300)
            recovery = time.monotonic() - released_at
            end_rss = gateway.rss_mb()
            diff = await compare_with_reference(engine, settings, events)
            alive = gateway.alive()
        finally:
            if locker is not None:
                await locker.close()
            gateway.stop()
            await engine.dispose()
    growth = max(samples) - baseline
    record_result(
        "database stuck 15s (table lock)",
        events_sent=len(events),
        unique_events=unique(events),
        events_in_store=stored,
        lost=unique(events) - stored + diff["letters_missing"] + diff["history_missing"],
        duplicated=max(0, stored - unique(events)) + state_figures(diff),
        recovery_s=recovery,
        detail=(
            f"RSS baseline {baseline:.0f} MB, max while stuck {max(samples):.0f} MB "
            f"(+{growth:.1f} MB, bound {RSS_GROWTH_BOUND_MB:.0f}), end {end_rss:.0f} MB; "
            f"{flood_bytes / 1e6:.0f} MB published while stuck; "
            f"{in_store_while_locked - in_store_at_lock} events stored while stuck"
        ),
    )
    assert flood_bytes / 1e6 > 2 * RSS_GROWTH_BOUND_MB, "too little traffic to prove a bound"
    assert in_store_while_locked == in_store_at_lock, "progress while the table was locked?"
    assert growth < RSS_GROWTH_BOUND_MB, f"RSS grew {growth:.1f} MB while the database was stuck"
    assert stored == unique(events)
    assert diff == dict.fromkeys(diff, 0), diff
    assert alive


# ---- 5. the broker refuses the replies for a while (the reply topic takes no message) ------------

REPLY_TOO_BIG = {"max.message.bytes": "200"}  # a reply is over a kilobyte: refused, not retried
REFUSED_S = 12.0


async def _reply_topic_config(settings: Settings, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(**kafka_connection(settings))
    await admin.start()
    try:
        resource = ConfigResource(
            ConfigResourceType.TOPIC, settings.topic_callcenter_replies, configs=configs
        )
        await admin.alter_configs([resource])
    finally:
        await admin.close()


async def _committed(settings: Settings) -> dict[int, int]:
    """The request consumer group's committed offsets on the call-center request topic."""
    admin = AIOKafkaAdminClient(**kafka_connection(settings))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.group("requests"))
    finally:
        await admin.close()
    topic = settings.topic_callcenter_requests
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def test_replies_the_broker_refuses_come_again_and_no_offset_passes_them(
    chaos_services: ChaosServices,
):
    """The reply pipeline's failure path against a real broker: while every publish fails,
    the requests are rewound and redelivered, no committed offset passes one of them, and once
    the broker takes replies again each gets its right answer."""
    events = stream(2_000, seed=505)
    async with fresh_database(chaos_services.postgres_url) as database:
        settings = unique_settings(chaos_services.kafka.bootstrap, database, **NO_RATE_LIMITS)
        await ensure_topics(settings, settings.all_topics)
        async with FastProducer(settings) as producer:
            await producer.publish(encode_events(settings, events))
        expected, history = stable_expectations(settings, events, [])
        gateway = GatewayProcess(settings, log_dir("replies-refused"))
        engine = create_engine(database)
        refusing = False
        try:
            gateway.start()
            await wait_for(lambda: count(engine), lambda c: c >= unique(events), 300)
            async with RequestLoad(settings, expected, history, timeout_s=120) as load:
                warm = await load.probe(12)  # every partition answered and committed once
                await wait_for(lambda: _committed_total(settings), lambda n: n >= 12, 60)
                committed_before = await _committed(settings)
                refusing = True
                await _reply_topic_config(settings, REPLY_TOO_BIG)
                asking = asyncio.create_task(load.probe(30))
                await asyncio.sleep(REFUSED_S)
                committed_while_refused = await _committed(settings)
                refusing = False
                await _reply_topic_config(settings, {"max.message.bytes": "1048588"})
                refused_then_answered = await asyncio.wait_for(asking, 150)
                after = await load.probe()
            log = gateway.log_text()
            alive = gateway.alive()
        finally:
            if refusing:
                await _reply_topic_config(settings, {"max.message.bytes": "1048588"})
            gateway.stop()
            await engine.dispose()
    failed_publishes = log.count("reply publish failed")
    record_result(
        "replies refused by the broker 12s",
        **load.figures(),
        detail=(
            f"{failed_publishes} failed publishes; committed before {committed_before}, "
            f"while refused {committed_while_refused}; outcomes {load.summary()}"
        ),
    )
    assert warm == {"answered": 12}
    assert failed_publishes > 0, "no publish failed: the fault did not happen"
    assert committed_while_refused == committed_before, "an offset passed an unpublished reply"
    assert refused_then_answered == {"answered": 30}, refused_then_answered
    assert after == {"answered": 30} and load.figures()["wrong_answers"] == 0
    assert alive


async def _committed_total(settings: Settings) -> int:
    return sum((await _committed(settings)).values())
