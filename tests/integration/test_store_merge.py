"""Letters are merged into the store, never overwritten: two transactions writing the same
letter at once (replicas around a rebalance) both land, and the result is the full fold."""

from __future__ import annotations

import asyncio
import random

import pytest

from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import Letter
from gateway.store.migrate import upgrade_to_head
from gateway.store.sql import SqlUnitOfWork, create_engine
from gateway.tools.simulator import letter_events

hasher = IdentifierHasher(b"merge-test")


def fold(events) -> Letter:  # type: ignore[no-untyped-def]
    letter = Letter(events[0].registration_number)
    for event in events:
        letter = letter.apply(event, hasher)
    return letter


@pytest.fixture
async def engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


async def stored(engine, number: str) -> Letter:  # type: ignore[no-untyped-def]
    async with SqlUnitOfWork(engine) as uow:
        return (await uow.letters.get_many([number]))[number]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_merging_parts_in_any_order_stores_the_fold_of_all_events(engine, seed: int):
    events = letter_events(seed, random.Random(seed))
    shuffled = random.Random(seed).sample(events, len(events))
    for part in (shuffled[: len(events) // 2], shuffled[len(events) // 2 :]):
        async with SqlUnitOfWork(engine) as uow:
            await uow.letters.merge([fold(part)])
            await uow.commit()
    assert await stored(engine, events[0].registration_number) == fold(events)


async def test_two_transactions_merging_one_letter_at_once_lose_nothing(engine, database_url: str):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has a single writer: there is no concurrent merge to lose")
    events = letter_events(9, random.Random(9))
    registration, later = events[:1], events[1:]
    first, second = SqlUnitOfWork(engine), SqlUnitOfWork(engine)
    async with first:
        await first.letters.merge([fold(later)])  # holds the new row, uncommitted
        async with second:
            # Waits for the first transaction's row; then merges into what it committed.
            waiting = asyncio.create_task(second.letters.merge([fold(registration)]))
            await asyncio.sleep(0.3)
            assert not waiting.done()
            await first.commit()
            await waiting
            await second.commit()
    assert await stored(engine, events[0].registration_number) == fold(events)
