"""Background work on an interval: a failed round is logged and the next one runs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.services.background import every


async def test_a_failed_round_is_logged_and_the_next_round_runs(caplog):
    rounds: list[int] = []
    done = asyncio.Event()

    async def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise ConnectionError("store away")
        if len(rounds) == 3:
            done.set()

    log = logging.getLogger("test.background")
    with caplog.at_level(logging.WARNING, logger="test.background"):
        loop = asyncio.create_task(every(0.001, work, log, "work failed; will retry"))
        await asyncio.wait_for(done.wait(), timeout=5)
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    assert rounds == [0, 1, 2]
    assert [r.getMessage() for r in caplog.records] == ["work failed; will retry"]
    assert caplog.records[0].exc_info is not None
