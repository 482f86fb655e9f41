"""The conformance suite every :class:`~godel.select.Selector` must pass.

Subclass :class:`SelectorConformance` in a test module and provide the ``make_selector`` fixture: a callable that
returns a fresh, empty selector each time it is called. A selector built on :class:`~godel.select.Pool` subclasses
:class:`PoolConformance` instead, which also checks the exact distribution its ``probabilities()`` reports against
what ``pick`` does. What a selector promises beyond the protocol is declared, never probed: the ``parents`` class
attribute, and the mixins :class:`RankBased`, :class:`ScaleRobust` and :class:`NeverStarves`, each of which adds
the tests of its promise::

    import pytest
    from godel.config import SelectorConfig
    from godel.select import make_selector
    from godel.select.testing import PoolConformance, RankBased

    class TestTournament(RankBased, PoolConformance):
        @pytest.fixture
        def make_selector(self):
            return lambda: make_selector(SelectorConfig(name="tournament"))

The contract (see :mod:`godel.select._base` and the shared rules in :mod:`godel.select._pool`):

* ``observe`` takes every finished candidate, whatever its status, in iteration order; an ``OK`` row with a
  non-finite score, and an id observed twice, are rejected with :class:`~godel.errors.SelectionError` and leave the
  selector unchanged.
* ``pick`` raises SelectionError before anything was observed, and otherwise returns an observed id: an *eligible*
  one (status ``OK``, a score, not flagged) whenever one exists, any observed one while none is (so a run whose
  candidates all failed can still propose repairs). A selector that declares ``parents = "seed"`` (best-of-N)
  returns the seed instead, whatever its status.
* Same observations and same ``rng`` state give the same parent and leave the ``rng`` in the same state, and ``pick``
  does not change the selector: this is what makes a resumed run (a fresh selector fed the archive) equal an
  uninterrupted one.
* ``top(k)`` lists up to ``k`` eligible ids, best score first, ties in observation order (``parents = "seed"``: at
  most the seed, when it is eligible).
* Any finite score is handled without a warning, however large or small.

The module is long because it is one thing: the contract, written as tests, with the helpers and Hypothesis
strategies they share (which the strategy-specific tests reuse).
"""

from __future__ import annotations

import math
import random
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, Literal, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from godel.archive import CandidateRow
from godel.candidate import Status
from godel.errors import SelectionError
from godel.select import Pool, Selector

__all__ = [
    "NeverStarves",
    "PoolConformance",
    "PoolFactory",
    "RankBased",
    "ScaleRobust",
    "SelectorConformance",
    "SelectorFactory",
    "archives",
    "assert_matches",
    "counts",
    "feed",
    "make_row",
]

SelectorFactory = Callable[[], Selector]
PoolFactory = Callable[[], Pool]
S = TypeVar("S", bound=Selector)

FINITE = st.floats(allow_nan=False, allow_infinity=False)

# The factories the fixtures return hold no state, so one instance serves every Hypothesis example; the same test
# method runs under many subclasses, which is what differing_executors would object to.
_PROPERTY = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)
_COSTLY_PROPERTY = settings(_PROPERTY, max_examples=8)


def make_row(
    cid: int,
    score: float | None,
    parent: int | None = None,
    *,
    status: Status = Status.OK,
    flagged: bool = False,
    iteration: int | None = None,
) -> CandidateRow:
    """A finished candidate as the engine feeds it to a selector (``iteration`` defaults to the id)."""
    return CandidateRow(
        id=cid,
        iteration=cid if iteration is None else iteration,
        parent_id=parent,
        generation=0,
        status=status,
        score=score,
        flagged=flagged,
    )


def feed(sel: S, rows: Iterable[CandidateRow]) -> S:
    for r in rows:
        sel.observe(r)
    return sel


def counts(sel: Selector, picks: int, seed: int = 0) -> Counter[int]:
    """How often each id is picked in ``picks`` draws from ``random.Random(seed)``."""
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


def _assert_uniform(seen: Counter[int], ids: Sequence[int]) -> None:
    """Every id of ``ids`` and nothing else, each within 5 standard errors (+ a small floor) of ``1 / len(ids)``."""
    n = sum(seen.values())
    p = 1 / len(ids)
    sd = (p * (1 - p) / n) ** 0.5
    assert set(seen) == set(ids), (sorted(seen), sorted(ids))
    for cid in ids:
        assert abs(seen[cid] / n - p) <= 5 * sd + 1e-3, (cid, seen[cid] / n, p)


