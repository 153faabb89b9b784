"""The ingest use case on an in-memory store: idempotent, order-safe, notices once per letter."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import Channel, Letter, LetterFold, LetterRegistered
from gateway.services.ingestion import ingest_events
from gateway.tools.simulator import generate_events, letter_events
from tests.support.fakes import FakeStore, FakeUnitOfWork

hasher = IdentifierHasher(b"unit-test-key")


def now() -> datetime:
    return datetime(2026, 11, 23, tzinfo=UTC)


def reference_fold(events) -> dict[str, LetterFold]:
    folds: dict[str, LetterFold] = {}
    for event in events:
        number = event.registration_number
        folds.setdefault(number, LetterFold(Letter(number))).apply(event, hasher)
    return folds


async def test_a_batch_is_stored_in_one_commit_and_equals_the_reference_fold():
    store = FakeStore()
    events = list(generate_events(30, seed=3, disorder=0.5))
    await ingest_events(events, FakeUnitOfWork(store), hasher, now)
    expected = reference_fold(events)
    assert store.commits == 1
    assert store.letters == {n: f.letter for n, f in expected.items()}
    assert store.history == {n: f.history for n, f in expected.items()}


async def test_a_redelivered_batch_changes_nothing():
    store = FakeStore()
    events = list(generate_events(10, seed=4, disorder=0.0))
    first = await ingest_events(events, FakeUnitOfWork(store), hasher, now)
    letters_before = dict(store.letters)
    again = await ingest_events(events, FakeUnitOfWork(store), hasher, now)
    assert first.applied == len(events) and again.applied == 0
    assert again.duplicates == len(events)
    assert store.letters == letters_before


async def test_events_split_over_many_batches_in_any_order_give_the_same_state():
    events = list(generate_events(40, seed=5, disorder=0.3))
    shuffled = events[:]
    random.Random(9).shuffle(shuffled)
    one, many = FakeStore(), FakeStore()
    await ingest_events(events, FakeUnitOfWork(one), hasher, now)
    for start in range(0, len(shuffled), 7):
        await ingest_events(shuffled[start : start + 7], FakeUnitOfWork(many), hasher, now)
    assert many.letters == one.letters and many.history == one.history


async def test_a_failed_commit_leaves_no_trace_and_the_retry_applies_everything():
    store = FakeStore()
    events = list(generate_events(5, seed=6))
    store.fail_next_commits = 1
    with pytest.raises(ConnectionError):
        await ingest_events(events, FakeUnitOfWork(store), hasher, now)
    assert store.letters == {} and store.processed == set()
    result = await ingest_events(events, FakeUnitOfWork(store), hasher, now)
    assert result.applied == len(events)


async def test_online_registrations_queue_exactly_one_acceptance_notice():
    events = [e for e in letter_events(1, random.Random(1)) if isinstance(e, LetterRegistered)]
    online = [
        e
        for i in range(1, 60)
        for e in letter_events(i, random.Random(i))
        if isinstance(e, LetterRegistered) and e.channel is Channel.EGOV_PORTAL
    ]
    assert online, "the simulator should produce portal registrations"
    store = FakeStore()
    await ingest_events(online, FakeUnitOfWork(store), hasher, now)
    await ingest_events(online, FakeUnitOfWork(store), hasher, now)
    assert sorted(store.notices) == sorted(e.registration_number for e in online)
    paper = [e for e in events if e.channel not in (Channel.EGOV_PORTAL, Channel.WEBSITE)]
    assert all(e.registration_number not in store.notices for e in paper)


async def test_replaying_history_queues_no_notices():
    online = [
        e
        for i in range(1, 60)
        for e in letter_events(i, random.Random(i))
        if isinstance(e, LetterRegistered) and e.channel is Channel.WEBSITE
    ]
    store = FakeStore()
    await ingest_events(online, FakeUnitOfWork(store), hasher, now, queue_notices=False)
    assert store.notices == {} and len(store.letters) == len(online)
