"""Strategy memory and replay: what worked and what failed, read from the archive (it is the archive, not a second
store).

* :class:`Memory` queries runs: the edits that improved on their parent (:meth:`Memory.strategies`), the failures
  with their reasons, filtered by proposer, model, kind (the stage that stopped them) or text
  (:meth:`Memory.failures`), and a reproducible sample of them (:meth:`Memory.sample_failures`).
* :class:`StrategyIndex` retrieves, for a parent about to be edited, the earlier improving edits that touched the
  most similar code; a run with ``proposer.strategies = k`` shows the model ``k`` of them.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from godel.archive import Archive
from godel.candidate import Candidate, Program, Status

__all__ = ["Failure", "Memory", "Strategy", "StrategyIndex", "strategy_of"]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_DIFF_CHARS = 1500


@dataclass(frozen=True)
class Strategy:
    """An edit that improved on its parent."""

    candidate: int
    run_id: int
    parent: int
    gain: float
    proposer: str
    model: str | None
    diff: str
    diagnosis: str  # what the proposer said about it (a self-improving agent's diagnosis), if anything
    words: frozenset[str]  # identifiers of the code it changed (removed and context lines)

    def describe(self) -> str:
        return f"candidate {self.candidate} (+{self.gain:.4g} over its parent, by {self.proposer})"


@dataclass(frozen=True)
class Failure:
    candidate: int
    run_id: int
    iteration: int
    proposer: str
    model: str | None
    kind: str  # the stage that stopped it: propose, guard, duplicate, predicted, evaluate, ...
    reason: str


def _words(diff: str) -> frozenset[str]:
    old = [ln[1:] for ln in diff.splitlines() if ln[:1] in (" ", "-") and not ln.startswith("---")]
    return frozenset(_WORD.findall("\n".join(old)))


def strategy_of(cand: Candidate, parent: Candidate) -> Strategy | None:
    """``cand`` as a strategy, when it is an unflagged evaluated child that beat its parent."""
    if (
        cand.id is None
        or parent.id is None
        or cand.status != Status.OK
        or cand.flags
        or cand.score is None
        or parent.score is None
        or cand.score <= parent.score
        or not cand.diff
    ):
        return None
    meta = cand.evaluation.get("proposal_meta") or {}
    diagnosis = str(meta.get("diagnosis", "")) if isinstance(meta, dict) else ""
    return Strategy(
        candidate=cand.id,
        run_id=cand.run_id,
        parent=parent.id,
        gain=cand.score - parent.score,
        proposer=cand.proposer,
        model=cand.model,
        diff=cand.diff[:_DIFF_CHARS],
        diagnosis=diagnosis[:300],
        words=_words(cand.diff),
    )


class Memory:
    """Read-only queries over an archive's runs."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def _runs(self, run_ids: Sequence[int] | None) -> list[int]:
        return list(run_ids) if run_ids is not None else [r.id for r in self.archive.runs()]

    def strategies(self, run_ids: Sequence[int] | None = None, *, limit: int | None = None) -> list[Strategy]:
        """Improving edits of ``run_ids`` (default: every run), largest gain first."""
        out: list[Strategy] = []
        for run_id in self._runs(run_ids):
            cands = self.archive.candidates(run_id, status=Status.OK)
            by_id = {c.id: c for c in cands}
            for c in cands:
                parent = by_id.get(c.parent_id) if c.parent_id is not None else None
                s = strategy_of(c, parent) if parent is not None else None
                if s is not None:
                    out.append(s)
        out.sort(key=lambda s: (-s.gain, s.run_id, s.candidate))
        return out[:limit] if limit is not None else out

    def failures(
        self,
        run_ids: Sequence[int] | None = None,
        *,
        proposer: str | None = None,
        model: str | None = None,
        kind: str | None = None,
        contains: str | None = None,
        limit: int | None = None,
    ) -> list[Failure]:
        """Failed and rejected candidates with their reasons, oldest first, filtered by every filter given
        (``proposer`` matches the proposer's name or its family before ``:``, ``contains`` the reason's text)."""
        out: list[Failure] = []
        for run_id in self._runs(run_ids):
            for c in self.archive.candidates(run_id, status=(Status.FAILED, Status.REJECTED)):
                f = Failure(
                    c.id or 0, run_id, c.iteration, c.proposer, c.model, c.failure_stage or "", c.reason or ""
                )
                if proposer is not None and proposer not in (f.proposer, f.proposer.split(":", 1)[0]):
                    continue
                if model is not None and f.model != model:
                    continue
                if kind is not None and f.kind != kind:
                    continue
                if contains is not None and contains.lower() not in f.reason.lower():
                    continue
                out.append(f)
                if limit is not None and len(out) >= limit:
                    return out
        return out

    def sample_failures(
        self, n: int, rng: random.Random, run_ids: Sequence[int] | None = None, **filters: str | None
    ) -> list[Failure]:
        """``n`` failures drawn without replacement (all of them when there are fewer)."""
        pool = self.failures(run_ids, **filters)  # type: ignore[arg-type]
        return rng.sample(pool, min(n, len(pool)))


class StrategyIndex:
    """Improving edits, retrieved by how much of the code they changed a parent still has. Thread-safe."""

    def __init__(self, strategies: Iterable[Strategy] = ()) -> None:
        self._lock = threading.Lock()
        self._items: list[Strategy] = list(strategies)
        self._seen = {s.candidate for s in self._items}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, strategy: Strategy) -> None:
        with self._lock:
            if strategy.candidate not in self._seen:
                self._seen.add(strategy.candidate)
                self._items.append(strategy)

    def similar(self, program: Program, k: int, *, exclude: int | None = None) -> list[Strategy]:
        """Up to ``k`` strategies whose changed code the program most shares (ties: the larger gain)."""
        if k <= 0:
            return []
        words = frozenset(_WORD.findall("\n".join(program.files.values())))
        with self._lock:
            items = list(self._items)
        scored = []
        for s in items:
            if s.candidate == exclude or not s.words:
                continue
            overlap = len(s.words & words) / len(s.words)
            if overlap > 0:
                scored.append((overlap, s.gain, -s.candidate, s))
        scored.sort(key=lambda t: (t[0], t[1], t[2]), reverse=True)
        return [t[3] for t in scored[:k]]
