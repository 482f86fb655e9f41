"""Run leases: one local owner per run at a time (owner, when it took the run, its last heartbeat, its ttl, and
whose stale lease it took over).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen copy of the column types of this revision: a migration must not change when _schema.py does.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # A new table only: no run of an older archive is owned (an older godel never took leases).
    op.create_table(
        "leases",
        sa.Column(
            "run_id", Id, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
        ),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("acquired_at", sa.Double(), nullable=False),
        sa.Column("renewed_at", sa.Double(), nullable=False),
        sa.Column("ttl", sa.Double(), nullable=False),
        sa.Column("taken_over_from", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("leases")