@st.composite
def archives(
    draw: st.DrawFn, scores: st.SearchStrategy[float | None] = FINITE, max_size: int = 40
) -> list[CandidateRow]:
    """Rows in iteration order, each a child of an earlier one: mostly ``OK`` (score from ``scores``), some failed,
    rejected or awaiting approval, a few flagged."""
    n = draw(st.integers(1, max_size))
    statuses = [Status.OK, Status.OK, Status.OK, Status.FAILED, Status.REJECTED, Status.AWAITING_APPROVAL]
    rows = []
    for i in range(n):
        status = draw(st.sampled_from(statuses))
        score = draw(scores) if status == Status.OK else None
        parent = None if i == 0 else draw(st.integers(0, i - 1))
        flagged = draw(st.booleans()) and draw(st.booleans())
        rows.append(make_row(i, score, parent, status=status, flagged=flagged))
    return rows


def _eligible(rows: Sequence[CandidateRow]) -> list[int]:
    return [r.id for r in rows if r.status == Status.OK and r.score is not None and not r.flagged]


def _seed(rows: Sequence[CandidateRow]) -> int:
    return next((r.id for r in rows if r.iteration == 0), rows[0].id)


def _best_first(rows: Sequence[CandidateRow]) -> list[int]:
    """Eligible ids, best score first, ties in observation order."""
    score = {r.id: r.score for r in rows}
    order = {r.id: i for i, r in enumerate(rows)}
    return sorted(_eligible(rows), key=lambda cid: (-(score[cid] or 0.0), order[cid]))


# Fixed archives the example-based tests share.


def _all_failed() -> list[CandidateRow]:
    """Nothing eligible: failed, rejected, flagged, pending, and an OK row without a score."""
    rows = [make_row(1, None, status=Status.FAILED, iteration=0)]
    rows += [make_row(i, None, 1, status=Status.FAILED) for i in range(2, 5)]
    rows += [make_row(5, 0.9, 1, status=Status.REJECTED), make_row(6, 0.9, 1, flagged=True)]
    rows += [make_row(7, None, 1, status=Status.PENDING), make_row(8, None, 1, status=Status.OK)]
    return rows


def _one_eligible() -> list[CandidateRow]:
    rows = [make_row(1, None, status=Status.FAILED, iteration=0)]
    rows += [make_row(i, None, 1, status=Status.FAILED) for i in range(2, 6)]
    rows += [
        make_row(6, 0.2, 1),
        make_row(7, 0.99, 1, flagged=True),
        make_row(8, 1.0, 6, status=Status.AWAITING_APPROVAL),
    ]
    return rows


def _leaderboard() -> list[CandidateRow]:
    return [
        make_row(1, 0.5, iteration=0),
        make_row(2, 0.9, 1),
        make_row(3, 0.7, 1),
        make_row(4, 0.9, 3),
        make_row(5, 0.99, 3, flagged=True),
        make_row(6, None, 3, status=Status.FAILED),
        make_row(7, -2.0, 1),
    ]


