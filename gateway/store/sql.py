"""SQL implementations of the service layer's ports, and the unit of work that binds them.

Portable SQLAlchemy Core for SQLite and PostgreSQL; PostgreSQL's bulk statements (unnest,
COPY into staging tables) are in gateway.store.postgres."""

from __future__ import annotations

import zlib
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from sqlalchemy import (
    RowMapping,
    String,
    case,
    cast,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from gateway.domain.access_log import Lookup
from gateway.domain.letters import (
    AcceptanceNotice,
    Agency,
    ApplicantKind,
    Channel,
    DeadlineClass,
    Department,
    Executor,
    HistoryEntry,
    Letter,
    Status,
)
from gateway.domain.partners import OutcomeReport, StatusChangeNotification
from gateway.services.audited_requests import ANSWERED
from gateway.services.ports import (
    AuditEntry,
    ConnectionLost,
    ReplyKey,
    StoredReply,
    TopicPartition,
)
from gateway.store import legal_deadlines, postgres
from gateway.store.audit_ledger import SqlAuditLedger
from gateway.store.dialects import INSERT
from gateway.store.request_rollup import SqlRequestRollup
from gateway.store.selection import (
    chunks,
    mark_published,
    oldest_unpublished,
    rows_where_in,
    unpublished_with_ids,
)
from gateway.store.status_notices import SqlStatusNoticeOutbox
from gateway.store.tables import (
    LETTER_COLUMN_GROUPS,
    LETTER_EVENT_COLUMNS,
    letter_history,
    letters,
    notice_outbox,
    partner_notifications,
    partner_reports,
    processed_events,
    relay_positions,
    request_audit,
    sent_replies,
)

LOOKUPS_SHOWN = 1000  # an access log shows at most this many, newest first
_LETTER_COLUMNS = [c.name for c in LETTER_EVENT_COLUMNS]


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the ingesting writer
            cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged commit survives power loss
            cursor.close()

        return engine
    asyncpg = url.startswith("postgresql+asyncpg")
    # No pre-ping: it costs three round trips per checkout. A connection found dead instead
    # fails its unit of work with ConnectionLost, and that invalidates the whole pool.
    engine = create_async_engine(
        url, pool_size=10, max_overflow=10, connect_args=postgres.CONNECT_ARGS if asyncpg else {}
    )
    if asyncpg:

        @event.listens_for(engine.sync_engine, "connect")
        def _staging_tables(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.run_async(postgres.create_staging_tables)

    return engine


def _letter_row(letter: Letter) -> dict[str, Any]:
    department, executor, agency = letter.department, letter.executor, letter.forwarded_to
    return {
        "registration_number": letter.registration_number,
        "registration_seq": letter.registration_seq,
        "registration_date": letter.registration_date,
        "channel": letter.channel,
        "applicant_kind": letter.applicant_kind,
        "applicant_hash": letter.applicant_hash,
        "forwarded_by_code": letter.forwarded_by_code,
        "sender_reference": letter.sender_reference,
        "due_date": letter.due_date,
        "deadline_class": letter.deadline_class,
        "assignment_seq": letter.assignment_seq,
        "department_code": department.code if department else None,
        "department_name": department.name if department else None,
        "executor_id": executor.id if executor else None,
        "executor_name": executor.full_name if executor else None,
        "executor_phone": executor.phone if executor else None,
        "status_seq": letter.status_seq,
        "status": letter.status,
        "status_at": postgres.aware(letter.status_at),  # COPY bypasses the column type
        "forwarding_seq": letter.forwarding_seq,
        "forwarded_to_code": agency.code if agency else None,
        "forwarded_to_name": agency.name if agency else None,
        "forwarding_reference": letter.forwarding_reference,
        "forwarding_date": letter.forwarding_date,
        "conclusion_seq": letter.conclusion_seq,
        "answer_date": letter.answer_date,
        "answer_reference": letter.answer_reference,
        "extension_seq": letter.extension_seq,
        "extension_days": letter.extension_days,
        "extension_reason": letter.extension_reason,
        "extension_applicant_told": letter.extension_applicant_told,
        "extension_due_date": letter.extension_due_date,
    }


def _letter_from_row(row: Mapping[Any, Any]) -> Letter:
    def enum_or_none(kind: type, value: str | None) -> Any:
        return kind(value) if value is not None else None

    return Letter(
        registration_number=row["registration_number"],
        registration_seq=row["registration_seq"],
        registration_date=row["registration_date"],
        channel=enum_or_none(Channel, row["channel"]),
        applicant_kind=enum_or_none(ApplicantKind, row["applicant_kind"]),
        applicant_hash=row["applicant_hash"],
        forwarded_by_code=row["forwarded_by_code"],
        sender_reference=row["sender_reference"],
        due_date=row["due_date"],
        deadline_class=enum_or_none(DeadlineClass, row["deadline_class"]),
        assignment_seq=row["assignment_seq"],
        department=Department(row["department_code"], row["department_name"])
        if row["department_code"] is not None
        else None,
        executor=Executor(row["executor_id"], row["executor_name"], row["executor_phone"])
        if row["executor_id"] is not None
        else None,
        status_seq=row["status_seq"],
        status=enum_or_none(Status, row["status"]),
        status_at=row["status_at"],
        forwarding_seq=row["forwarding_seq"],
        forwarded_to=Agency(row["forwarded_to_code"], row["forwarded_to_name"])
        if row["forwarded_to_code"] is not None
        else None,
        forwarding_reference=row["forwarding_reference"],
        forwarding_date=row["forwarding_date"],
        conclusion_seq=row["conclusion_seq"],
        answer_date=row["answer_date"],
        answer_reference=row["answer_reference"],
        extension_seq=row["extension_seq"],
        extension_days=row["extension_days"],
        extension_reason=row["extension_reason"],
        extension_applicant_told=row["extension_applicant_told"],
        extension_due_date=row["extension_due_date"],
    )


class SqlLetterRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection
        self._insert = INSERT[connection.dialect.name]
        self._pg = connection.dialect.name == "postgresql"

    async def get_many(self, numbers: Collection[str]) -> dict[str, Letter]:
        rows = await rows_where_in(
            self._conn, select(letters), letters.c.registration_number, numbers
        )
        return {r["registration_number"]: _letter_from_row(r) for r in rows}

    async def with_histories(
        self, numbers: Collection[str]
    ) -> dict[str, tuple[Letter, list[HistoryEntry]]]:
        h = letter_history
        query = (
            select(
                letters,
                h.c.sequence.label("h_sequence"),
                h.c.status.label("h_status"),
                h.c.at.label("h_at"),
                h.c.note.label("h_note"),
            )
            .select_from(
                letters.outerjoin(h, h.c.registration_number == letters.c.registration_number)
            )
            .order_by(letters.c.registration_number, h.c.sequence)
        )
        found: dict[str, tuple[Letter, list[HistoryEntry]]] = {}
        for r in await rows_where_in(self._conn, query, letters.c.registration_number, numbers):
            number = r["registration_number"]
            if number not in found:
                found[number] = (_letter_from_row(r), [])
            if r["h_sequence"] is not None:
                found[number][1].append(
                    HistoryEntry(r["h_sequence"], Status(r["h_status"]), r["h_at"], r["h_note"])
                )
        return found

    async def merge(self, changed: Collection[Letter]) -> None:
        """Upsert the letters and, in the same transaction, their stored deadline figures."""
        if not changed:
            return
        rules = await legal_deadlines.basis_rules(self._conn)
        await self._upsert(changed)
        if rules is not None:  # else no calendar is stored yet; storing it computes them all
            numbers = [letter.registration_number for letter in changed]
            await legal_deadlines.follow(self._conn, rules, numbers)

    async def _upsert(self, changed: Collection[Letter]) -> None:
        # Rows in key order, here and below: concurrent writers lock them in the same order.
        ordered = sorted(changed, key=lambda letter: letter.registration_number)
        rows = [_letter_row(letter) for letter in ordered]
        if self._pg:
            records = [tuple(row[column] for column in _LETTER_COLUMNS) for row in rows]
            await postgres.copy_and_merge(self._conn, postgres.LETTERS, records)
            return
        for chunk in chunks(rows):
            statement = self._insert(letters)
            incoming = statement.excluded
            statement = statement.on_conflict_do_update(
                index_elements=[letters.c.registration_number.name],
                set_={
                    column: case(
                        (incoming[seq] > letters.c[seq], incoming[column]),
                        else_=letters.c[column],
                    )
                    for seq, columns in LETTER_COLUMN_GROUPS.items()
                    for column in (*columns, seq)
                },
            )
            await self._conn.execute(statement, chunk)

    async def add_history(self, entries: Iterable[tuple[str, HistoryEntry]]) -> None:
        records = [
            (number, e.sequence, e.status, postgres.aware(e.at), e.note)
            for number, e in sorted(entries, key=lambda item: (item[0], item[1].sequence))
        ]
        if self._pg and records:
            await postgres.copy_and_merge(self._conn, postgres.HISTORY, records)
            return
        names = [c.name for c in letter_history.c]
        rows = [dict(zip(names, values, strict=True)) for values in records]
        for chunk in chunks(rows):
            await self._conn.execute(self._insert(letter_history).on_conflict_do_nothing(), chunk)

    async def mark_processed(self, events: Iterable[tuple[UUID, str]]) -> set[UUID]:
        # Ids as text from here on: canonical lower-case UUIDs sort as text in the order of
        # their values, and text compares and hashes in C (UUIDs in Python).
        texts = [(str(i), i, n) for i, n in events]
        ids = {text: i for text, i, _ in texts}
        ordered = sorted((text, n) for text, _, n in texts)
        if not ordered:
            return set()
        if self._pg:
            arrays = {
                "event_id": [i for i, _ in ordered],
                "registration_number": [n for _, n in ordered],
            }
            return {ids[i] for i in await self._conn.scalars(postgres.MARK_PROCESSED, arrays)}
        rows = [{"event_id": i, "registration_number": n} for i, n in ordered]
        t = processed_events
        statement = self._insert(t).on_conflict_do_nothing().returning(t.c.event_id)
        fresh: set[UUID] = set()
        for chunk in chunks(rows):
            fresh.update(ids[i] for i in await self._conn.scalars(statement, chunk))
        return fresh


def _notice(r: RowMapping) -> AcceptanceNotice:
    return AcceptanceNotice(
        UUID(r["notice_id"]),
        r["registration_number"],
        r["registration_date"],
        Channel(r["channel"]),
        ApplicantKind(r["user_kind"]),
        r["user_id"],
    )


def _notification(r: RowMapping) -> StatusChangeNotification:
    return StatusChangeNotification(
        r["partner_code"],
        r["registration_number"],
        r["sender_reference"],
        r["sequence"],
        Status(r["status"]),
        r["at"],
        r["note"],
    )


class SqlNoticeOutbox:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection
        self._insert = INSERT[connection.dialect.name]

    async def add(self, notices: Collection[AcceptanceNotice], now: datetime) -> None:
        rows = [
            {
                "notice_id": str(n.notice_id),
                "registration_number": n.registration_number,
                "registration_date": n.registration_date,
                "channel": n.channel,
                "user_kind": n.user_kind,
                "user_id": n.user_id,
                "created_at": now,
                "published_at": None,
            }
            for n in notices
        ]
        if self._conn.dialect.name == "postgresql":
            await self._conn.execute(postgres.ADD_NOTICES, postgres.as_arrays(notice_outbox, rows))
            return
        statement = self._insert(notice_outbox).on_conflict_do_nothing()
        await self._conn.execute(statement, rows)

    async def pending(self, limit: int) -> list[AcceptanceNotice]:
        query = (
            select(notice_outbox)
            .where(notice_outbox.c.published_at.is_(None))
            .order_by(notice_outbox.c.created_at)
            .limit(limit)
            # Replicas relaying at once take different rows (PostgreSQL; SQLite has one writer).
            .with_for_update(skip_locked=True)
        )
        return [_notice(r) for r in (await self._conn.execute(query)).mappings()]

    async def pending_with_ids(self, notice_ids: Collection[str]) -> list[AcceptanceNotice]:
        query = select(notice_outbox).where(notice_outbox.c.published_at.is_(None))
        rows = await rows_where_in(self._conn, query, notice_outbox.c.notice_id, notice_ids)
        return [_notice(r) for r in rows]

    async def mark_published(self, notice_ids: Collection[UUID], now: datetime) -> None:
        statement = (
            update(notice_outbox)
            .where(notice_outbox.c.notice_id.in_([str(i) for i in notice_ids]))
            .values(published_at=now, user_id=None)
        )
        await self._conn.execute(statement)


class SqlRequestJournal:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def write(
        self,
        entries: Collection[AuditEntry],
        replies: Mapping[ReplyKey, StoredReply],
        now: datetime,
    ) -> set[ReplyKey]:
        audit_rows = [vars(e) for e in entries]
        reply_rows = [
            {
                "client_id": client,
                "message_id": message,
                "request_hash": kept.request_hash,
                "reply": kept.reply,
                "created_at": now,
            }
            for (client, message), kept in replies.items()
        ]
        if self._conn.dialect.name == "postgresql":
            arrays = {
                **postgres.as_arrays(sent_replies, reply_rows, "r_"),
                **postgres.as_arrays(request_audit, audit_rows, "a_"),
            }
            result = await self._conn.execute(postgres.WRITE_JOURNAL, arrays)
            return {(r.client_id, r.message_id) for r in result}
        if audit_rows:
            await self._conn.execute(insert(request_audit), audit_rows)
        if not reply_rows:
            return set()
        t = sent_replies
        statement = (
            INSERT["sqlite"](t).on_conflict_do_nothing().returning(t.c.client_id, t.c.message_id)
        )
        result = await self._conn.execute(statement, reply_rows)  # RETURNING: the rows kept
        return {(r.client_id, r.message_id) for r in result}

    async def replies_for(self, keys: Collection[ReplyKey]) -> dict[ReplyKey, StoredReply]:
        t = sent_replies
        # Both key columns constrained, so the primary key's index serves the lookup.
        query = select(t).where(t.c.client_id.in_(sorted({client for client, _ in keys})))
        rows = await rows_where_in(self._conn, query, t.c.message_id, {m for _, m in keys})
        wanted = set(keys)
        return {
            key: StoredReply(r["request_hash"], r["reply"])
            for r in rows
            if (key := (r["client_id"], r["message_id"])) in wanted
        }

    async def lookups(self, registration_number: str) -> list[Lookup]:
        t = request_audit
        query = (
            select(t.c.received_at, t.c.request_topic, t.c.end_user_hash, t.c.operator_id)
            .where(t.c.registration_number == registration_number, t.c.outcome == ANSWERED)
            .order_by(t.c.received_at.desc())
            .limit(LOOKUPS_SHOWN)
        )
        return [Lookup(*row) for row in await self._conn.execute(query)]


class SqlPartnerExchange:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection
        self._insert = INSERT[connection.dialect.name]

    async def letters_by_sender_reference(
        self, partner_code: str, references: Collection[str]
    ) -> dict[str, Letter]:
        query = select(letters).where(
            letters.c.forwarded_by_code == partner_code,
            letters.c.sender_reference.in_(list(references)),
        )
        rows = (await self._conn.execute(query)).mappings()
        return {row["sender_reference"]: _letter_from_row(row) for row in rows}

    async def add_report(self, report: OutcomeReport, now: datetime) -> None:
        await self._conn.execute(
            insert(partner_reports).values(
                partner_code=report.header.client_id,
                message_id=report.header.message_id,
                registration_number=report.registration_number,
                outcome=report.outcome.value,
                at=report.at,
                partner_reference=report.partner_reference,
                note=report.note,
                recorded_at=now,
            )
        )

    async def queue_notifications(
        self, notifications: Collection[StatusChangeNotification], now: datetime
    ) -> None:
        if not notifications:
            return
        rows = [
            {
                "partner_code": n.partner_code,
                "registration_number": n.registration_number,
                "sequence": n.sequence,
                "sender_reference": n.sender_reference,
                "status": n.status.value,
                "at": n.at,
                "note": n.note,
                "created_at": now,
            }
            for n in notifications
        ]
        await self._conn.execute(self._insert(partner_notifications).on_conflict_do_nothing(), rows)

    async def pending_notifications(self, limit: int) -> list[StatusChangeNotification]:
        rows = await oldest_unpublished(self._conn, partner_notifications, limit)
        return [_notification(r) for r in rows]

    async def pending_notifications_with_ids(
        self, notification_ids: Collection[str]
    ) -> list[StatusChangeNotification]:
        t = partner_notifications
        notification_id = (  # StatusChangeNotification.notification_id, in SQL
            t.c.partner_code + "/" + t.c.registration_number + "/" + cast(t.c.sequence, String)
        )
        rows = await unpublished_with_ids(self._conn, t, notification_id, notification_ids)
        return [_notification(r) for r in rows]

    async def mark_notified(
        self, notifications: Collection[StatusChangeNotification], now: datetime
    ) -> None:
        t = partner_notifications
        key = (t.c.partner_code, t.c.registration_number, t.c.sequence)
        keys = {(n.partner_code, n.registration_number, n.sequence) for n in notifications}
        await mark_published(self._conn, t, key, keys, now)


class SqlRelayPositions:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection
        self._insert = INSERT[connection.dialect.name]

    async def claim(self, relay: str) -> bool:
        if self._conn.dialect.name != "postgresql":
            return True  # SQLite: one replica, one relay task per outbox
        # A transaction-scoped advisory lock: released by commit, rollback or a dead session.
        key = zlib.crc32(f"relay:{relay}".encode())
        return bool(
            await self._conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key})
        )

    async def written(self, relay: str) -> dict[TopicPartition, int]:
        t = relay_positions
        rows = await self._conn.execute(
            select(t.c.topic, t.c.partition, t.c.next_offset).where(t.c.relay == relay)
        )
        return {(topic, partition): offset for topic, partition, offset in rows}

    async def advance(self, relay: str, positions: Mapping[TopicPartition, int]) -> None:
        if not positions:
            return
        statement = self._insert(relay_positions)
        statement = statement.on_conflict_do_update(
            index_elements=["relay", "topic", "partition"],
            set_={"next_offset": statement.excluded.next_offset},
        )
        rows = [
            {"relay": relay, "topic": topic, "partition": partition, "next_offset": offset}
            for (topic, partition), offset in positions.items()
        ]
        await self._conn.execute(statement, rows)


