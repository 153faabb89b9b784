"""In-memory implementations of the service layer's ports, for unit tests of the core."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Self
from uuid import UUID

from gateway.domain.access_log import Lookup
from gateway.domain.letters import AcceptanceNotice, HistoryEntry, Letter
from gateway.domain.partners import OutcomeReport, StatusChangeNotification
from gateway.domain.status_notices import StatusChangeNotice
from gateway.services.ports import (
    AuditEntry,
    ConnectionLost,
    ReplyKey,
    StoredReply,
    TopicPartition,
)


class FakeStore:
    """What a database would hold; shared by the units of work made from it."""

    def __init__(self) -> None:
        self.letters: dict[str, Letter] = {}
        self.history: dict[str, dict[int, HistoryEntry]] = {}
        self.processed: set[UUID] = set()
        self.notices: dict[str, tuple[AcceptanceNotice, datetime | None]] = {}
        self.audit: list[AuditEntry] = []
        self.replies: dict[tuple[str, str], StoredReply] = {}
        self.reports: list[OutcomeReport] = []
        self.partner_notifications: dict[
            tuple[str, str, int], tuple[StatusChangeNotification, datetime | None]
        ] = {}
        self.status_notices: dict[tuple[str, int], tuple[StatusChangeNotice, datetime | None]] = {}
        self.relay_positions: dict[tuple[str, str, int], int] = {}
        self.fail_next_commits = 0  # simulate a database outage
        self.lose_connection_next_commits = 0  # simulate pooled connections that died
        self.commits = 0


class _Letters:
    def __init__(self, pending: FakeStore, store: FakeStore) -> None:
        self._pending, self._store = pending, store

    async def get_many(self, numbers: Collection[str]) -> dict[str, Letter]:
        return {n: self._store.letters[n] for n in numbers if n in self._store.letters}

    async def with_histories(
        self, numbers: Collection[str]
    ) -> dict[str, tuple[Letter, list[HistoryEntry]]]:
        history = self._store.history
        return {
            n: (self._store.letters[n], [history[n][s] for s in sorted(history.get(n, {}))])
            for n in numbers
            if n in self._store.letters
        }

    async def merge(self, letters: Collection[Letter]) -> None:
        for letter in letters:
            number = letter.registration_number
            stored = self._pending.letters.get(number) or self._store.letters.get(number)
            self._pending.letters[number] = stored.merge(letter) if stored else letter

    async def add_history(self, entries: Iterable[tuple[str, HistoryEntry]]) -> None:
        for number, entry in entries:
            self._pending.history.setdefault(number, {}).setdefault(entry.sequence, entry)

    async def mark_processed(self, events: Iterable[tuple[UUID, str]]) -> set[UUID]:
        fresh = {i for i, _ in events} - self._store.processed - self._pending.processed
        self._pending.processed |= fresh
        return fresh


class _Notices:
    def __init__(self, pending: FakeStore, store: FakeStore) -> None:
        self._pending, self._store = pending, store

    async def add(self, notices: Collection[AcceptanceNotice], now: datetime) -> None:
        for notice in notices:
            if notice.registration_number not in self._store.notices:
                self._pending.notices.setdefault(notice.registration_number, (notice, None))

    async def pending(self, limit: int) -> list[AcceptanceNotice]:
        return [n for n, sent in self._store.notices.values() if sent is None][:limit]

    async def pending_with_ids(self, notice_ids: Collection[str]) -> list[AcceptanceNotice]:
        return [
            n
            for n, sent in self._store.notices.values()
            if sent is None and str(n.notice_id) in notice_ids
        ]

    async def mark_published(self, notice_ids: Collection[UUID], now: datetime) -> None:
        for number, (notice, _) in self._store.notices.items():
            if notice.notice_id in notice_ids:
                self._pending.notices[number] = (notice, now)


class _StatusNotices:
    def __init__(self, pending: FakeStore, store: FakeStore) -> None:
        self._pending, self._store = pending, store

    async def last_noticed(self, numbers: Collection[str]) -> dict[str, int]:
        last: dict[str, int] = {}
        for number, sequence in self._store.status_notices:
            if number in numbers:
                last[number] = max(sequence, last.get(number, 0))
        return last

    async def add(self, notices: Collection[StatusChangeNotice], now: datetime) -> None:
        for notice in notices:
            key = (notice.registration_number, notice.sequence)
            if key not in self._store.status_notices:
                self._pending.status_notices.setdefault(key, (notice, None))

    async def pending(self, limit: int) -> list[StatusChangeNotice]:
        waiting = [n for n, sent in self._store.status_notices.values() if sent is None]
        return waiting[:limit]

    async def pending_with_ids(self, notice_ids: Collection[str]) -> list[StatusChangeNotice]:
        return [
            n
            for n, sent in self._store.status_notices.values()
            if sent is None and n.notice_id in notice_ids
        ]

    async def mark_published(self, notices: Collection[StatusChangeNotice], now: datetime) -> None:
        for notice in notices:
            self._pending.status_notices[(notice.registration_number, notice.sequence)] = (
                notice,
                now,
            )


class _Journal:
    def __init__(self, pending: FakeStore, store: FakeStore) -> None:
        self._pending, self._store = pending, store

    async def write(
        self,
        entries: Collection[AuditEntry],
        replies: Mapping[ReplyKey, StoredReply],
        now: datetime,
    ) -> set[ReplyKey]:
        self._pending.audit.extend(entries)
        kept = {k: r for k, r in replies.items() if k not in self._store.replies}
        self._pending.replies.update(kept)
        return set(kept)

    async def replies_for(self, keys: Collection[ReplyKey]) -> dict[ReplyKey, StoredReply]:
        return {k: self._store.replies[k] for k in keys if k in self._store.replies}

    async def lookups(self, registration_number: str) -> list[Lookup]:
        answered = [
            e
            for e in self._store.audit
            if e.registration_number == registration_number and e.outcome == "ANSWERED"
        ]
        return [
            Lookup(e.received_at, e.request_topic, e.end_user_hash, e.operator_id)
            for e in sorted(answered, key=lambda e: e.received_at, reverse=True)
        ]


class FakeUnitOfWork:
    """Writes go to a pending copy and reach the store only on commit, like a transaction."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def __aenter__(self) -> Self:
        self._pending = FakeStore()
        self.letters = _Letters(self._pending, self.store)
        self.notices = _Notices(self._pending, self.store)
        self.journal = _Journal(self._pending, self.store)
        self.partners = _Partners(self._pending, self.store)
        self.status_notices = _StatusNotices(self._pending, self.store)
        self.relay_positions = _RelayPositions(self._pending, self.store)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pending = FakeStore()

    async def commit(self) -> None:
        if self.store.lose_connection_next_commits:
            self.store.lose_connection_next_commits -= 1
            raise ConnectionLost("connection was closed (fake)")
        if self.store.fail_next_commits:
            self.store.fail_next_commits -= 1
            raise ConnectionError("database unavailable (fake)")
        pending, store = self._pending, self.store
        store.letters.update(pending.letters)
        for number, entries in pending.history.items():
            for sequence, entry in entries.items():
                store.history.setdefault(number, {}).setdefault(sequence, entry)
        store.processed |= pending.processed
        store.notices.update(pending.notices)
        store.audit.extend(pending.audit)
        store.replies.update(pending.replies)
        store.reports.extend(pending.reports)
        store.partner_notifications.update(pending.partner_notifications)
        store.status_notices.update(pending.status_notices)
        store.relay_positions.update(pending.relay_positions)
        store.commits += 1
        self._pending = FakeStore()