class SelectorConformance:
    """Behaviour every selector shares. Subclasses provide the ``make_selector`` fixture."""

    # "eligible": parents are eligible candidates (any observed one while none is); "seed": every parent is the
    # seed, the iteration-0 candidate (else the first observed), whatever its status (best-of-N).
    parents: ClassVar[Literal["eligible", "seed"]] = "eligible"

    @pytest.fixture
    def make_selector(self) -> SelectorFactory:
        raise NotImplementedError("subclasses provide a make_selector fixture")

    def _expected_parents(self, rows: Sequence[CandidateRow]) -> set[int]:
        if self.parents == "seed":
            return {_seed(rows)}
        return set(_eligible(rows)) or {r.id for r in rows}

    def _expected_top(self, rows: Sequence[CandidateRow], k: int) -> list[int]:
        if self.parents == "seed":
            seed = _seed(rows)
            return [seed] if k > 0 and seed in _eligible(rows) else []
        return _best_first(rows)[: max(k, 0)]

    # -- the protocol -------------------------------------------------------------------------------------------

    def test_is_a_selector(self, make_selector: SelectorFactory) -> None:
        sel = make_selector()
        assert isinstance(sel, Selector)
        assert isinstance(sel.name, str) and sel.name

    def test_nothing_observed_raises(self, make_selector: SelectorFactory) -> None:
        sel = make_selector()
        with pytest.raises(SelectionError, match="no candidate has been observed") as info:
            sel.pick(random.Random(0))
        assert info.value.hint, "the error names the fix"
        assert sel.top(3) == []

    def test_single_candidate_is_always_picked(self, make_selector: SelectorFactory) -> None:
        sel = feed(make_selector(), [make_row(7, 0.3, iteration=0)])
        assert counts(sel, 200) == {7: 200}
        assert sel.top(5) == [7]

    def test_all_failed_archive_still_yields_parents(self, make_selector: SelectorFactory) -> None:
        rows = _all_failed()
        sel = feed(make_selector(), rows)
        assert sel.top(3) == []
        if self.parents == "seed":
            assert counts(sel, 500) == {1: 500}
        else:  # uniformly among everything observed
            assert set(counts(sel, 4000)) == set(range(1, 9))
            _assert_uniform(counts(sel, 8000), range(1, 9))

    def test_once_one_candidate_is_eligible_only_eligible_ones_are_picked(
        self, make_selector: SelectorFactory
    ) -> None:
        sel = feed(make_selector(), _one_eligible())
        assert counts(sel, 500) == ({1: 500} if self.parents == "seed" else {6: 500})

    @pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
    def test_ok_rows_with_non_finite_scores_are_rejected(
        self, make_selector: SelectorFactory, bad: float
    ) -> None:
        sel = feed(make_selector(), [make_row(1, 0.5, iteration=0)])
        with pytest.raises(SelectionError, match="non-finite score") as info:
            sel.observe(make_row(2, bad, 1))
        assert "failed" in str(info.value)  # the hint names the fix
        _assert_same(sel, feed(make_selector(), [make_row(1, 0.5, iteration=0)]))
        # Non-finite scores on rows that are not OK carry no meaning for selection and are accepted.
        sel.observe(make_row(3, bad, 1, status=Status.FAILED))
        twin = feed(
            make_selector(), [make_row(1, 0.5, iteration=0), make_row(3, None, 1, status=Status.FAILED)]
        )
        _assert_same(sel, twin)

    def test_observing_an_id_twice_is_an_error(self, make_selector: SelectorFactory) -> None:
        rows = [make_row(1, 0.5, iteration=0), make_row(2, 0.6, 1)]
        sel = feed(make_selector(), rows)
        with pytest.raises(SelectionError, match="observed twice") as info:
            sel.observe(make_row(2, 0.7, 1))
        assert info.value.hint
        _assert_same(sel, feed(make_selector(), rows))

    def test_top_is_best_first_with_ties_in_observation_order(self, make_selector: SelectorFactory) -> None:
        rows = _leaderboard()
        sel = feed(make_selector(), rows)
        if self.parents == "seed":
            assert sel.top(3) == [1] and sel.top(10) == [1]
        else:
            assert sel.top(3) == [2, 4, 3]
            assert sel.top(10) == [2, 4, 3, 1, 7]
        assert sel.top(0) == []
        flagged_seed = [make_row(1, 0.5, flagged=True, iteration=0), *rows[1:]]
        assert feed(make_selector(), flagged_seed).top(3) == self._expected_top(flagged_seed, 3)

    def test_top_beyond_the_leaderboard_scans_everything(self, make_selector: SelectorFactory) -> None:
        rng = random.Random(3)
        scores = [rng.choice([rng.random(), 0.5]) for _ in range(300)]
        rows = [make_row(i, s, None if i == 0 else 0) for i, s in enumerate(scores)]
        sel = feed(make_selector(), rows)
        for k in (1, 10, 64, 65, 200, 300, 400):
            assert sel.top(k) == self._expected_top(rows, k)

    def test_equal_candidates_have_equal_chances(self, make_selector: SelectorFactory) -> None:
        rows = [make_row(0, None, None, status=Status.FAILED)] + [make_row(i, 0.5, 0) for i in range(1, 5)]
        seen = counts(feed(make_selector(), rows), 8000)
        if self.parents == "seed":
            assert seen == {0: 8000}
        else:
            _assert_uniform(seen, range(1, 5))

    # -- properties over arbitrary archives ---------------------------------------------------------------------

    @_PROPERTY
    @given(archives(), st.integers(0, 2**32 - 1))
    def test_same_observations_and_rng_state_give_the_same_picks(
        self, make_selector: SelectorFactory, rows: list[CandidateRow], seed: int
    ) -> None:
        a, b = make_selector(), make_selector()
        ra, rb = random.Random(seed), random.Random(seed)
        for r in rows:  # interleaved, the way the engine uses a selector
            a.observe(r)
            b.observe(r)
            assert a.pick(ra) == b.pick(rb)
        assert [a.pick(ra) for _ in range(20)] == [b.pick(rb) for _ in range(20)]
        assert ra.getstate() == rb.getstate()
        assert a.top(5) == b.top(5)

    @_PROPERTY
    @given(archives(), st.integers(0, 2**32 - 1))
    def test_a_resumed_selector_picks_what_an_uninterrupted_one_picks(
        self, make_selector: SelectorFactory, rows: list[CandidateRow], seed: int
    ) -> None:
        running = make_selector()
        rng = random.Random(seed ^ 0x5EED)
        for r in rows:  # picks interleaved with observations must leave no trace in the selector
            running.observe(r)
            running.pick(rng)
        resumed = feed(make_selector(), rows)
        ra, rb = random.Random(seed), random.Random(seed)
        assert [running.pick(ra) for _ in range(20)] == [resumed.pick(rb) for _ in range(20)]
        assert running.top(8) == resumed.top(8)

    @_PROPERTY
    @given(archives(), st.integers(0, 2**32 - 1))
    def test_picks_follow_the_eligibility_rules(
        self, make_selector: SelectorFactory, rows: list[CandidateRow], seed: int
    ) -> None:
        sel = make_selector()
        rng = random.Random(seed)
        for i, r in enumerate(rows):
            sel.observe(r)
            assert sel.pick(rng) in self._expected_parents(rows[: i + 1])
        for _ in range(30):
            assert sel.pick(rng) in self._expected_parents(rows)

    @_PROPERTY
    @given(archives(st.none()), st.integers(0, 2**32 - 1))
    def test_an_archive_without_eligible_candidates_still_yields_parents(
        self, make_selector: SelectorFactory, rows: list[CandidateRow], seed: int
    ) -> None:
        sel = feed(make_selector(), rows)
        pick = sel.pick(random.Random(seed))
        assert pick in {r.id for r in rows}
        if self.parents == "seed":
            assert pick == 0
        assert sel.top(3) == []

    @_PROPERTY
    @given(archives(), st.integers(0, 70))
    def test_top_lists_the_best_eligible_candidates_first(
        self, make_selector: SelectorFactory, rows: list[CandidateRow], k: int
    ) -> None:
        assert feed(make_selector(), rows).top(k) == self._expected_top(rows, k)

    @_PROPERTY
    @given(archives(FINITE), st.integers(0, 2**32 - 1))
    def test_any_finite_scores_are_handled_without_warnings(
        self, make_selector: SelectorFactory, rows: list[CandidateRow], seed: int
    ) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an overflow or underflow warning is a numerical bug
            sel = feed(make_selector(), rows)
            rng = random.Random(seed)
            picks = [sel.pick(rng) for _ in range(20)]
            top = sel.top(5)
        assert set(picks) <= self._expected_parents(rows)
        assert top == self._expected_top(rows, 5)


