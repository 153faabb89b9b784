"""Table definitions (SQLAlchemy Core). The Alembic migrations are the source of truth for DDL;
these mirror them for queries, and a test checks the two agree."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)

from gateway.domain.letters import FIELD_GROUPS


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

letters = Table(
    "letters",
    metadata,
    Column("registration_number", String(64), primary_key=True),
    Column("registration_seq", BigInteger, nullable=False),
    Column("registration_date", Date),
    Column("channel", String(16)),
    Column("applicant_kind", String(8)),
    Column("applicant_hash", String(64)),
    Column("forwarded_by_code", String(32)),
    Column("sender_reference", String(64)),
    Column("due_date", Date),
    Column("deadline_class", String(24)),
    Column("assignment_seq", BigInteger, nullable=False),
    Column("department_code", String(32)),
    Column("department_name", String(200)),
    Column("executor_id", String(32)),
    Column("executor_name", String(200)),
    Column("executor_phone", String(32)),
    Column("status_seq", BigInteger, nullable=False),
    Column("status", String(32)),
    Column("status_at", UtcDateTime),
    Column("forwarding_seq", BigInteger, nullable=False),
    Column("forwarded_to_code", String(32)),
    Column("forwarded_to_name", String(200)),
    Column("forwarding_reference", String(64)),
    Column("forwarding_date", Date),
    Column("conclusion_seq", BigInteger, nullable=False),
    Column("answer_date", Date),
    Column("answer_reference", String(64)),
    Column("extension_seq", BigInteger, nullable=False, server_default="0"),
    Column("extension_days", Integer),
    Column("extension_reason", Text),
    Column("extension_applicant_told", Boolean),
    Column("extension_due_date", Date),
    # The legal deadline's figures, derived (gateway.store.legal_deadlines): null where the
    # calendar rows do not reach the letter's registration or due date.
    Column("legal_due_date", Date),
    Column("legal_done_on", Date),
    Column("legal_working_days_taken", Integer),
    Index("ix_letters_sender_reference", "forwarded_by_code", "sender_reference"),
    Index("ix_letters_department_due", "department_code", "due_date"),
    Index("ix_letters_legal_due", "legal_due_date"),
    # open letters by department: overdue and due-soon counts read only this index
    Index(
        "ix_letters_open_legal_due",
        "department_code",
        "department_name",
        "legal_due_date",
        "registration_number",
        sqlite_where=text("legal_done_on IS NULL AND legal_due_date IS NOT NULL"),
        postgresql_where=text("legal_done_on IS NULL AND legal_due_date IS NOT NULL"),
    ),
)
LEGAL_DEADLINE_COLUMNS = ("legal_due_date", "legal_done_on", "legal_working_days_taken")
# What ingestion writes: the letter as the DMS events made it, without the derived figures.
LETTER_EVENT_COLUMNS = [c for c in letters.c if c.name not in LEGAL_DEADLINE_COLUMNS]

# The working-day calendar as rows, so reports count working days in SQL: `ordinal` is the
# number of working days from the table's first day up to and including `day`, so the N-th
# working day after D is the working day whose ordinal is ordinal(D) + N. Rewritten at start
# from the calendar files (gateway.services.deadlines); `covered` is false for a year the
# files lack (counted on weekends alone).
calendar_days = Table(
    "calendar_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("working", Boolean, nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("covered", Boolean, nullable=False),
    Index("ix_calendar_days_ordinal", "ordinal"),
)

# One row: what the letters' stored legal deadline figures were computed from. `fingerprint`
# digests the calendar rows and the terms below; the terms are kept so that the write path
# computes new letters' figures from the same rules as the stored ones.
deadline_basis = Table(
    "deadline_basis",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("fingerprint", String(64), nullable=False),
    Column("general", Integer, nullable=False),
    Column("additional_study", Integer, nullable=False),
    Column("max_extension", Integer, nullable=False),
    Column("forwarding", Integer, nullable=False),
)

letter_history = Table(
    "letter_history",
    metadata,
    Column("registration_number", String(64), primary_key=True),
    Column("sequence", BigInteger, primary_key=True),
    Column("status", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("note", Text),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("registration_number", String(64), nullable=False),
)

# Regulation 3.5.1: every request and its result. Append-only: the code only inserts.
request_audit = Table(
    "request_audit",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("client_id", String(128), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("correlation_id", String(128)),
    Column("request_topic", String(249), nullable=False),
    Column("reply_topic", String(249)),
    Column("end_user_hash", String(64)),
    Column("operator_id", String(64)),
    Column("registration_number", String(256)),
    Column("outcome", String(40), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("reply_hash", String(64)),
    Column("received_at", UtcDateTime, nullable=False),
    Column("replied_at", UtcDateTime, nullable=False),
    Index("ix_request_audit_received_at", "received_at"),
    Index("ix_request_audit_message", "client_id", "message_id"),
    Index("ix_request_audit_letter", "registration_number", "received_at"),  # access logs
)

# A redelivered request (same client and message id) gets the very same reply bytes.
sent_replies = Table(
    "sent_replies",
    metadata,
    Column("client_id", String(128), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("reply", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("client_id", "message_id"),
)

# Acceptance notices (regulation 1.2), written in the ingesting transaction and relayed to
# Kafka afterwards. The end user's id is needed in the notice, so it waits here in plain text
# only until the notice is published, then it is erased.
notice_outbox = Table(
    "notice_outbox",
    metadata,
    Column("notice_id", String(36), primary_key=True),
    Column("registration_number", String(64), nullable=False, unique=True),
    Column("registration_date", Date, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("user_kind", String(8), nullable=False),
    Column("user_id", String(32)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime),
)

# What partners told us became of letters we forwarded to them (one row per report).
partner_reports = Table(
    "partner_reports",
    metadata,
    Column("partner_code", String(32), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("registration_number", String(64), nullable=False, index=True),
    Column("outcome", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("partner_reference", String(64)),
    Column("note", Text),
    Column("recorded_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("partner_code", "message_id"),
)

# Status-change notifications for partners, queued in the ingesting transaction and relayed
# in order per letter; the key makes each change notified once.
partner_notifications = Table(
    "partner_notifications",
    metadata,
    Column("partner_code", String(32), nullable=False),
    Column("registration_number", String(64), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("sender_reference", String(64)),
    Column("status", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("note", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime),
    PrimaryKeyConstraint("partner_code", "registration_number", "sequence"),
    Index("ix_partner_notifications_pending", "published_at", "created_at"),
)

# The sealed audit log (gateway/domain/audit_chain.py): one row per block, its head fields
# as hashed, and when the head reached the witness topic (not hashed: set after publishing).
audit_blocks = Table(
    "audit_blocks",
    metadata,
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("after_row_id", BigInteger, nullable=False, unique=True),
    Column("last_row_id", BigInteger, nullable=False, unique=True),
    Column("row_count", Integer, nullable=False),
    Column("rows_root", String(64), nullable=False),
    Column("previous_hash", String(64), nullable=False),
    Column("block_hash", String(64), nullable=False),
    Column("sealed_at", UtcDateTime, nullable=False),
    Column("witnessed_at", UtcDateTime),
    Index("ix_audit_blocks_unwitnessed", "witnessed_at", "number"),
)

# Which block sealed each audit row, and the row's hash then: verification names the row
# that was changed or deleted. No foreign key: a deleted row must leave its seal behind.
audit_seals = Table(
    "audit_seals",
    metadata,
    Column("row_id", BigInteger, primary_key=True, autoincrement=False),
    Column("block_number", BigInteger, nullable=False, index=True),
    Column("row_hash", String(64), nullable=False),
)

# Status-change notices to the portal (letters from an electronic channel), queued in the
# ingesting transaction and relayed in sequence order per letter; the key makes each change
# noticed once.
status_notices = Table(
    "status_notices",
    metadata,
    Column("registration_number", String(64), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("status", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("department_code", String(32)),
    Column("department_name", String(200)),
    Column("executor_name", String(200)),
    Column("executor_phone", String(32)),
    Column("answer_date", Date),
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime),
    # the letter's extension (art. 10.2) when the notice was queued; all null: none
    Column("extension_due_date", Date),
    Column("extension_days", Integer),
    Column("extension_reason", Text),
    Column("extension_provisional", Boolean),
    PrimaryKeyConstraint("registration_number", "sequence"),
    Index("ix_status_notices_pending", "published_at", "created_at"),
)

# The operator console's local accounts (argon2id hashes); roles and departments comma-separated.
console_accounts = Table(
    "console_accounts",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(256), nullable=False),
    Column("roles", String(200), nullable=False),
    Column("departments", String(1000), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Every console sign-in attempt, sign-out and refusal. Append-only.
console_signins = Table(
    "console_signins",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UtcDateTime, nullable=False),
    Column("username", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("client", String(64), nullable=False),
    Column("method", String(16), nullable=False),
)

# Dead letters and their reasons, as published to the dead-letter topic (bytes stay there).
dead_letters = Table(
    "dead_letters",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("topic", String(249), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("reason", String(40), nullable=False),
    Column("detail", Text, nullable=False),
    Column("path", Text),
    Index("ix_dead_letters_recorded_at", "recorded_at"),
)

# How far each outbox relay knows its output topics hold only records it has marked published:
# after a crash between publishing and marking, the relay reads its topics from here to learn
# which of its pending messages are already there (producers/outbox_relay.py).
relay_positions = Table(
    "relay_positions",
    metadata,
    Column("relay", String(64), nullable=False),
    Column("topic", String(249), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("next_offset", BigInteger, nullable=False),
    PrimaryKeyConstraint("relay", "topic", "partition"),
)

# Requests rolled up by UTC day (gateway/domain/request_rollup.py), kept by
# services/request_rollup.py in step with the audit seal: rows with ids up to
# request_rollup_position.through_id are counted here, later ones are read from request_audit.
request_days = Table(
    "request_days",
    metadata,
    Column("day", Date, nullable=False),
    Column("request_topic", String(249), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("outcome", String(40), nullable=False),
    Column("requests", BigInteger, nullable=False),
    PrimaryKeyConstraint("day", "request_topic", "client_id", "outcome"),
)

reply_time_days = Table(
    "reply_time_days",
    metadata,
    Column("day", Date, nullable=False),
    Column("request_topic", String(249), nullable=False),
    Column("upper_ms", BigInteger, nullable=False),  # the bucket's upper edge
    Column("replies", BigInteger, nullable=False),
    PrimaryKeyConstraint("day", "request_topic", "upper_ms"),
)

request_rollup_position = Table(
    "request_rollup_position",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # one row, id 1
    Column("through_id", BigInteger, nullable=False),
)

# The letters table's columns by field group, each under the sequence that set it: the
# store's side of Letter.merge. A field is the column of its name, except the value objects
# below, which take several (a unit test checks that the groups cover the table exactly).
_COLUMNS_OF_FIELD = {
    "department": ("department_code", "department_name"),
    "executor": ("executor_id", "executor_name", "executor_phone"),
    "forwarded_to": ("forwarded_to_code", "forwarded_to_name"),
}
LETTER_COLUMN_GROUPS: dict[str, tuple[str, ...]] = {
    seq: tuple(column for f in fields for column in _COLUMNS_OF_FIELD.get(f, (f,)))
    for seq, fields in FIELD_GROUPS.items()
}
