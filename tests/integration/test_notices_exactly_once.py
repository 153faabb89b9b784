"""Acceptance notices are on their topic exactly once, however often the gateway dies between
publishing a batch and marking it (issue 17): the crash is injected at exactly that point."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.domain.letters import AcceptanceNotice, LetterRegistered
from gateway.kafka import ensure_topics
from gateway.store.tables import notice_outbox
from gateway.tools.simulator import generate_events
from gateway.xmlcodec.dms import DmsXmlCodec
from tests.integration.conftest import settings_for
from tests.support.kafka_io import DmsPublisher, read_topic
from tests.support.processes import GatewayProcess, environment, free_port
from tests.support.store_snapshot import count

LETTERS = 300  # 127 of them get acceptance notices, relayed in batches of up to 25
MAX_RUNS = 10


async def _unpublished(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).where(notice_outbox.c.published_at.is_(None))
        return int(await connection.scalar(query) or 0)


async def _run_until_killed_or_idle(
    process: GatewayProcess, engine: AsyncEngine, events: int
) -> bool:
    """True if the process killed itself; False once all is ingested and nothing left to relay."""
    while process.proc is not None and process.proc.poll() is None:
        with contextlib.suppress(DBAPIError):  # no tables before the first migration
            if await count(engine) == events and await _unpublished(engine) == 0:
                return False
        await asyncio.sleep(0.2)
    assert process.proc is not None and process.proc.returncode == -signal.SIGKILL, process.log()
    return True


# PostgreSQL, where replicas share the relay (its claim); SQLite takes the same path, one replica.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_notice_is_on_the_topic_once_after_repeated_sigkills_between_publish_and_mark(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
):
    settings = settings_for(
        kafka_bootstrap,
        database_url,
        ingest_batch_max_records=100,
        relay_batch_max_messages=25,
        kafka_group_instance_id="replica-0",  # a restart takes its partitions back at once
    )
    await ensure_topics(settings, settings.all_topics)
    dms = DmsPublisher(settings, DmsXmlCodec())
    await dms.start()
    try:
        events = list(generate_events(LETTERS, seed=17, disorder=0.2))
        await dms.publish(events)
    finally:
        await dms.stop()

    engine = create_async_engine(settings.database_url)
    kills, logs = 0, []
    try:
        for run in range(MAX_RUNS):
            # Each run dies right after its second relay publish, before marking it: at least
            # six publishes (127 / 25) make at least three such deaths.
            env = environment(settings, http_port=free_port(), test_kill_after_relay_publishes=2)
            process = GatewayProcess(env, tmp_path / f"run{run}.log").start()
            try:
                killed = await _run_until_killed_or_idle(
                    process, engine, len({e.event_id for e in events})
                )
            finally:
                process.kill()
                logs.append(process.log_path.read_text(errors="replace"))
            if not killed:
                break
            kills += 1
        async with engine.connect() as connection:
            queued = {str(i) for i in await connection.scalars(select(notice_outbox.c.notice_id))}
        assert await _unpublished(engine) == 0
    finally:
        await engine.dispose()

    on_topic = Counter(
        dict(r.headers)["notice_id"].decode()
        for r in await read_topic(settings, settings.topic_acceptance_notices)
    )
    print(f"\n{kills} SIGKILLs between publish and mark; {len(queued)} notices")
    expected = {
        str(e.event_id)
        for e in events
        if isinstance(e, LetterRegistered) and AcceptanceNotice.for_registration(e)
    }
    assert kills >= 3 and queued == expected
    assert "already on the topic; marked, not re-sent" in "".join(logs)  # the read-back found some
    # The topic also carries the portal's status-change notices (ids NUMBER/SEQUENCE), relayed
    # by the same mechanism and killed by the same injection: each of those is there once too.
    assert {i for i in on_topic if "/" not in i} == queued
    assert {i: n for i, n in on_topic.items() if n > 1} == {}
