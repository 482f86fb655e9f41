"""Multi-worker claims on candidates: who evaluates a pending candidate, since when, last heartbeat.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: ADD COLUMN works in place on SQLite and PostgreSQL, existing rows read as unclaimed.
    op.add_column("candidates", sa.Column("claimed_by", sa.String(200), nullable=True))
    op.add_column("candidates", sa.Column("claimed_at", sa.Double(), nullable=True))
    op.add_column("candidates", sa.Column("heartbeat_at", sa.Double(), nullable=True))
    op.create_index("ix_candidates_claim", "candidates", ["run_id", "status", "claimed_by"])


def downgrade() -> None:
    op.drop_index("ix_candidates_claim", table_name="candidates")
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by")
