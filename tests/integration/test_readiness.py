"""Readiness follows the broker: false with the reason while it is away, true again after,
without a restart of the gateway (a broker of this test's own, so others are not disturbed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app import running
from gateway.ops.probes import BROKER
from tests.integration.conftest import settings_for
from tests.support.services import LocalKafka, started
from tests.support.waiting import eventually


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafka]:
    with started(LocalKafka(tmp_path / "kafka")) as broker:
        yield broker


def problems(gateway):  # type: ignore[no-untyped-def]
    return asyncio.sleep(0, dict(gateway.readiness.problems))


async def test_readiness_turns_false_while_the_broker_is_away_and_back_after(
    own_broker: LocalKafka, tmp_path: Path
):
    settings = settings_for(own_broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
    async with running(settings) as gateway:
        await eventually(lambda: problems(gateway), lambda p: p == {}, timeout=30)
        await asyncio.to_thread(own_broker.stop)
        try:
            away = await eventually(lambda: problems(gateway), lambda p: BROKER in p, timeout=30)
            assert "unreachable" in away[BROKER]
        finally:
            await asyncio.to_thread(own_broker.start)
        await eventually(lambda: problems(gateway), lambda p: BROKER not in p, timeout=60)
