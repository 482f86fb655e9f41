"""What the pipeline's store stage writes through: the ledger (how a candidate enters the archive), the event log
and a small cache of candidates by id."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from godel.archive import Archive, Event
from godel.candidate import Candidate, Program
from godel.redact import redact_obj
from godel.telemetry import Telemetry

__all__ = ["CandidateCache", "EventLog", "Ledger", "LocalLedger"]

_CACHE_SIZE = 4096


class Ledger(Protocol):
    """How the store stage puts a candidate into the archive, and what counts as an earlier copy of its code."""

    def insert(self, cand: Candidate) -> Candidate:
        """Store ``cand``; return it with its id (and its iteration, when the ledger numbers candidates)."""
        ...

    def duplicate_of(self, run_id: int, program: Program, key: str, seen: Mapping[str, int]) -> int | None:
        """An earlier candidate with the same code as ``program``, or None. ``key`` is the program's code key (its
        syntax-tree digest, by default) and ``seen`` what the iteration may know of (code key -> candidate id), as
        the select stage decided."""
        ...

    def holding(self, cid: int) -> contextlib.AbstractContextManager[None]:
        """Held while the candidate is being evaluated (a worker keeps its claim alive meanwhile)."""
        ...


class LocalLedger:
    """One process owns the run: candidates go straight into the archive under the iteration the scheduler chose,
    and a duplicate is an earlier candidate the iteration could see (so the check is deterministic)."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def insert(self, cand: Candidate) -> Candidate:
        stored = replace(cand)
        self.archive.add_candidate(stored)
        return stored

    def duplicate_of(self, run_id: int, program: Program, key: str, seen: Mapping[str, int]) -> int | None:
        return seen.get(key)

    def holding(self, cid: int) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class CandidateCache:
    """The most recently used candidates by id, so parents and inspirations are not read back from the archive."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self._lock = threading.Lock()
        self._items: OrderedDict[int, Candidate] = OrderedDict()

    def get(self, cid: int) -> Candidate:
        with self._lock:
            cand = self._items.get(cid)
            if cand is not None:
                self._items.move_to_end(cid)
                return cand
        cand = self.archive.get_candidate(cid)
        self.remember(cand)
        return cand

    def remember(self, cand: Candidate) -> None:
        if cand.id is None:
            return
        with self._lock:
            self._items[cand.id] = cand
            self._items.move_to_end(cand.id)
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)


class EventLog:
    """The run's event stream: every event is redacted, stored in the archive's chain, counted, and shown."""

    def __init__(
        self,
        archive: Archive,
        telemetry: Telemetry,
        listener: Callable[[str, dict[str, Any]], None] | None = None,
        actor: str = "engine",
        stored: Callable[[Event], object] | None = None,
    ) -> None:
        self.archive = archive
        self.telemetry = telemetry
        self.listener = listener
        self.actor = actor
        self.stored = (
            stored  # sees every event as the archive stored it (the audit checkpointer signs from it)
        )

    def emit(self, run_id: int, kind: str, payload: dict[str, Any], actor: str | None = None) -> None:
        # Redacted before the archive hashes it: the audit chain must never hold a secret.
        clean = redact_obj(payload)
        event = self.archive.add_event(run_id, kind, clean, actor or self.actor)
        if self.stored is not None:
            self.stored(event)
        self.telemetry.event(kind, clean)
        if self.listener is not None:
            self.listener(kind, clean)
