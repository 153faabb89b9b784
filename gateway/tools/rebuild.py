"""`python -m gateway rebuild`: replay the DMS topics from the beginning into an empty store.

Reads every partition up to the end offsets seen at the start, without joining the consumer
group (the live gateway's offsets are untouched). Poison records are skipped and counted:
they were dead-lettered when first consumed. No acceptance notices are queued: they went out
the first time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import func, select

from gateway.clock import today_in, utc_now
from gateway.domain.letters import DmsEvent
from gateway.domain.refusals import DecodeError
from gateway.kafka import kafka_connection
from gateway.ops.deadline_watch import store_settings_calendar
from gateway.services.ingestion import ingest_events
from gateway.settings import Settings
from gateway.store.migrate import upgrade_to_head
from gateway.store.sql import SqlUnitOfWork, create_engine
from gateway.store.tables import letters, processed_events
from gateway.xmlcodec.loading import load_codecs


@dataclass(frozen=True)
class RebuildResult:
    records: int
    applied: int
    skipped_poison: int


class StoreNotEmpty(RuntimeError):
    pass


async def rebuild_store(settings: Settings, database_url: str) -> RebuildResult:
    codec = load_codecs(settings).dms
    engine = create_engine(database_url)
    try:
        await upgrade_to_head(engine)
        # as a start does, so that each batch stores its letters' legal deadline figures
        await store_settings_calendar(settings, engine, today_in(settings.deadline_timezone))
        async with engine.connect() as connection:
            for table in (letters, processed_events):
                if await connection.scalar(select(func.count()).select_from(table)):
                    raise StoreNotEmpty(f"{table.name} is not empty; rebuild needs an empty store")
        hasher = settings.identifier_hasher()
        records = applied = poison = 0
        async for batch in _replay(settings):
            events: list[DmsEvent] = []
            for value in batch:
                try:
                    events.append(codec.decode(value))
                except DecodeError:
                    poison += 1
            records += len(batch)
            result = await ingest_events(
                events, SqlUnitOfWork(engine), hasher, utc_now, queue_notices=False
            )
            applied += result.applied
        return RebuildResult(records, applied, poison)
    finally:
        await engine.dispose()


async def _replay(settings: Settings, batch_size: int = 2000) -> AsyncIterator[list[bytes]]:
    consumer = AIOKafkaConsumer(**kafka_connection(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        partitions = [
            TopicPartition(topic, p)
            for topic in settings.dms_topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {p for p in partitions if ends[p] > 0}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=batch_size)
            values = []
            for partition, part_records in fetched.items():
                values += [r.value or b"" for r in part_records if r.offset < ends[partition]]
                if await consumer.position(partition) >= ends[partition]:
                    remaining.discard(partition)
            if values:
                yield values
    finally:
        await consumer.stop()


async def rebuild(settings: Settings, database_url: str | None = None) -> int:
    target = database_url or settings.database_url
    try:
        result = await rebuild_store(settings, target)
    except StoreNotEmpty as error:
        print(f"refused: {error}")
        return 2
    print(
        f"replayed {result.records} records: {result.applied} events applied, "
        f"{result.skipped_poison} poison records skipped"
    )
    return 0
