"""The conformance suite every :class:`~godel.archive.Archive` backend must pass.

Subclass :class:`ArchiveConformance` in a test module and provide the ``make_archive`` fixture: a *picklable*
callable that opens the same fresh, empty storage each time it is called (the first call creates it; later calls
reopen it, from this process or a child process)::

    import functools, pytest
    from godel.archive import open_archive
    from godel.archive.testing import ArchiveConformance

    class TestSQLite(ArchiveConformance):
        @pytest.fixture
        def make_archive(self, tmp_path):
            return functools.partial(open_archive, f"sqlite:///{tmp_path}/a.db")

The suite closes every archive it opens. Its cases are grouped by what they cover, one module each (runs and
candidates, claims and leases, events and checkpoints); :class:`ArchiveConformance` is all of them.
"""

from __future__ import annotations

from godel.archive.testing._base import ArchiveFactory, damage_sqlite_archive, make_candidate
from godel.archive.testing._claims import ClaimAndLeaseCases
from godel.archive.testing._events import EventCases
from godel.archive.testing._runs import RunAndCandidateCases

__all__ = ["ArchiveConformance", "ArchiveFactory", "damage_sqlite_archive", "make_candidate"]


class ArchiveConformance(RunAndCandidateCases, ClaimAndLeaseCases, EventCases):
    """Behaviour shared by every archive backend. Subclasses provide the ``make_archive`` fixture."""
