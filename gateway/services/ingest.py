"""Use case: fold a batch of DMS events into the lookup store in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass
from datetime import datetime

from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import (
    AcceptanceNotice,
    DmsEvent,
    HistoryEntry,
    Letter,
    LetterRegistered,
)
from gateway.domain.partners import StatusChangeNotification
from gateway.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class IngestResult:
    applied: int
    duplicates: int
    notices_queued: int
    partner_notifications_queued: int = 0

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


async def ingest_events(
    events: Sequence[DmsEvent],
    uow: UnitOfWork,
    hasher: IdentifierHasher,
    now: Callable[[], datetime],
    *,
    queue_notices: bool = True,
    notify_partners: frozenset[str] = frozenset(),
) -> IngestResult:
    """Apply new events, ignore already processed ones; commit once for the whole batch.

    `queue_notices` is off when replaying history (rebuild): notices went out the first time.
    `notify_partners`: codes of partners told of every status change of letters they forwarded.
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
        before = await uow.letters.get_many(folded) if partners_told else {}
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
        changes: list[StatusChangeNotification] = []
        if partners_told:
            after = {n: before[n].merge(f) if n in before else f for n, f in folded.items()}
            changes = await _partner_notifications(uow, before, after, new_events, notify_partners)
            await uow.partners.queue_notifications(changes, now())
        await uow.commit()
    return IngestResult(
        applied=len(new_events),
        duplicates=len(events) - len(new_events),
        notices_queued=len(notices),
        partner_notifications_queued=len(changes),
    )


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
