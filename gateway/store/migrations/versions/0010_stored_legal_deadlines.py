"""letters carry their legal deadline figures; deadline_basis records what they came from

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 15:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OPEN = "legal_done_on IS NULL AND legal_due_date IS NOT NULL"


def upgrade() -> None:
    # Null until the gateway's next start stores the calendar: no basis row yet, so every
    # letter's figures are computed then (gateway.store.legal_deadlines.rebase).
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legal_due_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("legal_done_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("legal_working_days_taken", sa.Integer(), nullable=True))
        batch_op.create_index("ix_letters_legal_due", ["legal_due_date"], unique=False)
        batch_op.create_index(
            "ix_letters_open_legal_due",
            ["department_code", "department_name", "legal_due_date", "registration_number"],
            unique=False,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )
    op.create_table(
        "deadline_basis",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("general", sa.Integer(), nullable=False),
        sa.Column("additional_study", sa.Integer(), nullable=False),
        sa.Column("max_extension", sa.Integer(), nullable=False),
        sa.Column("forwarding", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("deadline_basis")
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.drop_index("ix_letters_open_legal_due")
        batch_op.drop_index("ix_letters_legal_due")
        for column in ("legal_working_days_taken", "legal_done_on", "legal_due_date"):
            batch_op.drop_column(column)
