"""legal deadlines: deadline class, forwarding date, extension; the working-day calendar

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 09:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deadline_class", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("forwarding_date", sa.Date(), nullable=True))
        # rows written before this revision have no extension: sequence 0 (never set)
        batch_op.add_column(
            sa.Column("extension_seq", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("extension_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("extension_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("extension_applicant_told", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("extension_due_date", sa.Date(), nullable=True))

    op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("covered", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    with op.batch_alter_table("calendar_days", schema=None) as batch_op:
        batch_op.create_index("ix_calendar_days_ordinal", ["ordinal"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calendar_days", schema=None) as batch_op:
        batch_op.drop_index("ix_calendar_days_ordinal")
    op.drop_table("calendar_days")
    with op.batch_alter_table("letters", schema=None) as batch_op:
        for column in (
            "extension_due_date",
            "extension_applicant_told",
            "extension_reason",
            "extension_days",
            "extension_seq",
            "forwarding_date",
            "deadline_class",
        ):
            batch_op.drop_column(column)
