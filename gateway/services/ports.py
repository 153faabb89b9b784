"""Every port the service layer depends on, as a Protocol. Adapters (gateway/store,
gateway/xmlcodec, producers/) and the unit tests' fakes implement them.

Naming: a port is named for its role (`StatusCodec`, `DeadLetters`, `UnitOfWork`); an adapter
carries its technology as well (`EgovXmlCodec`, `DeadLetterPublisher`, `SqlUnitOfWork`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Protocol, Self, TypeVar
from uuid import UUID

from gateway.domain.access_log import AccessLogView, Lookup
from gateway.domain.audit_chain import BlockHead, SealedValue
from gateway.domain.console import (
    AccessRecord,
    Account,
    ConsoleRole,
    DailyRequests,
    DeadLetterEntry,
    SignInAttempt,
    WorkloadLetter,
)
from gateway.domain.letters import AcceptanceNotice, DmsEvent, HistoryEntry, Letter
from gateway.domain.partners import (
    OutcomeReport,
    PartnerRequest,
    PartnerResult,
    StatusChangeNotification,
)
from gateway.domain.refusals import DecodeError
from gateway.domain.request_rollup import AuditedRequest, RequestTally
from gateway.domain.requests import FaultView, RequestHeader, StatusRequest, StatusView
from gateway.domain.status_notices import StatusChangeNotice

T = TypeVar("T")
log = logging.getLogger(__name__)


class LetterRepository(Protocol):
    async def get_many(self, numbers: Collection[str]) -> dict[str, Letter]: ...
    async def with_histories(
        self, numbers: Collection[str]
    ) -> dict[str, tuple[Letter, list[HistoryEntry]]]:
        """Each stored letter with its history in sequence order, in one query."""

    async def merge(self, letters: Collection[Letter]) -> None:
        """Store each letter merged into its stored state (Letter.merge): writers merging
        into the same letter at once (replicas around a rebalance) lose nothing."""

    async def add_history(self, entries: Iterable[tuple[str, HistoryEntry]]) -> None: ...
    async def mark_processed(self, events: Iterable[tuple[UUID, str]]) -> set[UUID]:
        """Record (event id, registration number) pairs as processed; returns the ids that
        were not recorded before. One being recorded by a concurrent transaction counts as
        recorded once that commits."""


class NoticeOutbox(Protocol):
    async def add(self, notices: Collection[AcceptanceNotice], now: datetime) -> None:
        """Queue notices; a letter that already has one keeps it (one notice per letter)."""

    async def pending(self, limit: int) -> list[AcceptanceNotice]: ...
    async def pending_with_ids(self, notice_ids: Collection[str]) -> list[AcceptanceNotice]:
        """The unpublished ones among these ids (as strings, the id header's values)."""

    async def mark_published(self, notice_ids: Collection[UUID], now: datetime) -> None: ...


class StatusNoticeOutbox(Protocol):
    """Status-change notices to the portal, waiting to be relayed."""

    async def last_noticed(self, numbers: Collection[str]) -> dict[str, int]:
        """Per letter, the sequence of the newest status-change notice queued (if any)."""

    async def add(self, notices: Collection[StatusChangeNotice], now: datetime) -> None:
        """Queue; a change already queued stays queued once."""

    async def pending(self, limit: int) -> list[StatusChangeNotice]:
        """Oldest first, in sequence order per letter."""

    async def pending_with_ids(self, notice_ids: Collection[str]) -> list[StatusChangeNotice]:
        """The unpublished ones among these ids (`NUMBER/SEQUENCE`, the id header's values)."""

    async def mark_published(
        self, notices: Collection[StatusChangeNotice], now: datetime
    ) -> None: ...


TopicPartition = tuple[str, int]  # (topic, partition)


class RelayPositions(Protocol):
    """Where each outbox relay knows it has written: for each partition of its output topics,
    the offset up to which every record is accounted for (marked published in the store)."""

    async def claim(self, relay: str) -> bool:
        """Make this transaction the only one relaying for `relay` (across replicas) until it
        ends; False if another holds it now."""

    async def written(self, relay: str) -> dict[TopicPartition, int]: ...
    async def advance(self, relay: str, positions: Mapping[TopicPartition, int]) -> None: ...


@dataclass(frozen=True)
class AuditEntry:
    client_id: str
    message_id: str
    correlation_id: str | None
    request_topic: str
    reply_topic: str | None
    end_user_hash: str | None
    operator_id: str | None
    registration_number: str | None
    outcome: str
    request_hash: str
    reply_hash: str | None
    received_at: datetime
    replied_at: datetime


@dataclass(frozen=True)
class StoredReply:
    request_hash: str
    reply: bytes


ReplyKey = tuple[str, str]  # (client id, message id)


class RequestJournal(Protocol):
    """The audit trail (append-only) and the replies kept for redelivered requests."""

    async def write(
        self,
        entries: Collection[AuditEntry],
        replies: Mapping[ReplyKey, StoredReply],
        now: datetime,
    ) -> set[ReplyKey]:
        """Append the audit rows and keep the replies; returns the reply keys kept. A key
        missing from the result was kept first by another delivery of the same request."""

    async def replies_for(self, keys: Collection[ReplyKey]) -> dict[ReplyKey, StoredReply]: ...
    async def lookups(self, registration_number: str) -> list[Lookup]:
        """The audited requests answered with that letter's data, newest first (bounded)."""


class PartnerExchange(Protocol):
    async def letters_by_sender_reference(
        self, partner_code: str, references: Collection[str]
    ) -> dict[str, Letter]: ...
    async def add_report(self, report: OutcomeReport, now: datetime) -> None: ...
    async def queue_notifications(
        self, notifications: Collection[StatusChangeNotification], now: datetime
    ) -> None:
        """Queue; a change already queued for that partner stays queued once."""

    async def pending_notifications(self, limit: int) -> list[StatusChangeNotification]:
        """Oldest first, in sequence order per letter."""

    async def pending_notifications_with_ids(
        self, notification_ids: Collection[str]
    ) -> list[StatusChangeNotification]:
        """The unpublished ones among these notification ids."""

    async def mark_notified(
        self, notifications: Collection[StatusChangeNotification], now: datetime
    ) -> None: ...


@dataclass(frozen=True)
class UnsealedRows:
    count: int
    oldest_received_at: datetime | None


AuditRow = Mapping[str, SealedValue]  # one request_audit row, by column name


class AuditLedger(Protocol):
    """The store's side of the sealed audit log (gateway/domain/audit_chain.py)."""

    async def settled_row_id(self) -> int:
        """The highest audit row id such that no row at or below it is still being written,
        nor ever will be: waits for the journal writes in flight. Its own transaction."""

    async def claim_sealer(self) -> bool:
        """True if this transaction is now the only sealer (until it ends); False if another
        replica is sealing."""

    async def last_block(self) -> BlockHead | None: ...
    async def block(self, number: int) -> BlockHead | None: ...
    async def blocks(self, first_day: date | None, last_day: date | None) -> list[BlockHead]:
        """Blocks sealed on those days (None: unbounded), in chain order."""

    async def rows(
        self, after_id: int, last_id: int | None, limit: int | None
    ) -> Sequence[AuditRow]:
        """Audit rows with after_id < id <= last_id, in id order."""

    async def add_block(self, head: BlockHead, seals: Sequence[tuple[int, str]]) -> None:
        """Store the block and each of its rows' (id, hash)."""

    async def seals(self, block_number: int) -> dict[int, str]: ...
    async def unsealed(self, after_id: int) -> UnsealedRows: ...
    async def unwitnessed(self, limit: int) -> list[BlockHead]:
        """Blocks whose head is not yet on the witness topic, in chain order."""

    async def unwitnessed_among(self, numbers: Collection[int]) -> list[BlockHead]:
        """Those of these blocks whose head is not yet marked as on the witness topic."""

    async def mark_witnessed(self, numbers: Collection[int], now: datetime) -> None: ...


class ConnectionLost(Exception):
    """The store's connection was found dead (the database restarted, say): nothing was
    written, and a fresh attempt gets a fresh connection."""


async def once_more_if_connection_lost(work: Callable[[], Awaitable[T]]) -> T:
    """Runs `work`, and once more at once if it failed on a dead pooled connection."""
    try:
        return await work()
    except ConnectionLost:
        log.info("store connection was lost; trying again at once on a fresh one")
        return await work()


class RequestRollup(Protocol):
    """Requests counted by day (gateway/domain/request_rollup.py) up to a position in the
    audit log; reports read the rows after it from the log itself."""

    async def claim(self) -> int | None:
        """The audit row id through which requests are rolled up, with this transaction the
        only one rolling up until it ends; None if another replica is rolling up now."""

    async def audited(self, after_id: int, last_id: int, limit: int) -> list[AuditedRequest]:
        """Audit rows with after_id < id <= last_id, in id order."""

    async def add(self, tally: RequestTally, through_id: int) -> None:
        """Add the tally to the rollup and move the position to through_id."""


class UnitOfWork(Protocol):
    @property
    def letters(self) -> LetterRepository: ...
    @property
    def notices(self) -> NoticeOutbox: ...
    @property
    def journal(self) -> RequestJournal: ...
    @property
    def partners(self) -> PartnerExchange: ...
    @property
    def audit(self) -> AuditLedger: ...
    @property
    def status_notices(self) -> StatusNoticeOutbox: ...
    @property
    def relay_positions(self) -> RelayPositions: ...
    @property
    def rollup(self) -> RequestRollup: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


# ---- messages in and out ------------------------------------------------------------------


class IncomingRecord(Protocol):
    """One Kafka record as consumed (aiokafka's ConsumerRecord fits)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class DmsDecoder(Protocol):
    def decode(self, raw: bytes) -> DmsEvent:
        """The event in `raw`; DecodeError (with the dead-letter reason) if refused."""


class DeadLetters(Protocol):
    async def publish(
        self, record: IncomingRecord, reason: str, detail: str, path: str | None = None
    ) -> None:
        """Park a refused record, with why, where it came from, and its original bytes."""


class Relay(Protocol):
    def wake(self) -> None:
        """Something was queued for the relay to publish: look now, not at the next poll."""


class StatusCodec(Protocol):
    """The e-government / call-center contract."""

    def decode_request(self, raw: bytes) -> StatusRequest: ...
    def fault_for(self, error: DecodeError) -> FaultView: ...
    def encode_reply(
        self,
        header: RequestHeader | None,
        request_sha256: str,
        result: StatusView | AccessLogView | FaultView,
    ) -> bytes: ...


class PartnerCodec(Protocol):
    """The partner agencies' contract."""

    def decode_request(self, raw: bytes) -> PartnerRequest: ...
    def fault_for(self, error: DecodeError) -> FaultView: ...
    def encode_reply(
        self, header: RequestHeader | None, request_sha256: str, result: PartnerResult
    ) -> bytes: ...


# ---- the operator console -----------------------------------------------------------------


class LookupCodec(StatusCodec, Protocol):
    """The console's own request/reply encoding: the same service answers it as a Kafka request,
    and the audit keeps the hash of exactly these bytes."""

    def encode_request(self, request: StatusRequest) -> bytes: ...
    def decode_reply(self, raw: bytes) -> StatusView | FaultView: ...


class Accounts(Protocol):
    """Local console accounts with salted password hashes."""

    async def verify(self, username: str, password: str) -> Account | None:
        """The enabled account if the password is right; None otherwise (any reason)."""

    async def add(
        self,
        username: str,
        password: str,
        roles: frozenset[ConsoleRole],
        departments: frozenset[str],
        now: datetime,
    ) -> None: ...
    async def set_disabled(self, username: str, disabled: bool) -> bool:
        """False if there is no such account."""

    async def all(self) -> list[Account]: ...


class SignInLog(Protocol):
    async def record(self, attempt: SignInAttempt) -> None: ...


class DeadLetterLog(Protocol):
    async def record(self, entry: DeadLetterEntry) -> None: ...


class OversightQueries(Protocol):
    """The console's read side, aggregated in the store."""

    async def workload(self, departments: Collection[str], today: date) -> list[WorkloadLetter]:
        """Open letters of these departments past their legal due date or due soon (the
        deadline rules' working days), by legal due date."""

    async def access_trail(self, registration_number: str, limit: int) -> list[AccessRecord]:
        """Newest first; `channel` holds the request topic."""

    async def recent_dead_letters(self, limit: int) -> list[DeadLetterEntry]: ...
    async def requests_per_day(self, start: date, end: date) -> list[DailyRequests]:
        """Requests received on the days [start, end); `channel` holds the request topic."""
