"""requests rolled up by day, for reports and dashboards over months and years

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 15:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("request_topic", sa.String(length=249), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "request_topic", "client_id", "outcome"),
    )
    op.create_table(
        "reply_time_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("request_topic", sa.String(length=249), nullable=False),
        sa.Column("upper_ms", sa.BigInteger(), nullable=False),
        sa.Column("replies", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "request_topic", "upper_ms"),
    )
    position = op.create_table(
        "request_rollup_position",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("through_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Nothing rolled up yet: the rollup catches up on the audit rows already there, in the
    # background, and until then reports read them from request_audit (slower, the same).
    op.bulk_insert(position, [{"id": 1, "through_id": 0}])


def downgrade() -> None:
    op.drop_table("request_rollup_position")
    op.drop_table("reply_time_days")
    op.drop_table("request_days")
