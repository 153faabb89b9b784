"""Use case: DMS events into the lookup store.

`DmsIngestion.process` takes a poll of records: decodes each (a poison one goes to the dead
letters with its reason), stores the rest until durable (retrying while the database is away,
readiness saying why), wakes the notice relays, and returns only then, so the entry point may
commit the offsets. `ingest_events` is the fold of one batch in one transaction, also used by
`rebuild`.

On PostgreSQL a poll is stored per partition number, the partitions' transactions running at
once: while one waits on the database, the event loop decodes and folds another. The DMS keys
both topics by registration number, so one letter's events share a partition number and never
meet in two of these transactions; if they did (topics with different partition counts), the
store's merge would still lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import astuple, dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

from gateway.domain.deadlines import Deadline
from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import (
    AcceptanceNotice,
    DmsEvent,
    HistoryEntry,
    Letter,
    LetterRegistered,
)
from gateway.domain.partners import StatusChangeNotification
from gateway.domain.refusals import DecodeError
from gateway.domain.status_notices import StatusChangeNotice, status_change_notices
from gateway.services.deadlines import Deadlines
from gateway.services.ports import (
    DeadLetters,
    DmsDecoder,
    IncomingRecord,
    Relay,
    UnitOfWork,
    once_more_if_connection_lost,
)
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    applied: int
    duplicates: int
    notices_queued: int
    partner_notifications_queued: int = 0
    status_notices_queued: int = 0

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True)
class Backoff:
    initial_s: float
    max_s: float


@dataclass(frozen=True)
class Relays:
    """Woken when a stored batch queued something for them to publish."""

    notices: Relay
    partner_notifications: Relay
    status_notices: Relay


class DmsIngestion:
    def __init__(
        self,
        decoder: DmsDecoder,
        dead_letters: DeadLetters,
        uow_factory: Callable[[], UnitOfWork],
        hasher: IdentifierHasher,
        now: Callable[[], datetime],
        *,
        readiness: Readiness,
        backoff: Backoff,
        relays: Relays,
        notify_partners: frozenset[str],
        notify_status_changes: Deadlines | None,
        by_partition: bool,
        metrics: Metrics | None = None,
    ) -> None:
        """SQLite has one writer: `by_partition` off, a poll is one transaction.
        `notify_partners`: codes of partners told of every status change of letters they
        forwarded."""
        self._decoder, self._dead_letters = decoder, dead_letters
        self._uow_factory, self._hasher, self._now = uow_factory, hasher, now
        self._readiness, self._backoff, self._relays = readiness, backoff, relays
        self._notify_partners, self._by_partition = notify_partners, by_partition
        self._notify_status_changes = notify_status_changes
        self._metrics = metrics

    async def process(self, records: Sequence[IncomingRecord]) -> IngestResult:
        """Returns once every record is either durable in the store or dead-lettered."""
        if not self._by_partition:
            return await self._process_group(records)
        groups: dict[int, list[IncomingRecord]] = {}
        for record in records:
            groups.setdefault(record.partition, []).append(record)
        total = IngestResult(applied=0, duplicates=0, notices_queued=0)
        for result in await asyncio.gather(*map(self._process_group, groups.values())):
            total += result
        return total

    async def _process_group(self, records: Sequence[IncomingRecord]) -> IngestResult:
        events: list[DmsEvent] = []
        for record in records:
            try:
                events.append(self._decoder.decode(record.value or b""))
            except DecodeError as error:
                log.warning(
                    "dead-lettering %s[%d]@%d: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    error.code,
                )
                await self._dead_letters.publish(record, error.code, error.detail, error.path)
                if self._metrics is not None:
                    self._metrics.dead_letters.labels(str(error.code)).inc()
        if not events:
            return IngestResult(applied=0, duplicates=0, notices_queued=0)
        result = await self.store(events)
        if self._metrics is not None:
            for event in events:
                self._metrics.event_stored(type(event).__name__, event.occurred_at)
        return result

    async def store(self, events: Sequence[DmsEvent]) -> IngestResult:
        """Store a batch, retrying while the database is away; returns once it is durable."""
        result = await self._until_stored(
            lambda: ingest_events(
                events,
                self._uow_factory(),
                self._hasher,
                self._now,
                notify_partners=self._notify_partners,
                notify_status_changes=self._notify_status_changes,
            )
        )
        if result.notices_queued:
            self._relays.notices.wake()
        if result.partner_notifications_queued:
            self._relays.partner_notifications.wake()
        if result.status_notices_queued:
            self._relays.status_notices.wake()
        return result

    async def _until_stored(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Progress stops while the database is away, nothing is skipped, readiness says why."""
        delay = self._backoff.initial_s
        while True:
            try:
                result = await once_more_if_connection_lost(operation)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure to store: try again later
                self._readiness.fail("database", f"{type(exc).__name__}: {str(exc)[:200]}")
                log.warning("store unavailable, retrying in %.1fs: %s", delay, type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff.max_s)
            else:
                self._readiness.ok("database")
                return result


