"""sealed audit log (blocks, seals), audit rows by letter, status-change notices

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-28 09:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_audit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_request_audit_letter", ["registration_number", "received_at"], unique=False
        )
    op.create_table(
        "audit_blocks",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("after_row_id", sa.BigInteger(), nullable=False),
        sa.Column("last_row_id", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("rows_root", sa.String(length=64), nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=False),
        sa.Column("block_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("witnessed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("number"),
        sa.UniqueConstraint("after_row_id"),
        sa.UniqueConstraint("last_row_id"),
    )
    with op.batch_alter_table("audit_blocks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_blocks_unwitnessed", ["witnessed_at", "number"], unique=False
        )
    op.create_table(
        "audit_seals",
        sa.Column("row_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("row_id"),
    )
    with op.batch_alter_table("audit_seals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_seals_block_number"), ["block_number"], unique=False
        )

    op.create_table(
        "status_notices",
        sa.Column("registration_number", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("department_code", sa.String(length=32), nullable=True),
        sa.Column("department_name", sa.String(length=200), nullable=True),
        sa.Column("executor_name", sa.String(length=200), nullable=True),
        sa.Column("executor_phone", sa.String(length=32), nullable=True),
        sa.Column("answer_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("registration_number", "sequence"),
    )
    with op.batch_alter_table("status_notices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_status_notices_pending", ["published_at", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("status_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_status_notices_pending")
    op.drop_table("status_notices")
    with op.batch_alter_table("audit_seals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_seals_block_number"))
    op.drop_table("audit_seals")
    with op.batch_alter_table("audit_blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_blocks_unwitnessed")
    op.drop_table("audit_blocks")
    with op.batch_alter_table("request_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_request_audit_letter")
