"""The SQL archive: one implementation for SQLite and PostgreSQL on SQLAlchemy 2 Core.

It is put together from one class per seam, each in its own module: the connection and its transactions
(:mod:`~godel.archive._connection`), runs (:mod:`~godel.archive._runs`), candidates
(:mod:`~godel.archive._candidates`), multi-worker claims (:mod:`~godel.archive._claims`), run leases
(:mod:`~godel.archive._leases`) and events with their signed checkpoints (:mod:`~godel.archive._events`).
"""

from __future__ import annotations

from godel.archive._claims import ClaimStore
from godel.archive._connection import SUPPORTED_SCHEMES, normalise_url
from godel.archive._events import EventStore
from godel.archive._leases import LeaseStore
from godel.archive._runs import RUN_STATUSES, RunStore

__all__ = ["RUN_STATUSES", "SUPPORTED_SCHEMES", "SQLArchive", "normalise_url"]


class SQLArchive(RunStore, ClaimStore, LeaseStore, EventStore):
    """An :class:`~godel.archive.Archive` in an SQL database (``sqlite:///path`` or ``postgresql+psycopg://...``)."""