class _Partners:
    def __init__(self, pending: FakeStore, store: FakeStore) -> None:
        self._pending, self._store = pending, store

    async def letters_by_sender_reference(
        self, partner_code: str, references: Collection[str]
    ) -> dict[str, Letter]:
        return {
            letter.sender_reference: letter
            for letter in self._store.letters.values()
            if letter.forwarded_by_code == partner_code and letter.sender_reference in references
        }

    async def add_report(self, report: OutcomeReport, now: datetime) -> None:
        self._pending.reports.append(report)

    async def queue_notifications(
        self, notifications: Collection[StatusChangeNotification], now: datetime
    ) -> None:
        for n in notifications:
            key = (n.partner_code, n.registration_number, n.sequence)
            if key not in self._store.partner_notifications:
                self._pending.partner_notifications.setdefault(key, (n, None))

    async def pending_notifications(self, limit: int) -> list[StatusChangeNotification]:
        waiting = [n for n, sent in self._store.partner_notifications.values() if sent is None]
        return sorted(waiting, key=lambda n: (n.registration_number, n.sequence))[:limit]

    async def pending_notifications_with_ids(
        self, notification_ids: Collection[str]
    ) -> list[StatusChangeNotification]:
        return [
            n
            for n, sent in self._store.partner_notifications.values()
            if sent is None and n.notification_id in notification_ids
        ]

    async def mark_notified(
        self, notifications: Collection[StatusChangeNotification], now: datetime
    ) -> None:
        for n in notifications:
            self._pending.partner_notifications[
                (n.partner_code, n.registration_number, n.sequence)
            ] = (n, now)


class _RelayPositions:
    def __init__(self, pending: FakeStore, store: FakeStore) -> None:
        self._pending, self._store = pending, store

    async def claim(self, relay: str) -> bool:
        return True  # one process in unit tests

    async def written(self, relay: str) -> dict[TopicPartition, int]:
        return {(t, p): o for (r, t, p), o in self._store.relay_positions.items() if r == relay}

    async def advance(self, relay: str, positions: Mapping[TopicPartition, int]) -> None:
        self._pending.relay_positions.update({(relay, t, p): o for (t, p), o in positions.items()})
