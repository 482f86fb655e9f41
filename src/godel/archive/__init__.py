"""The archive: every run, candidate (code, lineage, outcome), hash-chained event with its signed checkpoints, and
who owns a run now (leases), in SQLite or PostgreSQL.

Open one with :func:`open_archive` and a URL::

    archive = open_archive("sqlite:///.godel/archive.db")          # relative to the current directory
    archive = open_archive("postgresql+psycopg://user:pw@host:5432/godel")

Opening creates the schema, or upgrades an archive made by an older godel (Alembic migrations shipped in
``godel/archive/migrations``); an archive from a newer godel is refused with :class:`~godel.errors.ArchiveError`.
Every backend passes the conformance suite in :mod:`godel.archive.testing`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from godel.archive._base import (
    Archive,
    CandidateRow,
    Checkpoint,
    Event,
    Lease,
    LeaseHeld,
    LeaseLost,
    RunInfo,
    RunLeased,
    StoredRow,
)
from godel.archive._chain import GENESIS, canonical_json, checkpoint_message, event_hash, verify_chain
from godel.archive._quick import quick_status

# What needs SQLAlchemy (the archive itself, leases) is imported on first use: a read command that answers from
# :func:`quick_status` never pays for it (~0.2 s of CPU). Type checkers see the plain imports.
if TYPE_CHECKING:
    from godel.archive._leases import LeaseKeeper, local_owner
    from godel.archive._sql import RUN_STATUSES, SUPPORTED_SCHEMES, SQLArchive, normalise_url

_LAZY = {
    "LeaseKeeper": "godel.archive._leases",
    "local_owner": "godel.archive._leases",
    "RUN_STATUSES": "godel.archive._sql",
    "SUPPORTED_SCHEMES": "godel.archive._sql",
    "SQLArchive": "godel.archive._sql",
    "normalise_url": "godel.archive._sql",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'godel.archive' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "GENESIS",
    "RUN_STATUSES",
    "SUPPORTED_SCHEMES",
    "Archive",
    "CandidateRow",
    "Checkpoint",
    "Event",
    "Lease",
    "LeaseHeld",
    "LeaseKeeper",
    "LeaseLost",
    "RunInfo",
    "RunLeased",
    "SQLArchive",
    "StoredRow",
    "canonical_json",
    "checkpoint_message",
    "event_hash",
    "local_owner",
    "normalise_url",
    "open_archive",
    "quick_status",
    "verify_chain",
]


def open_archive(url: str) -> Archive:
    """Open (creating or upgrading) the archive at ``url``; the backend is chosen by the URL's scheme.

    ``sqlite:///rel/path.db`` (relative to the current directory), ``sqlite:////abs/path.db``, ``sqlite://``
    (in memory), ``postgresql://``, ``postgres://`` or ``postgresql+psycopg://`` (psycopg 3). Any other scheme
    raises :class:`~godel.errors.ArchiveError` naming the supported ones.
    """
    from godel.archive._sql import SQLArchive

    return SQLArchive(url)
