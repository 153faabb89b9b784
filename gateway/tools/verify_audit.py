"""`python -m gateway verify-audit`: the auditor's check of the sealed audit log against the
database's blocks and the witness topic. Exit 0: intact; 1: a mismatch (printed: the first
block and row); unsealed rows are reported with their age but are no failure."""

from __future__ import annotations

import json
import logging
from datetime import date

from aiokafka import AIOKafkaConsumer, TopicPartition

from gateway.clock import utc_now
from gateway.kafka import kafka_connection
from gateway.services.audit_verification import AuditVerification, verify_audit
from gateway.settings import Settings
from gateway.store.sql import SqlUnitOfWork, create_engine

log = logging.getLogger(__name__)


async def read_witness(settings: Settings) -> dict[int, str]:
    """Block number -> block hash, as first recorded on the witness topic (a later record for
    the same number cannot overwrite it: the topic is append-only)."""
    consumer = AIOKafkaConsumer(**kafka_connection(settings), enable_auto_commit=False)
    await consumer.start()
    heads: dict[int, str] = {}
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        topic = settings.topic_audit_witness
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return heads
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {p for p in partitions if ends[p] > 0}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000)
            for partition, records in fetched.items():
                for record in records:
                    if record.offset < ends[partition]:
                        _take(heads, record.value)
                if await consumer.position(partition) >= ends[partition]:
                    remaining.discard(partition)
    finally:
        await consumer.stop()
    return heads


def _take(heads: dict[int, str], value: bytes | None) -> None:
    try:
        record = json.loads(value or b"")
        number, block_hash = int(record["number"]), str(record["block_hash"])
    except (ValueError, KeyError, TypeError):
        log.warning("witness topic holds a record that is not a block head; ignored")
        return
    heads.setdefault(number, block_hash)


async def verify_audit_command(
    settings: Settings, first_day: date | None, last_day: date | None
) -> int:
    witness = await read_witness(settings)
    engine = create_engine(settings.database_url)
    try:
        result = await verify_audit(lambda: SqlUnitOfWork(engine), witness, first_day, last_day)
    finally:
        await engine.dispose()
    print(describe(result))
    return 0 if result.intact else 1


def describe(result: AuditVerification) -> str:
    lines = [
        f"checked {result.blocks_checked} blocks, {result.rows_checked} rows",
        f"MISMATCH at {result.mismatch}" if result.mismatch else "chain intact",
    ]
    if result.unwitnessed_blocks:
        lines.append(f"{result.unwitnessed_blocks} blocks not yet on the witness topic")
    unsealed = result.unsealed
    if unsealed.count and unsealed.oldest_received_at is not None:
        age = (utc_now() - unsealed.oldest_received_at).total_seconds()
        lines.append(f"{unsealed.count} rows not yet sealed, the oldest {age:.0f} s old")
    else:
        lines.append("no rows waiting to be sealed")
    return "\n".join(lines)
