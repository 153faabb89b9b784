"""status-change notices carry the letter's extension (art. 10.2: the applicant is told)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 12:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = ("extension_due_date", "extension_days", "extension_reason", "extension_provisional")


def upgrade() -> None:
    # notices queued before this revision carry no extension: all four stay null
    with op.batch_alter_table("status_notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extension_due_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("extension_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("extension_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("extension_provisional", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("status_notices", schema=None) as batch_op:
        for column in reversed(COLUMNS):
            batch_op.drop_column(column)
