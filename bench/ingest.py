"""Benchmark (not a test): DMS ingestion speed, Kafka -> gateway -> PostgreSQL, end to end.

Publishes N synthetic DMS events (pre-encoded) to fresh 6-partition topics, then measures
  1. a bare aiokafka consumer (fresh group, reads everything from the beginning, does nothing
     else, commits at the end): the ceiling the broker and client allow on this machine;
  2. the real gateway (gateway.app.Gateway) ingesting the same records into a fresh database:
     from the first batch handed to the store to the moment the group's committed offsets
     equal the end offsets, checked afterwards against processed_events.

    .venv/bin/python bench/ingest.py [--events 200000] [--bootstrap H:P] [--database-url URL]

Without --bootstrap/--database-url it starts its own broker and PostgreSQL and stops them.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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
    Services,
    add_service_options,
    command_line,
    delete_topics,
    fresh_database,
    table,
)
from gateway.app import Gateway  # noqa: E402
from gateway.domain.letters import LetterRegistered  # noqa: E402
from gateway.kafka import ensure_topics, kafka_connection  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.store.migrate import upgrade_to_head  # noqa: E402
from gateway.store.sql import create_engine  # noqa: E402
from gateway.store.tables import letters, processed_events  # noqa: E402
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
                self.first_batch_at = time.perf_counter()
            return await store(events)

        self.ingestion.store = timed_store  # type: ignore[method-assign]


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
    settings: Settings, ends: dict[TopicPartition, int], unique: int, timeout: float
) -> tuple[float, float, int, int]:
    """(seconds first batch -> last commit, seconds start -> last commit, stored ids, letters)."""
    admin = AIOKafkaAdminClient(**kafka_connection(settings))
    await admin.start()
    gateway = TimedGateway(settings)
    try:
        started = time.perf_counter()
        await gateway.start()
        try:
            deadline = started + timeout
            while True:
                committed = await admin.list_consumer_group_offsets(settings.group("dms"))
                if all(
                    committed.get(tp) is not None and committed[tp].offset >= end
                    for tp, end in ends.items()
                ):
                    done = time.perf_counter()
                    break
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"gateway did not finish within {timeout:.0f} s")
                await asyncio.sleep(0.05)
        finally:
            await gateway.stop()
        async with gateway.engine.connect() as conn:  # re-opens a connection after dispose
            stored = await conn.scalar(select(func.count()).select_from(processed_events))
            letter_count = await conn.scalar(select(func.count()).select_from(letters))
        await gateway.engine.dispose()
    finally:
        await admin.close()
    assert gateway.first_batch_at is not None
    return done - gateway.first_batch_at, done - started, int(stored or 0), int(letter_count or 0)


async def main_async(args: argparse.Namespace) -> int:
    services = Services(args)
    try:
        services.start()
        return await run(args, services)
    finally:
        services.close()


async def run(args: argparse.Namespace, services: Services) -> int:
    rows, gateway_rates, bare_rates = [], [], []
    for round_ in range(1, args.repeat + 1):
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
            print(f"[round {round_}] encoding and publishing {args.events} events ...", flush=True)
            total, unique, produce_s = await publish(settings, args.events)
            ends = await end_offsets(settings)
            assert sum(ends.values()) == total, (sum(ends.values()), total)
            bare_s = await bare_consumer(settings, total, args.batch, args.timeout)
            print(f"[round {round_}] bare consumer done; running the gateway ...", flush=True)
            gw_s, gw_total_s, stored, letter_count = await gateway_run(
                settings, ends, unique, args.timeout
            )
            if stored != unique:
                print(f"ERROR: processed_events has {stored} rows, expected {unique}")
                return 1
            gateway_rates.append(total / gw_s)
            bare_rates.append(total / bare_s)
            rows.append(
                (
                    round_,
                    total,
                    unique,
                    letter_count,
                    f"{total / produce_s:,.0f}",
                    f"{total / bare_s:,.0f}",
                    f"{total / gw_s:,.0f}",
                    f"{total / gw_total_s:,.0f}",
                    f"{gw_s:.1f}",
                    f"{(total / gw_s) / (total / bare_s):.2f}",
                )
            )
    store = "SQLite" if services.server_url == "sqlite" else "PostgreSQL"
    print()
    print(f"DMS ingestion, {PARTITIONS} partitions, store {store}, "
          f"ingest_batch_max_records={args.batch}")
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
            ),
            rows,
        )
    )
    if args.repeat > 1:
        print(
            f"median: gateway {statistics.median(gateway_rates):,.0f} ev/s, "
            f"bare {statistics.median(bare_rates):,.0f} ev/s"
        )
    print("gateway ev/s: records / (first batch at the store -> group offsets committed at end)")
    print("incl. start: the same, from Gateway.start() (migrations already applied, group join)")
    print("2 shared cores: figures are noisy; repeat (--repeat) and compare medians.")
    print(f"command: {command_line()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=Settings().ingest_batch_max_records,
                        help="ingest_batch_max_records (default: the setting's default)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="give up on a phase after this many seconds")
    add_service_options(parser)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