class SqlUnitOfWork:
    """One connection and one transaction; rolled back unless commit() was called.
    With a tracer, the transaction is a span (a child of the current one)."""

    def __init__(self, engine: AsyncEngine, tracer: Tracer | None = None) -> None:
        self._engine, self._tracer = engine, tracer
        self._conn: AsyncConnection | None = None
        self._span: Span | None = None

    async def __aenter__(self) -> Self:
        if self._tracer is not None:
            self._span = self._tracer.start_span(
                "store transaction",
                kind=SpanKind.CLIENT,
                attributes={"db.system.name": self._engine.dialect.name},
            )
        try:
            self._conn = await self._engine.connect()
            await self._conn.begin()
        except BaseException as exc:
            self._end_span(exc)
            raise
        self.letters = SqlLetterRepository(self._conn)
        self.notices = SqlNoticeOutbox(self._conn)
        self.journal = SqlRequestJournal(self._conn)
        self.partners = SqlPartnerExchange(self._conn)
        self.audit = SqlAuditLedger(self._conn)
        self.status_notices = SqlStatusNoticeOutbox(self._conn)
        self.relay_positions = SqlRelayPositions(self._conn)
        self.rollup = SqlRequestRollup(self._conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            if self._conn.in_transaction():
                await self._conn.rollback()
        finally:
            await self._conn.close()
            self._conn = None
            self._end_span(exc)
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            # SQLAlchemy has discarded the pool's connections; the caller may simply retry.
            raise ConnectionLost(str(exc.orig)) from exc

    def _end_span(self, exc: BaseException | None) -> None:
        if self._span is None:
            return
        if exc is not None:
            self._span.record_exception(exc)
            self._span.set_status(StatusCode.ERROR)
        self._span.end()
        self._span = None

    async def commit(self) -> None:
        assert self._conn is not None
        await self._conn.commit()
