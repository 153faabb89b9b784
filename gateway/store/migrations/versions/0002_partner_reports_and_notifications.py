"""partner reports and notifications

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:05:39.125666
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "partner_notifications",
        sa.Column("partner_code", sa.String(length=32), nullable=False),
        sa.Column("registration_number", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("sender_reference", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("partner_code", "registration_number", "sequence"),
    )
    with op.batch_alter_table("partner_notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_partner_notifications_pending", ["published_at", "created_at"], unique=False
        )

    op.create_table(
        "partner_reports",
        sa.Column("partner_code", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("registration_number", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("partner_reference", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partner_code", "message_id"),
    )
    with op.batch_alter_table("partner_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partner_reports_registration_number"),
            ["registration_number"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("partner_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_reports_registration_number"))

    op.drop_table("partner_reports")
    with op.batch_alter_table("partner_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_partner_notifications_pending")

    op.drop_table("partner_notifications")
