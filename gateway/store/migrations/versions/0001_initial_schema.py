"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 17:43:09.364598
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "letter_history",
        sa.Column("registration_number", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("registration_number", "sequence"),
    )
    op.create_table(
        "letters",
        sa.Column("registration_number", sa.String(length=64), nullable=False),
        sa.Column("registration_seq", sa.BigInteger(), nullable=False),
        sa.Column("registration_date", sa.Date(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("applicant_kind", sa.String(length=8), nullable=True),
        sa.Column("applicant_hash", sa.String(length=64), nullable=True),
        sa.Column("forwarded_by_code", sa.String(length=32), nullable=True),
        sa.Column("sender_reference", sa.String(length=64), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("assignment_seq", sa.BigInteger(), nullable=False),
        sa.Column("department_code", sa.String(length=32), nullable=True),
        sa.Column("department_name", sa.String(length=200), nullable=True),
        sa.Column("executor_id", sa.String(length=32), nullable=True),
        sa.Column("executor_name", sa.String(length=200), nullable=True),
        sa.Column("executor_phone", sa.String(length=32), nullable=True),
        sa.Column("status_seq", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("forwarding_seq", sa.BigInteger(), nullable=False),
        sa.Column("forwarded_to_code", sa.String(length=32), nullable=True),
        sa.Column("forwarded_to_name", sa.String(length=200), nullable=True),
        sa.Column("forwarding_reference", sa.String(length=64), nullable=True),
        sa.Column("conclusion_seq", sa.BigInteger(), nullable=False),
        sa.Column("answer_date", sa.Date(), nullable=True),
        sa.Column("answer_reference", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("registration_number"),
    )
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.create_index(
            "ix_letters_sender_reference", ["forwarded_by_code", "sender_reference"], unique=False
        )

    op.create_table(
        "notice_outbox",
        sa.Column("notice_id", sa.String(length=36), nullable=False),
        sa.Column("registration_number", sa.String(length=64), nullable=False),
        sa.Column("registration_date", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_kind", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("notice_id"),
        sa.UniqueConstraint("registration_number"),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("registration_number", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "request_audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("correlation_id", sa.String(length=128), nullable=True),
        sa.Column("request_topic", sa.String(length=249), nullable=False),
        sa.Column("reply_topic", sa.String(length=249), nullable=True),
        sa.Column("end_user_hash", sa.String(length=64), nullable=True),
        sa.Column("operator_id", sa.String(length=64), nullable=True),
        sa.Column("registration_number", sa.String(length=256), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("reply_hash", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("request_audit", schema=None) as batch_op:
        batch_op.create_index("ix_request_audit_message", ["client_id", "message_id"], unique=False)
        batch_op.create_index("ix_request_audit_received_at", ["received_at"], unique=False)

    op.create_table(
        "sent_replies",
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("reply", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "message_id"),
    )


def downgrade() -> None:

    op.drop_table("sent_replies")
    with op.batch_alter_table("request_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_request_audit_received_at")
        batch_op.drop_index("ix_request_audit_message")

    op.drop_table("request_audit")
    op.drop_table("processed_events")
    op.drop_table("notice_outbox")
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.drop_index("ix_letters_sender_reference")

    op.drop_table("letters")
    op.drop_table("letter_history")
