"""The archive's tables at the newest schema revision (SQLAlchemy Core).

This is what the queries in :mod:`godel.archive._sql` are written against. The Alembic migrations in
``godel/archive/migrations/versions`` build exactly this schema (a test compares the two), so any change here needs a
new migration.

JSON values are stored as text the archive serialises itself (not ``JSON``/``JSONB``): a score may be ``inf`` or
``nan``, which PostgreSQL's JSONB refuses, and the event hash chain needs byte-exact canonical text.
"""

from __future__ import annotations

import sqlalchemy as sa

from godel.archive._base import HEAD_REVISION

__all__ = ["HEAD_REVISION", "candidates", "checkpoints", "events", "leases", "metadata", "runs"]


metadata = sa.MetaData()

# SQLite only aliases the rowid for a column declared exactly INTEGER PRIMARY KEY; PostgreSQL gets BIGSERIAL.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("task", sa.String(200), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("config", sa.Text(), nullable=False),
    sa.Column("meta", sa.Text(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.UniqueConstraint("name", name="uq_runs_name"),
    sa.Index("ix_runs_task", "task", "id"),
)

candidates = sa.Table(
    "candidates",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("run_id", Id, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("iteration", sa.Integer(), nullable=False),
    sa.Column("parent_id", Id, sa.ForeignKey("candidates.id"), nullable=True),
    sa.Column("generation", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("score", sa.Double(), nullable=True),
    # bool(flags) and not verdict["cleared"]: what best() and selection must skip, kept as a column so rows() and
    # best() need not parse JSON.
    sa.Column("flagged", sa.Boolean(), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("code", sa.LargeBinary(), nullable=False),  # zlib(JSON of path -> text)
    sa.Column("diff", sa.LargeBinary(), nullable=True),  # zlib(unified diff against the parent)
    sa.Column("detail", sa.LargeBinary(), nullable=False),  # zlib(JSON: prompt, edit, artifacts, evaluation)
    sa.Column("metrics", sa.Text(), nullable=False),
    sa.Column("verdict", sa.Text(), nullable=False),
    sa.Column("flags", sa.Text(), nullable=False),
    sa.Column("timings", sa.Text(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("failure_stage", sa.String(32), nullable=True),
    sa.Column("proposer", sa.String(100), nullable=False),
    sa.Column("model", sa.String(200), nullable=True),
    sa.Column("tokens_in", sa.Integer(), nullable=False),
    sa.Column("tokens_out", sa.Integer(), nullable=False),
    sa.Column("cost", sa.Double(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    # Multi-worker evaluation (revision 0002): which worker holds a pending candidate, and since when.
    sa.Column("claimed_by", sa.String(200), nullable=True),
    sa.Column("claimed_at", sa.Double(), nullable=True),
    sa.Column("heartbeat_at", sa.Double(), nullable=True),
    sa.UniqueConstraint("run_id", "iteration", name="uq_candidates_run_iteration"),
    sa.Index("ix_candidates_run_status_score", "run_id", "status", "score"),
    sa.Index("ix_candidates_parent", "parent_id"),
    sa.Index("ix_candidates_run_digest", "run_id", "digest"),
    sa.Index("ix_candidates_claim", "run_id", "status", "claimed_by"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("run_id", Id, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),  # canonical JSON, exactly the text that was hashed
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("run_id", "seq", name="uq_events_run_seq"),
)

# Signed checkpoints of the event chains (revision 0003): "run R had SIZE events, the last with hash HEAD, at TIME",
# signed with an Ed25519 key the archive never holds (see godel.guard's audit). Kept as written; verified by readers.
checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("run_id", Id, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("size", sa.Integer(), nullable=False),
    sa.Column("head", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("signature", sa.String(128), nullable=False),  # hex of the 64-byte Ed25519 signature
    sa.UniqueConstraint("run_id", "size", name="uq_checkpoints_run_size"),
)

# One local owner per run (revision 0004): who drives the run now, when it last said it is alive, and whose stale
# lease it took over. Workers sharing a run through claims never take it.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column(
        "run_id", Id, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    ),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.Double(), nullable=False),
    sa.Column("renewed_at", sa.Double(), nullable=False),
    sa.Column("ttl", sa.Double(), nullable=False),
    sa.Column("taken_over_from", sa.String(200), nullable=True),
)
