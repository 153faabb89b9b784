"""The sealed audit log on the real broker and PostgreSQL: tampering behind the gateway's back
is found at the right block and row, the witness topic catches a rewrite of the blocks, replicas
seal without gaps or overlaps, and a sealer killed mid-block leaves a chain that verifies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app import Gateway, running
from gateway.clock import utc_now
from gateway.domain.audit_chain import row_seal, seal
from gateway.kafka import ensure_topics, kafka_connection
from gateway.services.audit_sealing import AuditSealer
from gateway.services.audit_verification import AuditVerification, verify_audit
from gateway.services.ports import AuditEntry
from gateway.settings import Settings
from gateway.store.audit_ledger import SEALER_KEY
from gateway.store.migrate import upgrade_to_head
from gateway.store.sql import SqlUnitOfWork, create_engine
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness
from gateway.tools.verify_audit import read_witness, verify_audit_command
from producers.audit_witness import AuditWitnessOutbox
from producers.kafka_producer import KafkaProducer
from producers.outbox_relay import OutboxRelay
from producers.topic_tail import TopicTail
from tests.integration.conftest import settings_for
from tests.support.processes import GatewayProcess, environment, free_port
from tests.support.waiting import eventually

POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@dataclass
class Ledger:
    settings: Settings
    engine: AsyncEngine
    sealer: AuditSealer
    witness: OutboxRelay[object]

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)

    async def write(self, requests: int, *, commit: bool = True) -> None:
        """Audit rows as the request path writes them (the journal port)."""
        now = utc_now()
        entries = [
            AuditEntry(
                "AZ/GOV/egov-portal",
                f"m-{now.timestamp()}-{i}",
                None,
                "egov.req",
                "egov.rep",
                "a" * 64,
                None,
                "DGK-2026-000001",
                "ANSWERED",
                "b" * 64,
                "c" * 64,
                now,
                now,
            )
            for i in range(requests)
        ]
        async with self.uow() as uow:
            await uow.journal.write(entries, {}, now)
            if commit:
                await uow.commit()

    async def seal_and_witness(self) -> None:
        await self.sealer.seal_all()
        while await self.witness.relay_pending():
            pass

    async def verify(self) -> AuditVerification:
        return await verify_audit(self.uow, await read_witness(self.settings))

    async def sql(self, statement: str, **params: object) -> None:
        async with self.engine.begin() as connection:  # behind the gateway's back
            await connection.execute(text(statement), params)


@contextlib.asynccontextmanager
async def _ledger(settings: Settings) -> AsyncIterator[Ledger]:
    await ensure_topics(settings, [settings.topic_audit_witness])
    engine = create_engine(settings.database_url)
    await upgrade_to_head(engine)
    producer = KafkaProducer(kafka_connection(settings))
    await producer.start()
    uow = lambda: SqlUnitOfWork(engine)  # noqa: E731
    witness = OutboxRelay(
        producer,
        TopicTail(kafka_connection(settings)),
        AuditWitnessOutbox(settings.topic_audit_witness),
        uow,
        utc_now,
    )
    sealer = AuditSealer(
        uow, utc_now, witness, block_max_rows=settings.audit_block_max_rows,
        interval_s=0.05, max_lag_s=settings.audit_max_seal_lag_s,
        readiness=Readiness(), metrics=Metrics(),
    )  # fmt: skip
    try:
        yield Ledger(settings, engine, sealer, witness)
    finally:
        await producer.stop()
        await engine.dispose()


@pytest.fixture
async def ledger(kafka_bootstrap: str, database_url: str) -> AsyncIterator[Ledger]:
    settings = settings_for(kafka_bootstrap, database_url, audit_block_max_rows=4)
    async with _ledger(settings) as made:
        yield made


async def _three_blocks(ledger: Ledger) -> None:
    """Rows 1-4 in block 1, 5-8 in block 2, 9-10 in block 3, all witnessed."""
    await ledger.write(10)
    await ledger.seal_and_witness()


@POSTGRES
async def test_an_intact_log_verifies_and_nothing_is_left_unsealed(ledger: Ledger, capsys):
    await _three_blocks(ledger)
    assert await verify_audit_command(ledger.settings, None, None) == 0
    printed = capsys.readouterr().out
    assert "checked 3 blocks, 10 rows" in printed and "chain intact" in printed
    assert "no rows waiting to be sealed" in printed


@POSTGRES
async def test_a_row_updated_behind_the_gateways_back_is_named(ledger: Ledger, capsys):
    await _three_blocks(ledger)
    await ledger.sql("UPDATE request_audit SET outcome = 'NOT_FOUND' WHERE id = 6")
    result = await ledger.verify()
    assert (result.mismatch.block, result.mismatch.row_id) == (2, 6)  # type: ignore[union-attr]
    assert "changed" in result.mismatch.problem  # type: ignore[union-attr]
    assert await verify_audit_command(ledger.settings, None, None) == 1
    assert "MISMATCH at block 2, row 6" in capsys.readouterr().out


@POSTGRES
async def test_a_row_deleted_behind_the_gateways_back_is_named(ledger: Ledger):
    await _three_blocks(ledger)
    await ledger.sql("DELETE FROM request_audit WHERE id = 9")
    result = await ledger.verify()
    assert (result.mismatch.block, result.mismatch.row_id) == (3, 9)  # type: ignore[union-attr]
    assert "deleted" in result.mismatch.problem  # type: ignore[union-attr]


@POSTGRES
async def test_a_row_inserted_into_a_sealed_range_is_named(ledger: Ledger):
    await ledger.write(2)
    await ledger.write(1, commit=False)  # rolled back: its id (3) stays a gap in the sequence
    await ledger.write(5)
    await ledger.seal_and_witness()  # block 1: rows 1, 2, 4, 5; block 2: rows 6-8
    assert (await ledger.verify()).intact
    await ledger.sql(
        "INSERT INTO request_audit (id, client_id, message_id, request_topic, outcome, "
        "request_hash, received_at, replied_at) SELECT 3, client_id, 'forged', request_topic, "
        "'ANSWERED', request_hash, received_at, replied_at FROM request_audit WHERE id = 2"
    )
    result = await ledger.verify()
    assert (result.mismatch.block, result.mismatch.row_id) == (1, 3)  # type: ignore[union-attr]
    assert "inserted" in result.mismatch.problem  # type: ignore[union-attr]


@POSTGRES
async def test_a_rewrite_of_rows_and_blocks_is_caught_by_the_witness_topic(ledger: Ledger):
    await _three_blocks(ledger)
    # The administrator changes row 6 and recomputes every seal and block from block 2 on,
    # knowing the algorithm: the database alone is consistent again.
    await ledger.sql("UPDATE request_audit SET outcome = 'NOT_FOUND' WHERE id = 6")
    async with ledger.uow() as uow:
        previous = await uow.audit.block(1)
        forged = []
        for number in (2, 3):
            stored = await uow.audit.block(number)
            assert stored is not None
            rows = await uow.audit.rows(stored.after_row_id, stored.last_row_id, None)
            previous = seal(previous, [row_seal(r) for r in rows], stored.sealed_at)
            forged.append((previous, [row_seal(r) for r in rows]))
    await ledger.sql("DELETE FROM audit_seals WHERE block_number >= 2")
    await ledger.sql("DELETE FROM audit_blocks WHERE number >= 2")
    async with ledger.uow() as uow:
        for head, seals in forged:
            await uow.audit.add_block(head, seals)
        await uow.audit.mark_witnessed([2, 3], utc_now())
        await uow.commit()
    assert (await verify_audit(ledger.uow, {})).intact  # without the witness: fooled
    result = await ledger.verify()
    assert (result.mismatch.block, result.mismatch.row_id) == (2, None)  # type: ignore[union-attr]
    assert "witness" in result.mismatch.problem  # type: ignore[union-attr]


@POSTGRES
async def test_a_cut_off_tail_of_blocks_is_caught_by_the_witness_topic(ledger: Ledger):
    await _three_blocks(ledger)
    await ledger.sql("DELETE FROM request_audit WHERE id > 8")
    await ledger.sql("DELETE FROM audit_seals WHERE block_number = 3")
    await ledger.sql("DELETE FROM audit_blocks WHERE number = 3")
    result = await ledger.verify()
    assert (result.mismatch.block, result.mismatch.row_id) == (3, None)  # type: ignore[union-attr]


@POSTGRES
async def test_a_date_range_is_anchored_on_the_block_before_it(ledger: Ledger):
    await _three_blocks(ledger)
    await ledger.sql(
        "UPDATE audit_blocks SET sealed_at = sealed_at - interval '2 days' WHERE number = 1"
    )
    today = utc_now().date()
    result = await verify_audit(ledger.uow, await read_witness(ledger.settings), today, today)
    assert result.blocks_checked == 0 and result.mismatch is not None  # block 1 was edited
    assert result.mismatch.block == 1 and "recomputation" in result.mismatch.problem


@POSTGRES
async def test_the_sealer_waits_for_an_audit_write_in_flight_before_choosing_its_rows(
    ledger: Ledger,
):
    await ledger.write(1)
    async with ledger.uow() as writing:  # a request's audit row, inserted, not yet committed
        now = utc_now()
        entry = AuditEntry(
            "c", "in-flight", None, "t", None, None, None, None, "X", "h", None, now, now
        )
        await writing.journal.write([entry], {}, now)
        sealing = asyncio.create_task(ledger.sealer.seal_once())
        await asyncio.sleep(0.5)
        assert not sealing.done()  # a row committing later below a sealed one is impossible
        await writing.commit()
    head = await sealing
    assert head is not None and (head.after_row_id, head.last_row_id) == (0, 2)


@POSTGRES
async def test_two_replicas_seal_while_requests_are_audited_without_gaps_or_overlaps(
    ledger: Ledger,
):
    other_engine = create_engine(ledger.settings.database_url)  # a second replica's pool
    other = AuditSealer(
        lambda: SqlUnitOfWork(other_engine), utc_now, ledger.witness, block_max_rows=4,
        interval_s=0.01, max_lag_s=60, readiness=Readiness(), metrics=Metrics(),
    )  # fmt: skip
    sealed_by = {"first": 0, "second": 0}

    async def replica(name: str, sealer: AuditSealer, writing: asyncio.Task[None]) -> None:
        while not writing.done():
            sealed_by[name] += await sealer.seal_all()
            await asyncio.sleep(0)

    async def writer() -> None:
        for _ in range(60):
            await asyncio.gather(*(ledger.write(2) for _ in range(3)))

    try:
        writing = asyncio.create_task(writer())
        await asyncio.gather(
            writing, replica("first", ledger.sealer, writing), replica("second", other, writing)
        )
        await ledger.seal_and_witness()
    finally:
        await other_engine.dispose()
    result = await ledger.verify()
    assert result.intact, result.mismatch
    assert result.rows_checked == 360 and result.unsealed.count == 0
    assert sum(sealed_by.values()) > 10  # sealed while rows were being written


@POSTGRES
async def test_a_sealer_killed_mid_block_leaves_a_chain_that_verifies(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
):
    settings = settings_for(kafka_bootstrap, database_url, audit_block_max_rows=200_000)
    async with _ledger(settings) as ledger:
        await ledger.write(3)
        await ledger.seal_and_witness()  # block 1
        await ledger.sql(  # a backlog large enough to be caught mid-block
            "INSERT INTO request_audit (client_id, message_id, request_topic, outcome, "
            "request_hash, received_at, replied_at) SELECT 'AZ/GOV/egov-portal', 'bulk-' || n, "
            "'egov.req', 'ANSWERED', md5(n::text), now(), now() FROM generate_series(1, 20000) n"
        )
        env = environment(settings, http_port=free_port(), audit_seal_interval_s=0.05)
        gateway = GatewayProcess(env, tmp_path / "gateway.log").start()
        try:
            await eventually(lambda: _sealer_lock_held(ledger), bool, timeout=60, interval=0.02)
            assert gateway.proc is not None
            os.kill(gateway.proc.pid, signal.SIGKILL)
            gateway.proc.wait(10)
        finally:
            if gateway.proc and gateway.proc.poll() is None:
                gateway.proc.kill()
        async with ledger.uow() as uow:
            last = await uow.audit.last_block()
        assert last is not None and last.number == 1  # the killed block left nothing behind
        assert (await ledger.verify()).intact
        await ledger.seal_and_witness()  # another sealer takes over
        result = await ledger.verify()
        assert result.intact and result.unsealed.count == 0 and result.rows_checked == 20_003


async def _sealer_lock_held(ledger: Ledger) -> bool:
    async with ledger.engine.connect() as connection:
        held = await connection.scalar(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key"),
            {"key": SEALER_KEY},
        )
    return bool(held)


async def test_a_running_gateway_seals_its_audit_rows_and_reports_the_lag(
    kafka_bootstrap: str, database_url: str
):

    settings = settings_for(kafka_bootstrap, database_url, audit_seal_interval_s=0.1)
    async with running(settings) as gateway:
        ledger = Ledger(settings, gateway.engine, gateway.audit_sealer, gateway.audit_witness)
        await ledger.write(5)
        await eventually(lambda: _unwitnessed(gateway.engine), lambda n: n == 0)
        # The metrics follow at the end of the sealer's round.
        await eventually(
            lambda: _metric(gateway, "gateway_audit_unsealed_rows"), lambda value: value == 0
        )
        assert gateway.metrics.value("gateway_audit_seal_lag_seconds") == 0
        result = await ledger.verify()
        assert result.intact and result.rows_checked == 5 and result.unwitnessed_blocks == 0


async def _metric(gateway: Gateway, name: str) -> float | None:
    return gateway.metrics.value(name)


async def _unwitnessed(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            await connection.scalar(
                text(
                    "SELECT (SELECT count(*) FROM request_audit WHERE id NOT IN "
                    "(SELECT row_id FROM audit_seals)) + "
                    "(SELECT count(*) FROM audit_blocks WHERE witnessed_at IS NULL)"
                )
            )
            or 0
        )


@POSTGRES
async def test_readiness_fails_while_the_oldest_unsealed_row_waits_too_long(ledger: Ledger):
    await ledger.write(1)
    await ledger.sql("UPDATE request_audit SET received_at = received_at - interval '1 hour'")
    readiness = Readiness()
    metrics = Metrics()
    watcher = AuditSealer(
        ledger.uow, utc_now, ledger.witness, block_max_rows=4, interval_s=1,
        max_lag_s=600, readiness=readiness, metrics=metrics,
    )  # fmt: skip
    lag = await watcher.observe_lag()
    assert lag > timedelta(hours=1).total_seconds() - 60
    assert "audit-seal" in readiness.problems and metrics.value("gateway_audit_unsealed_rows") == 1
    await watcher.seal_all()
    assert await watcher.observe_lag() == 0 and readiness.ready
