"""A database outage mid-stream stops progress and loses nothing (PostgreSQL: the production
store; the outage is real: the database refuses every connection and existing ones are cut)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from gateway.app import Gateway
from gateway.tools.simulator import generate_events
from tests.support.kafka_io import DmsPublisher
from tests.support.store_snapshot import count
from tests.support.waiting import eventually


async def _set_database_open(database_url: str, open_: bool) -> None:
    url = make_url(database_url)
    admin = await asyncpg.connect(
        url.set(drivername="postgresql", database="postgres").render_as_string(False)
    )
    try:
        name = url.database
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(open_).lower()}')
        if not open_:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
    finally:
        await admin.close()


async def test_a_database_outage_mid_stream_loses_no_event(
    gateway: Gateway, dms: DmsPublisher, database_url: str
):
    if not database_url.startswith("postgresql"):
        pytest.skip("the outage is staged on PostgreSQL, the production store")
    events = list(generate_events(80, seed=21, disorder=0.2))
    unique = len({e.event_id for e in events})
    half = len(events) // 2
    await dms.publish(events[:half])
    await eventually(lambda: count(gateway.engine), lambda n: n > 0)

    await _set_database_open(database_url, False)
    try:
        await dms.publish(events[half:])
        await eventually(
            lambda: asyncio.sleep(0, gateway.readiness.problems),
            lambda problems: "database" in problems,
            timeout=20,
        )
        assert not gateway.readiness.ready
    finally:
        await _set_database_open(database_url, True)

    await eventually(lambda: count(gateway.engine), lambda n: n == unique, timeout=60)
    # Readiness also depends on the periodic database probe, which may not have run yet.
    await eventually(
        lambda: asyncio.sleep(0, gateway.readiness.ready), lambda ready: ready, timeout=15
    )
