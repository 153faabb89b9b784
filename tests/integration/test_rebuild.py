"""`rebuild` replays the DMS topics into an empty store and gets exactly the live state."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.settings import Settings
from gateway.store.sql import create_engine
from gateway.tools.rebuild import StoreNotEmpty, rebuild_store
from gateway.tools.simulator import generate_events
from tests.support.kafka_io import DmsPublisher
from tests.support.store_snapshot import count, snapshot
from tests.support.waiting import eventually


async def test_rebuild_gives_the_same_state_and_sends_no_notices(
    gateway: Gateway, dms: DmsPublisher, settings: Settings, tmp_path: Path
):
    events = list(generate_events(120, seed=31, disorder=0.3))
    await dms.publish(events)
    await dms.publish_raw(settings.topic_dms_status, b"<not-xml", key="poison")
    unique = len({e.event_id for e in events})
    await eventually(lambda: count(gateway.engine), lambda n: n == unique)
    live = await snapshot(gateway.engine)

    target = f"sqlite+aiosqlite:///{tmp_path / 'rebuilt.db'}"
    result = await rebuild_store(settings, target)
    assert result.applied == unique and result.skipped_poison == 1
    rebuilt_engine = create_engine(target)
    try:
        assert await snapshot(rebuilt_engine) == live
        from gateway.store.tables import notice_outbox

        assert await count(rebuilt_engine, notice_outbox) == 0
    finally:
        await rebuilt_engine.dispose()

    with pytest.raises(StoreNotEmpty):
        await rebuild_store(settings, target)