async def ingest_events(
    events: Sequence[DmsEvent],
    uow: UnitOfWork,
    hasher: IdentifierHasher,
    now: Callable[[], datetime],
    *,
    queue_notices: bool = True,
    notify_partners: frozenset[str] = frozenset(),
    notify_status_changes: Deadlines | None = None,
) -> IngestResult:
    """Apply new events, ignore already processed ones; commit once for the whole batch.

    `queue_notices` is off when replaying history (rebuild): notices went out the first time.
    `notify_partners`: codes of partners told of every status change of letters they forwarded.
    `notify_status_changes`: queue status-change notices for the portal (with queue_notices);
    an extended letter's notices carry its new due date by these deadlines. None: no notices.
    """
    async with uow:
        unique = {e.event_id: e for e in reversed(events)}  # the first of each id, in order
        fresh = await uow.letters.mark_processed(
            (i, e.registration_number) for i, e in unique.items()
        )
        new_events = [e for e in events if e.event_id in fresh and unique[e.event_id] is e]
        if not new_events:
            return IngestResult(applied=0, duplicates=len(events), notices_queued=0)

        # What this batch says of each letter, merged into what the store has: no read first.
        folded: dict[str, Letter] = {}
        for event in new_events:
            number = event.registration_number
            folded[number] = folded.get(number, Letter(number)).apply(event, hasher)
        partners_told = queue_notices and bool(notify_partners)
        portal_deadlines = notify_status_changes if queue_notices else None
        wanted = partners_told or portal_deadlines is not None
        before = await uow.letters.get_many(folded) if wanted else {}
        await uow.letters.merge(folded.values())
        await uow.letters.add_history(
            (e.registration_number, HistoryEntry.of(e)) for e in new_events
        )
        notices = [
            notice
            for e in new_events
            if queue_notices and isinstance(e, LetterRegistered)
            if (notice := AcceptanceNotice.for_registration(e)) is not None
        ]
        if notices:
            await uow.notices.add(notices, now())
        after = {n: before[n].merge(f) if n in before else f for n, f in folded.items()}
        changes: list[StatusChangeNotification] = []
        if partners_told:
            changes = await _partner_notifications(uow, before, after, new_events, notify_partners)
            await uow.partners.queue_notifications(changes, now())
        portal_notices: list[StatusChangeNotice] = []
        if portal_deadlines is not None:
            at = now()
            deadline_of = partial(portal_deadlines.computed, now=at)
            portal_notices = await _status_notices(uow, before, after, new_events, deadline_of)
            await uow.status_notices.add(portal_notices, at)
        await uow.commit()
    return IngestResult(
        applied=len(new_events),
        duplicates=len(events) - len(new_events),
        notices_queued=len(notices),
        partner_notifications_queued=len(changes),
        status_notices_queued=len(portal_notices),
    )


async def _status_notices(
    uow: UnitOfWork,
    before: dict[str, Letter],
    after: dict[str, Letter],
    new_events: list[DmsEvent],
    deadline_of: Callable[[Letter], Deadline | None],
) -> list[StatusChangeNotice]:
    """Status-change notices for the portal. A letter whose registration (which names its
    channel) arrives after other events has those earlier entries noticed then."""
    entries: dict[str, list[HistoryEntry]] = {}
    for event in new_events:
        entries.setdefault(event.registration_number, []).append(HistoryEntry.of(event))
    late = [n for n in entries if n in before and not before[n].is_registered]
    for number, (_, earlier) in (await uow.letters.with_histories(late)).items():
        entries[number] = [*earlier, *entries[number]]
    last = await uow.status_notices.last_noticed(list(entries))
    return status_change_notices(after, entries, last, deadline_of)


async def _partner_notifications(
    uow: UnitOfWork,
    before: dict[str, Letter],
    after: dict[str, Letter],
    new_events: list[DmsEvent],
    partner_codes: frozenset[str],
) -> list[StatusChangeNotification]:
    """One notification per new history entry of a letter a notified partner forwarded to us.

    When the registration (which names the partner) arrives after other events, the earlier
    entries are notified then, so the partner misses no change.
    """
    by_letter: dict[str, list[HistoryEntry]] = {}
    for event in new_events:
        by_letter.setdefault(event.registration_number, []).append(HistoryEntry.of(event))
    changes: list[StatusChangeNotification] = []
    for number, entries in by_letter.items():
        letter = after[number]
        code = letter.forwarded_by_code
        if code is None or code not in partner_codes:
            continue
        prior = before.get(number)
        if prior is not None and not prior.is_registered:
            _, earlier = (await uow.letters.with_histories([number]))[number]
            entries = [*earlier, *entries]
        unique = {entry.sequence: entry for entry in entries}
        changes += [
            StatusChangeNotification(
                code, number, letter.sender_reference, e.sequence, e.status, e.at, e.note
            )
            for _, e in sorted(unique.items())
        ]
    return changes
