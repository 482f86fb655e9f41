"""MAP-Elites: each cell keeps its best, parents are uniform cells' elites, descriptors come from the archive."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from godel.archive import CandidateRow, open_archive
from godel.candidate import Candidate, Program, Status
from godel.config import SelectorConfig
from godel.errors import ConfigError
from godel.select import MapElitesSelector, make_selector, program_features
from godel.select.testing import archives

from .support import assert_matches, feed, row

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _eligible(rows: list[CandidateRow]) -> list[CandidateRow]:
    return [r for r in rows if r.status == Status.OK and r.score is not None and not r.flagged]


@_SETTINGS
@given(archives(), st.integers(1, 4), st.floats(0.05, 2.0))
def test_each_cell_holds_exactly_its_best_candidates(
    rows: list[CandidateRow], bins: int, width: float
) -> None:
    # A descriptor from the id, so cells differ; the origin is the first eligible candidate's value.
    sel = MapElitesSelector(describe=lambda r: (float(r.id % 7 + 1),), bin_width=width, bins=bins)
    feed(sel, rows)
    elig = _eligible(rows)
    if not elig:
        assert sel.elites() == {}
        return
    x0 = elig[0].id % 7 + 1  # never 0, so the change is relative
    cell_of = {r.id: (max(-bins, min(bins, math.floor((r.id % 7 + 1 - x0) / x0 / width))),) for r in elig}
    expected: dict[tuple[int | None, ...], list[int]] = {}
    for r in elig:
        best = max(q.score for q in elig if cell_of[q.id] == cell_of[r.id])  # type: ignore[type-var]
        if r.score == best:
            expected.setdefault(cell_of[r.id], []).append(r.id)
    assert sel.elites() == expected
    assert len(expected) <= 2 * bins + 1
    probs = sel.probabilities()
    assert probs == pytest.approx(
        {cid: 1 / len(expected) / len(ids) for ids in expected.values() for cid in ids}
    )


def test_picks_are_uniform_over_cells_not_candidates() -> None:
    values = {0: 10.0, 1: 10.0, 2: 10.0, 3: 20.0}  # three in the seed's cell, one far away
    sel = MapElitesSelector(describe=lambda r: (values[r.id],), bin_width=0.5, bins=3)
    feed(sel, [row(0, 0.1, iteration=0), row(1, 0.5, 0), row(2, 0.3, 0), row(3, 0.2, 0)])
    assert sel.elites() == {(0,): [1], (2,): [3]}
    assert sel.probabilities() == {1: 0.5, 3: 0.5}
    assert_matches(sel, 8000)


def test_a_missing_descriptor_has_its_own_bin_and_outliers_share_the_last() -> None:
    values: dict[int, float | None] = {0: 100.0, 1: None, 2: 1e9, 3: 5e9, 4: -1e9}
    sel = MapElitesSelector(describe=lambda r: (values[r.id],), bin_width=0.1, bins=2)
    feed(sel, [row(i, 0.1 * i, 0 if i else None, iteration=i) for i in range(5)])
    assert sel.elites() == {(0,): [0], (None,): [1], (2,): [3], (-2,): [4]}


def test_without_descriptors_cells_are_generations() -> None:
    sel = make_selector(SelectorConfig(name="map-elites", feature_bins=2))
    assert isinstance(sel, MapElitesSelector)
    rows = [
        CandidateRow(i, i, None if i == 0 else 0, g, Status.OK, s)
        for i, (g, s) in enumerate([(0, 0.1), (1, 0.5), (1, 0.6), (3, 0.2), (2, 0.9)])
    ]
    feed(sel, rows)
    assert sel.elites() == {(0,): [0], (1,): [2], (2,): [4]}  # generation 3 is capped to 2; 0.9 beats 0.2


def test_program_features_count_characters_and_syntax_tree_nodes() -> None:
    f = program_features(Program.single("p.py", "x = 1\n"))
    assert f == {"code_length": 6.0, "complexity": 5.0}  # Module, Assign, Name, Store, Constant
    assert program_features(Program.single("p.py", "def (:\n"))["complexity"] is None


def test_descriptors_are_read_from_the_archive() -> None:
    archive = open_archive("sqlite://")
    try:
        run = archive.create_run("r", "t", {})
        codes = ["x = 1\n", "x = 1\ny = 2\n", "x = 1 + 2 * 3\n" * 4]
        cands = [
            Candidate(
                run_id=run.id,
                iteration=i,
                program=Program.single("p.py", code),
                parent_id=None,
                status=Status.OK,
                score=0.1 * (i + 1),
                metrics={"speed": float(i)},
            )
            for i, code in enumerate(codes)
        ]
        ids = archive.add_candidates(cands)
        cfg = SelectorConfig(name="map-elites", features=("code_length", "speed"), feature_bin_width=0.5)
        sel = make_selector(cfg, archive)
        assert isinstance(sel, MapElitesSelector)
        feed(
            sel,
            [
                CandidateRow(cid, i, None if i == 0 else ids[0], 0, Status.OK, 0.1 * (i + 1))
                for i, cid in enumerate(ids)
            ],
        )
        # code length 6 -> 12 -> 56 (+100%, +833%: the last clamped to 5 bins); speed 0 -> 1 -> 2: from an origin of 0 the change is absolute.
        assert sel.elites() == {(0, 0): [ids[0]], (2, 2): [ids[1]], (5, 4): [ids[2]]}
    finally:
        archive.close()


@pytest.mark.parametrize("options", [{"bin_width": 0.0}, {"bins": 0}])
def test_bad_options_are_config_errors(options: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        MapElitesSelector(**options)  # type: ignore[arg-type]
