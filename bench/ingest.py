"""Benchmark (not a test): DMS ingestion speed, Kafka -> gateway -> PostgreSQL, end to end.

Publishes N synthetic DMS events (pre-encoded) to fresh 6-partition topics, then measures
  1. a bare aiokafka consumer (fresh group, reads everything from the beginning, does nothing
     else, commits at the end): the ceiling the broker and client allow on this machine;
  2. the real gateway (gateway.app.Gateway, in its own process) ingesting the same records
     into a fresh database: from the first batch handed to the store to the moment the group's
     committed offsets equal the end offsets, checked afterwards against processed_events;
     its peak RSS is sampled meanwhile.
After the measured rounds, one more round runs with py-spy attached to the gateway (not
counted) and prints the top functions by self time. Every phase is bounded (--timeout).
The last line is `RESULT ingest events_per_s=<median> vs_bare=<ratio> rss_mb=<peak>`.

    .venv/bin/python bench/ingest.py [--events 200000] [--bootstrap H:P] [--database-url URL]

Without --bootstrap/--database-url it starts its own broker and PostgreSQL and stops them.
Loopback only: the broker and PostgreSQL must be on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import statistics
import sys
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

# Run as a script: import from the project root, not from bench/ (bench/requests.py must never
# shadow the `requests` library for whatever imports it).
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench._common import (  # noqa: E402
    LOGS,
    PeakRss,
    Profile,
    Services,
    add_service_options,
    bounded,
    command_line,
    cpu_seconds,
    delete_topics,
    fresh_database,
    require_loopback,
    settings_env,
    start_process,
    stop_process,
    table,
)
from gateway.app import Gateway  # noqa: E402
from gateway.domain.letters import LetterRegistered  # noqa: E402
from gateway.kafka import ensure_topics, kafka_connection  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.store.migrate import upgrade_to_head  # noqa: E402
from gateway.store.sql import create_engine  # noqa: E402
from gateway.store.tables import letters, processed_events  # noqa: E402
from gateway.telemetry.logs import configure_logging  # noqa: E402
from gateway.tools.simulator import generate_events  # noqa: E402
from gateway.xmlcodec.dms import DmsXmlCodec  # noqa: E402

PARTITIONS = 6


class TimedGateway(Gateway):
    """The real gateway; only notes when the first batch reaches the store."""

    first_batch_at: float | None = None

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        store = self.ingestion.store

        async def timed_store(events):  # type: ignore[no-untyped-def]
            if self.first_batch_at is None:
                self.first_batch_at = time.monotonic()  # system-wide: compared across processes
            return await store(events)

        self.ingestion.store = timed_store  # type: ignore[method-assign]


async def serve_gateway() -> None:
    """The gateway in its own process until SIGTERM, logging as `gateway run` does; then prints
    `FIRST <monotonic time>`."""
    configure_logging("INFO")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    gateway = TimedGateway(Settings())
    await gateway.start()
    try:
        print("READY", flush=True)
        await stop.wait()
    finally:
        await gateway.stop()
    print(f"FIRST {gateway.first_batch_at}", flush=True)


def bench_settings(bootstrap: str, database_url: str, batch: int) -> Settings:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    topics = {
        name: f"{prefix}.{field.default}"
        for name, field in Settings.model_fields.items()
        if name.startswith("topic_") and isinstance(field.default, str)
    }
    return Settings(
        kafka_bootstrap_servers=bootstrap,
        database_url=database_url,
        consumer_group=f"{prefix}-gateway",
        topic_partitions=PARTITIONS,
        ingest_batch_max_records=batch,
        **topics,
    )


async def publish(settings: Settings, count: int) -> tuple[int, int, float]:
    """Encode `count` events first, then produce them as fast as possible. Returns
    (records, unique event ids, seconds spent producing)."""
    codec = DmsXmlCodec(max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth)
    records: list[tuple[str, bytes, bytes]] = []
    unique: set[uuid.UUID] = set()
    for event in itertools.islice(generate_events(10**9, seed=7), count):
        topic = (
            settings.topic_dms_registrations
            if isinstance(event, LetterRegistered)
            else settings.topic_dms_status
        )
        records.append((topic, codec.encode(event), event.registration_number.encode()))
        unique.add(event.event_id)
    producer = AIOKafkaProducer(
        **kafka_connection(settings),
        acks="all",
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        pending = []
        for topic, value, key in records:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return len(records), len(unique), elapsed


async def end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**kafka_connection(settings))
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in settings.dms_topics for p in range(PARTITIONS)]
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def bare_consumer(settings: Settings, total: int, batch: int, timeout: float) -> float:
    """Seconds from the first record received to the final commit."""
    consumer = AIOKafkaConsumer(
        *settings.dms_topics,
        **kafka_connection(settings),
        group_id=f"{settings.consumer_group}-bare",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen, first = 0, None
        deadline = time.perf_counter() + timeout
        while seen < total:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"bare consumer read {seen} of {total} records")
            got = await consumer.getmany(timeout_ms=500, max_records=batch)
            if got and first is None:
                first = time.perf_counter()
            seen += sum(len(records) for records in got.values())
        await consumer.commit()
        assert first is not None
        return time.perf_counter() - first
    finally:
        await consumer.stop()


async def gateway_run(
    settings: Settings, ends: dict[TopicPartition, int], timeout: float, profile: bool
) -> dict:
    """Seconds first batch -> last commit and start -> last commit, stored ids, letters, peak
    RSS (MB) of the gateway process, and its profile summary if asked."""
    admin = AIOKafkaAdminClient(**kafka_connection(settings))
    await admin.start()
    try:
        started = time.monotonic()
        process = await start_process(
            __file__, "--serve-gateway", settings_env(settings, "ingest_batch_max_records")
        )
        try:
            spy = Profile(process.pid, timeout, enabled=profile)
            cpu = cpu_seconds(process.pid)
            async with PeakRss(process.pid) as rss, spy:
                await bounded(all_committed(admin, settings, ends), timeout, "gateway ingest")
                done = time.monotonic()
            cpu = cpu_seconds(process.pid) - cpu
        finally:
            stop_process(process)
        assert process.stdout is not None
        first = float(process.stdout.read().split("FIRST ")[1].split()[0])
    finally:
        await admin.close()
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            stored = await conn.scalar(select(func.count()).select_from(processed_events))
            letter_count = await conn.scalar(select(func.count()).select_from(letters))
    finally:
        await engine.dispose()
    return {
        "seconds": done - first,
        "with_start": done - started,
        "stored": int(stored or 0),
        "letters": int(letter_count or 0),
        "rss": rss.peak,
        "cpu": cpu,
        "profile": spy.summary() if profile else "",
    }


async def all_committed(
    admin: AIOKafkaAdminClient, settings: Settings, ends: dict[TopicPartition, int]
) -> None:
    while True:
        committed = await admin.list_consumer_group_offsets(settings.group("dms"))
        if all(
            committed.get(tp) is not None and committed[tp].offset >= end
            for tp, end in ends.items()
        ):
            return
        await asyncio.sleep(0.05)


async def main_async(args: argparse.Namespace) -> int:
    services = Services(args)
    try:
        services.start()
        require_loopback(services.bootstrap, services.server_url)
        return await run(args, services)
    finally:
        services.close()


async def one_round(args: argparse.Namespace, services: Services, name: str, profile: bool) -> dict:
    """Publish, read with the bare consumer, ingest with the gateway: one row of the table."""
    async with AsyncExitStack() as stack:
        database_url = await fresh_database(stack, services.server_url)
        settings = bench_settings(services.bootstrap, database_url, args.batch)
        engine = create_engine(database_url)
        try:
            await upgrade_to_head(engine)  # schema ready, so the gateway's start is cheap
        finally:
            await engine.dispose()
        await ensure_topics(settings, settings.all_topics)
        stack.push_async_callback(delete_topics, services.bootstrap, settings.all_topics)
        print(f"[{name}] encoding and publishing {args.events} events ...", flush=True)
        total, unique, produce_s = await bounded(
            publish(settings, args.events), args.timeout, "publishing"
        )
        ends = await end_offsets(settings)
        assert sum(ends.values()) == total, (sum(ends.values()), total)
        bare_s = await bare_consumer(settings, total, args.batch, args.timeout)
        print(f"[{name}] bare consumer done; running the gateway ...", flush=True)
        gateway = await gateway_run(settings, ends, args.timeout, profile)
    if gateway["stored"] != unique:
        raise SystemExit(f"ERROR: processed_events has {gateway['stored']} rows, expected {unique}")
    return {
        "round": name,
        "records": total,
        "unique": unique,
        "produce": total / produce_s,
        "bare": total / bare_s,
        "gateway": total / gateway["seconds"],
        "with_start": total / gateway["with_start"],
        **gateway,
    }


async def run(args: argparse.Namespace, services: Services) -> int:
    rounds = [
        await one_round(args, services, f"round {n}", False) for n in range(1, args.repeat + 1)
    ]
    profiled = await one_round(args, services, "profiled", True) if args.profile else None
    store = "SQLite" if services.server_url == "sqlite" else "PostgreSQL"
    print()
    print(
        f"DMS ingestion, {PARTITIONS} partitions, store {store}, "
        f"ingest_batch_max_records={args.batch}"
    )
    rows = [
        (
            r["round"],
            r["records"],
            r["unique"],
            r["letters"],
            f"{r['produce']:,.0f}",
            f"{r['bare']:,.0f}",
            f"{r['gateway']:,.0f}",
            f"{r['with_start']:,.0f}",
            f"{r['seconds']:.1f}",
            f"{r['gateway'] / r['bare']:.3f}",
            f"{r['rss']:.0f}",
            f"{1e6 * r['cpu'] / r['records']:.0f}",
        )
        for r in [*rounds, *([profiled] if profiled else [])]
    ]
    print(
        table(
            (
                "round",
                "records",
                "unique",
                "letters",
                "produce/s",
                "bare ev/s",
                "gateway ev/s",
                "incl. start",
                "gateway s",
                "gw/bare",
                "peak RSS MB",
                "gw CPU µs/ev",
            ),
            rows,
        )
    )
    gateway = statistics.median(r["gateway"] for r in rounds)
    bare = statistics.median(r["bare"] for r in rounds)
    print(f"median of the measured rounds: gateway {gateway:,.0f} ev/s, bare {bare:,.0f} ev/s")
    print("gateway ev/s: records / (first batch at the store -> group offsets committed at end)")
    print(
        "incl. start: the same, from starting the gateway process (migrations already "
        "applied, group join)"
    )
    print("gw CPU µs/ev: the gateway process's CPU time from READY to the end / records")
    if profiled:
        print("profiled: an extra round with py-spy attached to the gateway, not in the median")
        print()
        print(profiled["profile"])
    print()
    print("2 shared cores: figures are noisy; repeat (--repeat) and compare medians.")
    print(f"command: {command_line()}  (responder logs: {LOGS})")
    rss = max(r["rss"] for r in rounds)
    print(f"RESULT ingest events_per_s={gateway:.0f} vs_bare={gateway / bare:.3f} rss_mb={rss:.0f}")
    return 0


def main() -> int:
    if "--serve-gateway" in sys.argv:
        asyncio.run(serve_gateway())
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--batch",
        type=int,
        default=Settings().ingest_batch_max_records,
        help="ingest_batch_max_records (default: the setting's default)",
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give up on a phase after this many seconds"
    )
    parser.add_argument(
        "--no-profile",
        dest="profile",
        action="store_false",
        help="skip the extra round profiled with py-spy",
    )
    add_service_options(parser)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
