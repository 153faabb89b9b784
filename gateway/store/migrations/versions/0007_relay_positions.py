"""relay positions: where each outbox relay knows it has written

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relay_positions",
        sa.Column("relay", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("relay", "topic", "partition"),
    )


def downgrade() -> None:
    op.drop_table("relay_positions")