def _assert_same(a: Selector, b: Selector) -> None:
    """``a`` and ``b`` behave alike: equal picks from equal rng states, equal leaderboards."""
    ra, rb = random.Random(11), random.Random(11)
    assert [a.pick(ra) for _ in range(50)] == [b.pick(rb) for _ in range(50)]
    assert a.top(10) == b.top(10)


class PoolConformance(SelectorConformance):
    """The protocol suite plus :class:`~godel.select.Pool`'s inspection API: ``probabilities()`` is the exact
    distribution ``pick`` draws from; ``len``, ``eligible_count`` and ``children`` count what was observed."""

    @pytest.fixture
    def make_selector(self) -> PoolFactory:
        raise NotImplementedError("subclasses provide a make_selector fixture")

    def test_nothing_observed_has_no_distribution(self, make_selector: PoolFactory) -> None:
        sel = make_selector()
        assert sel.probabilities() == {}
        assert len(sel) == 0 and sel.eligible_count == 0 and sel.seed is None

    def test_single_candidate_has_all_the_probability(self, make_selector: PoolFactory) -> None:
        sel = feed(make_selector(), [make_row(7, 0.3, iteration=0)])
        assert sel.probabilities() == {7: 1.0}
        assert len(sel) == 1 and sel.eligible_count == 1 and sel.seed == 7

    def test_all_failed_archive_distribution(self, make_selector: PoolFactory) -> None:
        sel = feed(make_selector(), _all_failed())
        assert sel.eligible_count == 0
        if self.parents == "seed":
            assert sel.probabilities() == {1: 1.0}
        else:
            assert sel.probabilities() == {i: 1 / 8 for i in range(1, 9)}
        assert_matches(sel, 8000)

    def test_once_one_candidate_is_eligible_the_distribution_is_on_it(
        self, make_selector: PoolFactory
    ) -> None:
        sel = feed(make_selector(), _one_eligible())
        assert sel.eligible_count == 1
        assert sel.probabilities() == ({1: 1.0} if self.parents == "seed" else {6: 1.0})

    @pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
    def test_a_rejected_row_is_not_counted(self, make_selector: PoolFactory, bad: float) -> None:
        sel = feed(make_selector(), [make_row(1, 0.5, iteration=0)])
        with pytest.raises(SelectionError, match="non-finite score"):
            sel.observe(make_row(2, bad, 1))
        assert len(sel) == 1, "a rejected row must leave the selector unchanged"
        assert sel.children(1) == 0
        sel.observe(make_row(3, bad, 1, status=Status.FAILED))
        assert len(sel) == 2
        assert sel.children(1) == 1

    def test_an_id_observed_twice_is_not_counted(self, make_selector: PoolFactory) -> None:
        sel = feed(make_selector(), [make_row(1, 0.5, iteration=0), make_row(2, 0.6, 1)])
        with pytest.raises(SelectionError, match="observed twice"):
            sel.observe(make_row(2, 0.7, 1))
        assert len(sel) == 2
        assert sel.children(1) == 1

    def test_children_count_every_status_and_any_order(self, make_selector: PoolFactory) -> None:
        sel = feed(make_selector(), [make_row(1, 0.5, iteration=0), make_row(3, 0.5, 2)])
        assert sel.children(2) == 1  # a child observed before its parent is counted
        sel.observe(make_row(2, 0.5, 1))
        for i, status in enumerate(Status, start=10):
            sel.observe(make_row(i, None, 2, status=status))
        sel.observe(make_row(30, 0.5, 2, flagged=True))
        assert sel.children(2) == 1 + len(Status) + 1
        assert sel.children(1) == 1 and sel.children(99) == 0

    def test_pick_frequencies_match_the_reported_probabilities(self, make_selector: PoolFactory) -> None:
        rows = [make_row(0, 0.2, iteration=0)]
        rows += [make_row(i, (i * 37 % 11) / 10, i // 2) for i in range(1, 9)]
        rows += [make_row(9, None, 3, status=Status.FAILED), make_row(10, 0.95, 2, flagged=True)]
        assert_matches(feed(make_selector(), rows), 8000)

    @_PROPERTY
    @given(archives(), st.integers(0, 2**32 - 1))
    def test_picks_come_from_the_support_of_the_distribution(
        self, make_selector: PoolFactory, rows: list[CandidateRow], seed: int
    ) -> None:
        sel = feed(make_selector(), rows)
        probs = sel.probabilities()
        assert sum(probs.values()) == pytest.approx(1.0)
        assert set(probs) <= self._expected_parents(rows)
        rng = random.Random(seed)
        for _ in range(30):
            assert probs.get(sel.pick(rng), 0.0) > 0

    @_PROPERTY
    @given(archives(st.none()))
    def test_without_eligible_candidates_the_distribution_is_uniform(
        self, make_selector: PoolFactory, rows: list[CandidateRow]
    ) -> None:
        sel = feed(make_selector(), rows)
        assert sel.eligible_count == 0
        if self.parents == "seed":
            assert sel.probabilities() == {0: 1.0}
        else:
            ids = {r.id for r in rows}
            assert sel.probabilities() == pytest.approx({i: 1 / len(ids) for i in ids})

    @_PROPERTY
    @given(FINITE, st.integers(1, 12))
    def test_equal_scores_and_equal_children_mean_equal_chances(
        self, make_selector: PoolFactory, score: float, n: int
    ) -> None:
        rows = [make_row(0, None, None, status=Status.FAILED)] + [
            make_row(i, score, 0) for i in range(1, n + 1)
        ]
        probs = feed(make_selector(), rows).probabilities()
        if self.parents == "seed":
            assert probs == {0: 1.0}
        else:
            assert probs == pytest.approx({i: 1 / n for i in range(1, n + 1)})


class RankBased:
    """Mixin: picks and ``top`` depend only on the order of the scores (ties included), not on their values."""

    @_PROPERTY
    @given(archives(), st.integers(0, 2**32 - 1))
    def test_picks_depend_only_on_the_order_of_scores(
        self, make_selector: SelectorFactory, rows: list[CandidateRow], seed: int
    ) -> None:
        distinct = sorted({r.score for r in rows if r.score is not None})
        # Strictly increasing maps onto huge positive and huge negative scores: ties stay ties, order stays order,
        # and any threshold on the values themselves is crossed by one of them.
        up = {s: (rank + 1) * 1e298 for rank, s in enumerate(distinct)}
        down = {s: (rank - len(distinct)) * 1e298 for rank, s in enumerate(distinct)}
        runs = []
        for remap in (None, up, down):
            moved = [
                r
                if remap is None or r.score is None
                else make_row(
                    r.id,
                    remap[r.score],
                    r.parent_id,
                    status=r.status,
                    flagged=r.flagged,
                    iteration=r.iteration,
                )
                for r in rows
            ]
            sel = feed(make_selector(), moved)
            rng = random.Random(seed)
            runs.append(([sel.pick(rng) for _ in range(30)], sel.top(10)))
        assert runs[0] == runs[1] == runs[2]


class ScaleRobust:
    """Mixin: whatever the scale of the scores (any finite values, outliers included), every eligible candidate of
    a small archive keeps a visible share of the picks: normalisation stops one score taking all the mass."""

    @_COSTLY_PROPERTY
    @given(st.lists(st.one_of(st.floats(min_value=0.2, max_value=1.0), FINITE), min_size=1, max_size=6))
    def test_every_eligible_candidate_of_a_small_archive_gets_picked(
        self, make_selector: SelectorFactory, scores: list[float]
    ) -> None:
        rows = [make_row(0, None, None, status=Status.FAILED)]  # a failed seed; everyone else is its child
        rows += [make_row(i, s, 0) for i, s in enumerate(scores, start=1)]
        sel = feed(make_selector(), rows)
        assert set(counts(sel, 20_000)) == set(range(1, len(scores) + 1))

    def test_one_outlier_does_not_take_all_the_picks(self, make_selector: SelectorFactory) -> None:
        rows = [make_row(0, 0.5, iteration=0)] + [make_row(i, 0.5 + i / 100, 0) for i in range(1, 6)]
        rows.append(make_row(6, 1e300, 0))
        seen = counts(feed(make_selector(), rows), 20_000)
        assert set(seen) == set(range(7))
        assert seen[6] < 20_000 * 0.9


class NeverStarves:
    """Mixin for :class:`PoolConformance`: every eligible candidate has a non-zero probability, whatever the options
    and the scores (weights are floored, never zero)."""

    @_PROPERTY
    @given(archives())
    def test_never_starves_an_eligible_candidate(
        self, make_selector: PoolFactory, rows: list[CandidateRow]
    ) -> None:
        sel = feed(make_selector(), rows)
        probs = sel.probabilities()
        assert set(probs) == (set(_eligible(rows)) or {r.id for r in rows})
        assert all(p > 0 for p in probs.values())
        assert sum(probs.values()) == pytest.approx(1.0)
