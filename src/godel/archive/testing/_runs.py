"""Conformance cases: runs and candidates (storage, queries, properties)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from godel.archive._base import (
    Archive,
    CandidateRow,
    RunInfo,
)
from godel.archive.testing._base import MISSING, CasesBase, make_candidate
from godel.candidate import Candidate, Program, Status
from godel.errors import ArchiveError, UnknownCandidate, UnknownRun

__all__ = ["RunAndCandidateCases"]


class RunAndCandidateCases(CasesBase):
    """Conformance cases: runs and candidates (storage, queries, properties)."""

    # -- runs ---------------------------------------------------------------------------------------------------

    def test_is_an_archive(self, archive: Archive) -> None:
        assert isinstance(archive, Archive)
        assert isinstance(archive.url, str) and archive.url

    def test_create_and_get_run(self, archive: Archive) -> None:
        config = {"run": {"iterations": 5, "ratio": 0.25}, "names": ["a", "ü"], "none": None}
        info = archive.create_run("first", "sorting", config, {"host": "x"})
        assert info.id > 0 and info.name == "first" and info.task == "sorting"
        assert info.status == "running" and info.config == config and info.meta == {"host": "x"}
        assert info.created_at > 0 and info.updated_at >= info.created_at
        for key in (info.id, "first", str(info.id)):
            got = archive.get_run(key)
            assert got.to_dict() == info.to_dict()

    def test_runs_and_latest_run(self, archive: Archive) -> None:
        assert archive.runs() == []
        assert archive.latest_run() is None
        a = archive.create_run("a", "t1", {})
        b = archive.create_run("b", "t2", {})
        c = archive.create_run("c", "t1", {})
        assert [r.id for r in archive.runs()] == [a.id, b.id, c.id]
        latest = archive.latest_run()
        assert latest is not None and latest.id == c.id
        latest_t2 = archive.latest_run("t2")
        assert latest_t2 is not None and latest_t2.id == b.id
        assert archive.latest_run("no-such-task") is None

    def test_duplicate_run_name(self, archive: Archive) -> None:
        archive.create_run("same", "t", {})
        with pytest.raises(ArchiveError, match="same"):
            archive.create_run("same", "t", {})
        assert len(archive.runs()) == 1

    def test_update_run(self, archive: Archive, run: RunInfo) -> None:
        archive.update_run(run.id, meta={"a": 1, "b": 2})
        archive.update_run(run.id, status="finished", meta={"b": 3})
        got = archive.get_run(run.id)
        assert got.status == "finished"
        assert got.meta == {"a": 1, "b": 3}
        assert got.updated_at >= run.updated_at
        with pytest.raises(ArchiveError, match="status"):
            archive.update_run(run.id, status="exploded")
        assert archive.get_run(run.id).status == "finished"

    def test_unknown_run(self, archive: Archive) -> None:
        with pytest.raises(UnknownRun):
            archive.get_run(MISSING)
        with pytest.raises(UnknownRun):
            archive.get_run("no-such-run")
        with pytest.raises(UnknownRun):
            archive.update_run(MISSING, status="stopped")
        with pytest.raises(UnknownRun):
            archive.add_candidate(make_candidate(MISSING, 0))
        with pytest.raises(UnknownRun):
            archive.candidates(MISSING)
        with pytest.raises(UnknownRun):
            archive.rows(MISSING)
        with pytest.raises(UnknownRun):
            archive.count(MISSING)
        with pytest.raises(UnknownRun):
            archive.best(MISSING)
        with pytest.raises(UnknownRun):
            archive.find_by_digest(MISSING, "0" * 64)
        with pytest.raises(UnknownRun):
            archive.add_event(MISSING, "x", {})
        with pytest.raises(UnknownRun):
            archive.events(MISSING)

    def test_empty_run_queries(self, archive: Archive, run: RunInfo) -> None:
        assert archive.candidates(run.id) == []
        assert archive.rows(run.id) == []
        assert archive.count(run.id) == 0
        assert archive.best(run.id) is None
        assert archive.find_by_digest(run.id, "0" * 64) is None
        assert archive.events(run.id) == []

    # -- candidates ---------------------------------------------------------------------------------------------

    def test_candidate_roundtrip(self, archive: Archive, run: RunInfo) -> None:
        seed = make_candidate(run.id, 0, status=Status.OK, score=1.5)
        archive.add_candidate(seed)
        assert seed.id is not None
        prog = Program(
            {"pkg/a.py": "def f():\n    return 'ü→∑'\n", "README.txt": "no newline", "b.py": "x" * 50_000}
        )
        cand = Candidate(
            run_id=run.id,
            iteration=1,
            program=prog,
            parent_id=seed.id,
            generation=1,
            status=Status.OK,
            score=-0.125,
            metrics={"combined_score": -0.125, "time": 1e-9, "big": 1e300},
            artifacts={"stdout": "hello\n", "stderr": ""},
            reason=None,
            failure_stage=None,
            proposer="llm-diff",
            model="smollm2-135m",
            prompt="You are ... ü",
            edit="<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n",
            diff="--- a/main.py\n+++ b/main.py\n@@ -1 +1 @@\n-x\n+y\n",
            tokens_in=1234,
            tokens_out=56,
            cost=0.0012,
            verdict={"decision": "allow", "reasons": []},
            flags=[],
            evaluation={"stages": [{"stage": 1, "metrics": {"a": 1.0}}], "sandbox": {"exit": 0}},
            timings={"propose": 0.5, "evaluate": 1.25},
            created_at=1_700_000_000.5,
        )
        cid = archive.add_candidate(cand)
        assert cid == cand.id and cid != seed.id
        got = archive.get_candidate(cid)
        assert got.to_dict() == cand.to_dict()
        assert got.program == prog and got.code_digest == prog.digest()
        assert got.status is Status.OK and isinstance(got.status, Status)
        assert got.created_at == 1_700_000_000.5

    def test_add_sets_timestamps(self, archive: Archive, run: RunInfo) -> None:
        cand = make_candidate(run.id, 0)
        archive.add_candidate(cand)
        got = archive.get_candidate(cand.id or 0)
        assert got.created_at > 0 and got.updated_at >= got.created_at

    def test_add_candidates_batch(self, archive: Archive, run: RunInfo) -> None:
        seed = make_candidate(run.id, 0, status=Status.OK, score=0.0)
        archive.add_candidate(seed)
        batch = [
            make_candidate(run.id, i, parent_id=seed.id, generation=1, status=Status.OK, score=float(i))
            for i in range(1, 501)
        ]
        ids = archive.add_candidates(batch)
        assert ids == [c.id for c in batch]
        assert len(set(ids)) == 500
        for c in (batch[0], batch[137], batch[-1]):
            assert archive.get_candidate(c.id or 0).iteration == c.iteration
        assert archive.count(run.id) == 501
        assert archive.add_candidates([]) == []

    def test_batch_is_all_or_nothing(self, archive: Archive, run: RunInfo) -> None:
        archive.add_candidate(make_candidate(run.id, 5))
        batch = [make_candidate(run.id, i) for i in (1, 2, 5, 6)]
        with pytest.raises(ArchiveError, match="iteration 5"):
            archive.add_candidates(batch)
        assert archive.count(run.id) == 1
        assert all(c.id is None for c in batch)
        twice = [make_candidate(run.id, 7), make_candidate(run.id, 7)]
        with pytest.raises(ArchiveError, match="iteration 7"):
            archive.add_candidates(twice)
        assert archive.count(run.id) == 1

    def test_duplicate_iteration(self, archive: Archive, run: RunInfo) -> None:
        first = make_candidate(run.id, 3)
        archive.add_candidate(first)
        with pytest.raises(ArchiveError, match="iteration 3") as info:
            archive.add_candidate(make_candidate(run.id, 3, code="other = 1\n"))
        assert "another process is probably driving the same run" in str(info.value)
        other = archive.create_run("run-b", "task-a", {})
        archive.add_candidate(make_candidate(other.id, 3))  # same iteration in another run is fine
        with pytest.raises(ArchiveError, match="already stored"):
            archive.add_candidate(first)  # has an id now

    def test_unknown_candidate(self, archive: Archive, run: RunInfo) -> None:
        with pytest.raises(UnknownCandidate):
            archive.get_candidate(MISSING)
        with pytest.raises(UnknownCandidate):
            archive.children(MISSING)
        with pytest.raises(UnknownCandidate):
            archive.lineage(MISSING)
        ghost = make_candidate(run.id, 1)
        with pytest.raises(UnknownCandidate):
            archive.update_candidate(ghost)  # never stored: no id
        ghost.id = MISSING
        with pytest.raises(UnknownCandidate):
            archive.update_candidate(ghost)
        with pytest.raises(UnknownCandidate):
            archive.add_candidate(make_candidate(run.id, 2, parent_id=MISSING))
        assert archive.count(run.id) == 0

    def test_update_candidate(self, archive: Archive, run: RunInfo) -> None:
        cand = make_candidate(run.id, 0)
        archive.add_candidate(cand)
        before = archive.get_candidate(cand.id or 0)
        assert before.status is Status.PENDING and before.score is None
        cand.status, cand.score = Status.OK, 0.75
        cand.metrics = {"combined_score": 0.75}
        cand.artifacts = {"log": "ok"}
        cand.verdict = {"decision": "allow"}
        cand.flags = ["suspicious-jump"]
        cand.evaluation = {"stages": [1, 2]}
        cand.timings = {"evaluate": 2.0}
        archive.update_candidate(cand)
        got = archive.get_candidate(cand.id or 0)
        assert got.status is Status.OK and got.score == 0.75
        assert got.metrics == {"combined_score": 0.75} and got.artifacts == {"log": "ok"}
        assert got.flags == ["suspicious-jump"] and got.verdict == {"decision": "allow"}
        assert got.evaluation == {"stages": [1, 2]} and got.timings == {"evaluate": 2.0}
        assert got.program == before.program and got.created_at == before.created_at
        assert got.updated_at >= before.updated_at
        rows = archive.rows(run.id)
        assert rows[0].status is Status.OK and rows[0].score == 0.75 and rows[0].flagged

    def test_failed_candidates_are_never_scored(self, archive: Archive, run: RunInfo) -> None:
        bad = make_candidate(run.id, 0, status=Status.FAILED, score=0.0, reason="crash")
        with pytest.raises(ArchiveError, match="score"):
            archive.add_candidate(bad)
        silent = make_candidate(run.id, 1, status=Status.REJECTED)
        silent.reason = None
        with pytest.raises(ArchiveError, match="reason"):
            archive.add_candidate(silent)
        ok = make_candidate(run.id, 2, status=Status.FAILED, reason="ZeroDivisionError at line 3")
        archive.add_candidate(ok)
        got = archive.get_candidate(ok.id or 0)
        assert (
            got.status is Status.FAILED and got.score is None and got.reason == "ZeroDivisionError at line 3"
        )
        pending = make_candidate(run.id, 3)
        archive.add_candidate(pending)
        pending.status, pending.score = Status.FAILED, 0.0
        pending.reason = "timeout"
        with pytest.raises(ArchiveError, match="score"):
            archive.update_candidate(pending)
        assert archive.get_candidate(pending.id or 0).status is Status.PENDING

    def test_reason_with_control_characters(self, archive: Archive, run: RunInfo) -> None:
        reason = "Traceback:\n\tline 1\x00\x01 ü \r\n"
        cand = make_candidate(run.id, 0, status=Status.FAILED, reason=reason)
        archive.add_candidate(cand)
        got = archive.get_candidate(cand.id or 0).reason
        # A backend may replace NUL (PostgreSQL text cannot hold it) by U+FFFD, nothing else.
        assert got is not None and got.replace("\ufffd", "\x00") == reason

    def test_candidates_order_filters_and_paging(self, archive: Archive, run: RunInfo) -> None:
        statuses = [Status.OK, Status.FAILED, Status.REJECTED, Status.PENDING, Status.AWAITING_APPROVAL]
        order = [7, 2, 9, 0, 4, 1, 8, 3, 6, 5]
        for it in order:
            s = statuses[it % 5]
            archive.add_candidate(make_candidate(run.id, it, status=s, score=1.0 if s is Status.OK else None))
        got = archive.candidates(run.id)
        assert [c.iteration for c in got] == list(range(10))
        assert [c.iteration for c in archive.candidates(run.id, status=Status.OK)] == [0, 5]
        both = archive.candidates(run.id, status=[Status.FAILED, Status.REJECTED])
        assert [c.iteration for c in both] == [1, 2, 6, 7]
        assert [c.iteration for c in archive.candidates(run.id, limit=3)] == [0, 1, 2]
        assert [c.iteration for c in archive.candidates(run.id, limit=3, offset=8)] == [8, 9]
        assert [c.iteration for c in archive.candidates(run.id, offset=9)] == [9]
        other = archive.create_run("run-b", "task-a", {})
        archive.add_candidate(make_candidate(other.id, 0))
        assert len(archive.candidates(run.id)) == 10 and len(archive.candidates(other.id)) == 1

    def test_rows_and_count(self, archive: Archive, run: RunInfo) -> None:
        seed = make_candidate(run.id, 0, status=Status.OK, score=0.5)
        archive.add_candidate(seed)
        kids = [
            make_candidate(run.id, 2, parent_id=seed.id, generation=1, status=Status.FAILED),
            make_candidate(
                run.id, 1, parent_id=seed.id, generation=1, status=Status.OK, score=0.9, flags=["f"]
            ),
        ]
        archive.add_candidates(kids)
        rows = archive.rows(run.id)
        assert all(isinstance(r, CandidateRow) for r in rows)
        assert rows == [
            CandidateRow(seed.id or 0, 0, None, 0, Status.OK, 0.5, False),
            CandidateRow(kids[1].id or 0, 1, seed.id, 1, Status.OK, 0.9, True),
            CandidateRow(kids[0].id or 0, 2, seed.id, 1, Status.FAILED, None, False),
        ]
        assert archive.count(run.id) == 3
        assert archive.count(run.id, Status.OK) == 2
        assert archive.count(run.id, Status.FAILED) == 1
        assert archive.count(run.id, Status.PENDING) == 0

    def test_best(self, archive: Archive, run: RunInfo) -> None:
        seed = make_candidate(run.id, 0, status=Status.OK, score=1.0)
        archive.add_candidate(seed)
        assert (b := archive.best(run.id)) is not None and b.id == seed.id
        archive.add_candidates(
            [
                make_candidate(run.id, 1, status=Status.FAILED, reason="boom"),
                make_candidate(run.id, 2, status=Status.OK, score=5.0, flags=["deleted-assertions"]),
                make_candidate(run.id, 3, status=Status.PENDING),
                make_candidate(run.id, 4, status=Status.OK, score=2.0),
                make_candidate(run.id, 5, status=Status.OK, score=2.0),  # tie: the earlier one wins
                make_candidate(run.id, 6, status=Status.AWAITING_APPROVAL),
            ]
        )
        best = archive.best(run.id)
        assert best is not None and best.iteration == 4 and best.score == 2.0
        cleared = make_candidate(
            run.id, 7, status=Status.OK, score=3.0, flags=["odd"], verdict={"cleared": True, "by": "alice"}
        )
        archive.add_candidate(cleared)
        best = archive.best(run.id)
        assert best is not None and best.id == cleared.id
        not_cleared = make_candidate(
            run.id, 8, status=Status.OK, score=9.0, flags=["x"], verdict={"cleared": False}
        )
        archive.add_candidate(not_cleared)
        best = archive.best(run.id)
        assert best is not None and best.id == cleared.id
        # A later flag demotes a candidate; clearing it promotes it again.
        cleared.verdict = {}
        archive.update_candidate(cleared)
        best = archive.best(run.id)
        assert best is not None and best.iteration == 4
        other = archive.create_run("run-b", "task-a", {})
        assert archive.best(other.id) is None

    def test_best_is_the_accepted_one_while_it_stands(self, archive: Archive, run: RunInfo) -> None:
        # The engine records the candidate it accepted (significantly better under the measured noise) in the run's
        # meta; a higher single score that did not pass that test is not the best.
        cands = [
            make_candidate(run.id, 0, status=Status.OK, score=1.0),
            make_candidate(run.id, 1, status=Status.OK, score=1.5),
            make_candidate(run.id, 2, status=Status.OK, score=1.6),  # lucky, not accepted
        ]
        archive.add_candidates(cands)
        archive.update_run(run.id, meta={"best": {"id": cands[1].id, "iteration": 1}})
        best = archive.best(run.id)
        assert best is not None and best.id == cands[1].id
        # A pointer to a candidate that no longer stands (flagged since) falls back to the top unflagged score.
        cands[1].flags = ["score-jump"]
        archive.update_candidate(cands[1])
        best = archive.best(run.id)
        assert best is not None and best.id == cands[2].id
        archive.update_run(run.id, meta={"best": {"id": 10**9}})
        assert (b := archive.best(run.id)) is not None and b.id == cands[2].id

    def test_lineage_and_children(self, archive: Archive, run: RunInfo) -> None:
        seed = make_candidate(run.id, 0, status=Status.OK, score=0.0)
        archive.add_candidate(seed)
        a = make_candidate(run.id, 1, parent_id=seed.id, generation=1)
        b = make_candidate(run.id, 2, parent_id=seed.id, generation=1)
        archive.add_candidates([a, b])
        a1 = make_candidate(run.id, 3, parent_id=a.id, generation=2)
        archive.add_candidate(a1)
        a11 = make_candidate(run.id, 4, parent_id=a1.id, generation=3)
        archive.add_candidate(a11)
        assert [c.id for c in archive.lineage(a11.id or 0)] == [seed.id, a.id, a1.id, a11.id]
        assert [c.id for c in archive.lineage(seed.id or 0)] == [seed.id]
        assert [c.id for c in archive.lineage(b.id or 0)] == [seed.id, b.id]
        assert [c.id for c in archive.children(seed.id or 0)] == [a.id, b.id]
        assert [c.id for c in archive.children(a.id or 0)] == [a1.id]
        assert archive.children(a11.id or 0) == []
        full = archive.lineage(a11.id or 0)
        assert full[-1].program == a11.program and full[0].program == seed.program

    def test_find_by_digest(self, archive: Archive, run: RunInfo) -> None:
        c1 = make_candidate(run.id, 0, code="same = 1\n")
        c2 = make_candidate(run.id, 1, code="different = 2\n")
        c3 = make_candidate(run.id, 2, code="same = 1\n", status=Status.REJECTED, reason="duplicate")
        archive.add_candidates([c1, c2, c3])
        assert archive.find_by_digest(run.id, c1.code_digest) == c1.id
        assert archive.find_by_digest(run.id, c2.code_digest) == c2.id
        assert archive.find_by_digest(run.id, Program.single("main.py", "nope\n").digest()) is None
        other = archive.create_run("run-b", "task-a", {})
        assert archive.find_by_digest(other.id, c1.code_digest) is None

    def test_stats_in_one_pass(self, archive: Archive, run: RunInfo) -> None:
        empty = archive.stats(run.id)
        assert empty.total == 0 and set(empty.counts) == {s.value for s in Status}
        cands = [
            make_candidate(run.id, 0, status=Status.OK, score=1.0),
            make_candidate(run.id, 1, status=Status.OK, score=2.0, flags=["score jump"]),
            make_candidate(run.id, 2, status=Status.FAILED),
            make_candidate(run.id, 3),
        ]
        cands[0].tokens_in, cands[0].tokens_out, cands[0].cost = 10, 5, 0.25
        cands[2].tokens_in, cands[2].cost = 7, 0.5
        archive.add_candidates(cands)
        st = archive.stats(run.id)
        assert st.counts["ok"] == 2 and st.counts["failed"] == 1 and st.counts["pending"] == 1
        assert st.counts["rejected"] == 0 and st.total == 4
        assert st.flagged == 1 and st.tokens == 22 and st.cost == 0.75
        with pytest.raises(UnknownRun):
            archive.stats(MISSING)

    # -- properties ---------------------------------------------------------------------------------------------

    # The same inherited method runs once per backend subclass (differing executors) on a fixture built once per
    # test (function-scoped): both are intended here, each example uses a fresh iteration.
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(
        files=st.dictionaries(
            st.from_regex(r"[a-z]{1,8}(/[a-z]{1,8})?\.py", fullmatch=True),
            st.text(max_size=300),
            min_size=1,
            max_size=4,
        ),
        score=st.floats(allow_nan=False),
        metrics=st.dictionaries(st.text(max_size=10), st.floats(allow_nan=False), max_size=4),
        prompt=st.none() | st.text(max_size=200),
    )
    def test_any_candidate_roundtrips(
        self,
        archive: Archive,
        run: RunInfo,
        files: dict[str, str],
        score: float,
        metrics: dict[str, float],
        prompt: str | None,
    ) -> None:
        iteration = archive.count(run.id)
        cand = Candidate(
            run_id=run.id,
            iteration=iteration,
            program=Program(files),
            status=Status.OK,
            score=score,
            metrics=metrics,
            prompt=prompt,
        )
        archive.add_candidate(cand)
        got = archive.get_candidate(cand.id or 0)
        assert got.program == cand.program
        assert got.score == score
        assert got.metrics == metrics and got.prompt == prompt
        assert archive.find_by_digest(run.id, cand.code_digest) is not None
