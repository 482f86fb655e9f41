from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from typing import TypeVar

from godel.archive._base import CandidateRow
from godel.candidate import Status
from godel.config import SelectorConfig
from godel.select import Pool, make_selector

P = TypeVar("P", bound=Pool)

NAMES = ("dgm", "fitness", "tournament", "greedy", "best-of-n")


def row(
    cid: int,
    score: float | None,
    parent: int | None = None,
    *,
    status: Status = Status.OK,
    flagged: bool = False,
    iteration: int | None = None,
) -> CandidateRow:
    return CandidateRow(
        id=cid,
        iteration=cid if iteration is None else iteration,
        parent_id=parent,
        generation=0,
        status=status,
        score=score,
        flagged=flagged,
    )


def selector(name: str, **options: object) -> Pool:
    cfg = SelectorConfig.model_validate({"name": name, **options})
    sel = make_selector(cfg)
    assert isinstance(sel, Pool)
    return sel


def feed(sel: P, rows: Iterable[CandidateRow]) -> P:
    for r in rows:
        sel.observe(r)
    return sel


def counts(sel: Pool, picks: int, seed: int = 0) -> Counter[int]:
    rng = random.Random(seed)
    return Counter(sel.pick(rng) for _ in range(picks))


def assert_matches(sel: Pool, picks: int = 20_000, seed: int = 0) -> None:
    """The empirical pick frequencies agree with ``probabilities()`` within 5 standard errors (+ a small floor)."""
    probs = sel.probabilities()
    assert abs(sum(probs.values()) - 1.0) < 1e-9
    seen = counts(sel, picks, seed)
    assert set(seen) <= set(probs), "picked a candidate with probability 0"
    for cid, p in probs.items():
        sd = (p * (1 - p) / picks) ** 0.5
        assert abs(seen[cid] / picks - p) <= 5 * sd + 1e-3, (cid, seen[cid] / picks, p)
