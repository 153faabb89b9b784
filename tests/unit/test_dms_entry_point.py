"""The DMS entry point: a batch stored per partition number (PostgreSQL) or whole (SQLite),
poison records dead-lettered, and the results added up."""

from __future__ import annotations

import random
from collections.abc import Sequence

from aiokafka.structs import ConsumerRecord

from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import DmsEvent
from gateway.services.ingestion import Backoff, DmsIngestion, IngestResult, Relays
from gateway.telemetry.readiness import Readiness
from gateway.tools.simulator import letter_events
from gateway.xmlcodec.dms import DmsXmlCodec

codec = DmsXmlCodec()


def record(topic: str, partition: int, offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, 0, 0, None, value, None, 0, len(value), [])


class DeadLetters:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def publish(self, record, reason, detail, path=None):  # type: ignore[no-untyped-def]
        self.reasons.append(str(reason))


class Relay:
    def wake(self) -> None:
        pass


class RecordingIngestion(DmsIngestion):
    """The real use case, its store step recorded instead of written (one call = one
    transaction)."""

    def __init__(self, dead: DeadLetters, *, by_partition: bool) -> None:
        super().__init__(
            codec,
            dead,
            lambda: None,  # type: ignore[arg-type, return-value]
            IdentifierHasher(b"unit"),
            lambda: None,  # type: ignore[arg-type, return-value]
            readiness=Readiness(),
            backoff=Backoff(0.01, 0.01),
            relays=Relays(Relay(), Relay(), Relay()),
            notify_partners=frozenset(),
            notify_status_changes=None,
            by_partition=by_partition,
        )
        self.calls: list[list[DmsEvent]] = []

    async def store(self, events: Sequence[DmsEvent]) -> IngestResult:
        self.calls.append(list(events))
        return IngestResult(applied=len(events), duplicates=0, notices_queued=0)


def batch() -> list[ConsumerRecord]:
    """Two letters' events, as the DMS keys them: each letter on its own partition number,
    its registration and status events on both topics."""
    records = []
    for partition, index in ((0, 1), (3, 2)):
        for offset, event in enumerate(letter_events(index, random.Random(index))):
            topic = "registrations" if offset == 0 else "status"
            records.append(record(topic, partition, offset, codec.encode(event)))
    records.append(record("status", 3, 99, b"<not-xml"))
    return records


async def test_on_postgresql_each_partition_number_is_stored_on_its_own_with_its_letters():
    dead = DeadLetters()
    stored = ingestion = RecordingIngestion(dead, by_partition=True)
    result = await ingestion.process(batch())
    letters_per_call = [{e.registration_number for e in call} for call in stored.calls]
    assert sorted(len(numbers) for numbers in letters_per_call) == [1, 1]
    assert result.applied == sum(len(call) for call in stored.calls) == len(batch()) - 1
    assert dead.reasons == ["NOT_WELL_FORMED"]


async def test_on_sqlite_a_batch_is_one_transaction():
    dead = DeadLetters()
    stored = ingestion = RecordingIngestion(dead, by_partition=False)
    await ingestion.process(batch())
    assert len(stored.calls) == 1 and len(stored.calls[0]) == len(batch()) - 1
