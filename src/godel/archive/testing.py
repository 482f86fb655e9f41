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

The suite closes every archive it opens.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from godel.archive._base import (
    Archive,
    CandidateRow,
    Checkpoint,
    Lease,
    LeaseHeld,
    LeaseLost,
    RunInfo,
    RunLeased,
    StoredRow,
)
from godel.archive._chain import GENESIS, verify_chain
from godel.archive._sql import SQLArchive
from godel.candidate import Candidate, Program, Status
from godel.errors import ArchiveError, UnknownCandidate, UnknownRun

__all__ = ["ArchiveConformance", "ArchiveFactory", "damage_sqlite_archive", "make_candidate"]

ArchiveFactory = Callable[[], Archive]
MISSING = 987_654_321  # an id no test ever creates


def make_candidate(
    run_id: int,
    iteration: int,
    *,
    code: str | None = None,
    parent_id: int | None = None,
    generation: int = 0,
    status: Status = Status.PENDING,
    score: float | None = None,
    reason: str | None = None,
    flags: list[str] | None = None,
    verdict: dict[str, Any] | None = None,
) -> Candidate:
    if reason is None and status in (Status.FAILED, Status.REJECTED):
        reason = f"{status.value} in test"
    return Candidate(
        run_id=run_id,
        iteration=iteration,
        program=Program.single("main.py", code if code is not None else f"x = {iteration}\n"),
        parent_id=parent_id,
        generation=generation,
        status=status,
        score=score,
        reason=reason,
        flags=list(flags or []),
        verdict=dict(verdict or {}),
    )


def damage_sqlite_archive(path: Path) -> bytes:
    """Write a small archive at ``path`` and damage its file in the middle, so that SQLite's own integrity check
    fails while the file still opens (its schema pages are intact); returns the damaged bytes."""
    with closing(SQLArchive(f"sqlite:///{path}")) as archive:
        run = archive.create_run("r", "t", {})
        archive.add_candidates([make_candidate(run.id, i, code=f"x = {i}\n" * 50) for i in range(300)])
        for i in range(20):
            archive.add_event(run.id, "e", {"i": i})
    good = path.read_bytes()
    pages = len(good) // 4096
    for page in range(pages // 3, 2 * pages // 3):
        data = bytearray(good)
        # The header of a b-tree page: its type, cell count and content start.
        data[page * 4096 : page * 4096 + 16] = b"\xff" * 16
        path.write_bytes(bytes(data))
        con = sqlite3.connect(path)
        try:
            con.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.DatabaseError:
            con.close()
            continue  # too damaged to open at all: another case
        try:
            intact = con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        except sqlite3.DatabaseError:  # "database disk image is malformed": the check fails outright
            intact = False
        finally:
            con.close()
        if not intact:
            return bytes(data)
    raise AssertionError(f"no page in the middle of {path} could be damaged that way")


def _append_events(factory: ArchiveFactory, run_id: int, n: int, actor: str) -> None:
    """Child-process body of the cross-process test (module level so it pickles)."""
    archive = factory()
    try:
        for i in range(n):
            archive.add_event(run_id, "tick", {"i": i, "actor": actor}, actor=actor)
    finally:
        archive.close()


def _contend_for_lease(
    factory: ArchiveFactory, run_id: int, owner: str, start_at: float, hold: float, out: Any
) -> None:
    """Child-process body of the lease contention test: ask for the lease at ``start_at``, keep it ``hold`` s."""
    archive = factory()
    try:
        time.sleep(max(0.0, start_at - time.time()))
        got = archive.acquire_lease(run_id, owner, ttl=60.0)
        if isinstance(got, Lease):
            out.put((owner, "granted", got.owner))
            time.sleep(hold)
            archive.release_lease(got)
        else:
            out.put((owner, "held", got.holder.owner))
    finally:
        archive.close()


def _a_checkpoint(run_id: int, size: int, head: str, created_at: float = 1.0) -> Checkpoint:
    return Checkpoint(run_id, size, head, created_at, key_id="k" * 64, signature="ab" * 64)


class ArchiveConformance:
    """Behaviour shared by every archive backend. Subclasses provide the ``make_archive`` fixture."""

    @pytest.fixture
    def make_archive(self) -> ArchiveFactory:
        raise NotImplementedError("subclasses provide a make_archive fixture")

    @pytest.fixture
    def archive(self, make_archive: ArchiveFactory) -> Iterator[Archive]:
        a = make_archive()
        try:
            yield a
        finally:
            a.close()

    @pytest.fixture
    def run(self, archive: Archive) -> RunInfo:
        return archive.create_run("run-a", "task-a", {"run": {"iterations": 10}, "seed": 1})

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
        with pytest.raises(ArchiveError, match="iteration 3"):
            archive.add_candidate(make_candidate(run.id, 3, code="other = 1\n"))
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

    # -- multi-worker claims ------------------------------------------------------------------------------------

    def test_claim_next_numbers_iterations_and_holds_the_budget(self, archive: Archive, run: RunInfo) -> None:
        got = []
        for _ in range(4):
            c = make_candidate(run.id, -1)
            cid = archive.claim_next(c, "w1", limit=2)
            got.append((cid, c.iteration))
        assert [it for cid, it in got[:3]] == [0, 1, 2]
        assert all(cid is not None for cid, _ in got[:3])
        assert got[3] == (None, -1)  # over the budget: nothing stored
        assert archive.count(run.id) == 3
        assert archive.claim_next(make_candidate(run.id, -1), "w1", limit=10) is not None

    def test_claims_from_threads_never_share_an_iteration(self, archive: Archive, run: RunInfo) -> None:
        results: list[int] = []
        lock = threading.Lock()

        def work(w: int) -> None:
            for _ in range(10):
                c = make_candidate(run.id, -1, code=f"w{w}\n")
                if archive.claim_next(c, f"w{w}", limit=29) is not None:
                    with lock:
                        results.append(c.iteration)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == list(range(30))

    def test_reclaim_takes_only_stale_pending_claims_once(self, archive: Archive, run: RunInfo) -> None:
        alive = make_candidate(run.id, -1)
        archive.claim_next(alive, "alive", limit=10)
        dead = make_candidate(run.id, -1)
        archive.claim_next(dead, "dead", limit=10)
        done = make_candidate(run.id, -1)
        archive.claim_next(done, "dead", limit=10)
        done.status, done.score = Status.OK, 1.0
        archive.update_candidate(done)
        time.sleep(0.3)
        assert alive.id is not None and dead.id is not None
        archive.heartbeat("alive", [alive.id])
        archive.heartbeat("someone-else", [dead.id])  # not its claim: no effect
        taken = archive.reclaim(run.id, "rescuer", stale_after=0.2)
        assert taken is not None and taken.id == dead.id and taken.status == Status.PENDING
        assert taken.program == dead.program
        assert (
            archive.reclaim(run.id, "rescuer-2", stale_after=0.2) is None
        )  # fresh claim now, and alive is alive

    def test_rows_updated_since(self, archive: Archive, run: RunInfo) -> None:
        a, b = make_candidate(run.id, 0), make_candidate(run.id, 1)
        archive.add_candidates([a, b])
        mark = time.time()
        time.sleep(0.01)
        b.status, b.score = Status.OK, 0.5
        archive.update_candidate(b)
        changed = archive.rows(run.id, updated_since=mark)
        assert [r.id for r in changed] == [b.id] and changed[0].status == Status.OK
        assert len(archive.rows(run.id)) == 2

    # -- events -------------------------------------------------------------------------------------------------

    def test_events_chain(self, archive: Archive, run: RunInfo) -> None:
        payloads: list[dict[str, Any]] = [
            {"candidate": 1, "score": 0.5},
            {"nested": {"b": [1, 2, {"c": None}], "a": "ü"}},
            {},
            {"big": 1e300, "small": -1e-300, "ratio": 0.1},
            {"tuple": (1, 2)},
        ]
        made = [
            archive.add_event(run.id, f"k{i}", p, actor="engine" if i % 2 else "guard")
            for i, p in enumerate(payloads)
        ]
        assert [e.seq for e in made] == [1, 2, 3, 4, 5]
        assert made[0].prev_hash == GENESIS
        assert all(made[i].prev_hash == made[i - 1].hash for i in range(1, 5))
        got = archive.events(run.id)
        assert [e.to_dict() for e in got] == [e.to_dict() for e in made]
        assert got[4].payload == {"tuple": [1, 2]}
        assert got[1].actor == "engine" and got[0].actor == "guard"
        assert verify_chain(got) == 5
        tail = archive.events(run.id, since_seq=2)
        assert [e.seq for e in tail] == [3, 4, 5]
        assert verify_chain(tail, prev_hash=got[1].hash, start_seq=3) == 3
        assert [e.seq for e in archive.events(run.id, since_seq=1, limit=2)] == [2, 3]
        assert archive.events(run.id, since_seq=5) == []

    def test_event_chains_are_per_run(self, archive: Archive, run: RunInfo) -> None:
        other = archive.create_run("run-b", "task-a", {})
        for i in range(3):
            archive.add_event(run.id, "a", {"i": i})
            archive.add_event(other.id, "b", {"i": i})
        for r in (run, other):
            evs = archive.events(r.id)
            assert [e.seq for e in evs] == [1, 2, 3] and all(e.run_id == r.id for e in evs)
            assert verify_chain(evs) == 3
        assert archive.events(run.id)[0].hash != archive.events(other.id)[0].hash

    def test_tampered_chain_is_detected(self, archive: Archive, run: RunInfo) -> None:
        for i in range(3):
            archive.add_event(run.id, "x", {"i": i})
        evs = archive.events(run.id)
        forged = [evs[0], type(evs[1])(**{**evs[1].to_dict(), "payload": {"i": 99}}), evs[2]]
        with pytest.raises(ArchiveError, match="seq 2"):
            verify_chain(forged)
        with pytest.raises(ArchiveError, match="expected seq 2"):
            verify_chain([evs[0], evs[2]])

    def test_event_payload_must_be_json(self, archive: Archive, run: RunInfo) -> None:
        with pytest.raises(ArchiveError, match="JSON"):
            archive.add_event(run.id, "bad", {"obj": object()})
        assert archive.events(run.id) == []
        archive.add_event(run.id, "good", {"ok": True})
        assert [e.seq for e in archive.events(run.id)] == [1]

    # -- signed checkpoints -------------------------------------------------------------------------------------
    # The archive stores checkpoints as given and checks they name a real head; signing and verifying them is
    # godel.guard's job (tests/guard/test_audit.py), so the signatures here are placeholders.

    def test_checkpoints_roundtrip(self, archive: Archive, run: RunInfo) -> None:
        evs = [archive.add_event(run.id, "e", {"i": i}) for i in range(5)]
        assert archive.checkpoints(run.id) == []
        first = archive.add_checkpoint(_a_checkpoint(run.id, 3, evs[2].hash, 10.5))
        second = archive.add_checkpoint(_a_checkpoint(run.id, 5, evs[4].hash, 11.25))
        assert first.id is not None and second.id is not None and first.id != second.id
        got = archive.checkpoints(run.id)
        assert got == [first, second]
        assert got[0].to_dict() == _a_checkpoint(run.id, 3, evs[2].hash, 10.5).to_dict()
        assert Checkpoint.from_dict(got[1].to_dict()) == replace(second, id=None)
        other = archive.create_run("run-b", "task-a", {})
        assert archive.checkpoints(other.id) == []
        with pytest.raises(UnknownRun):
            archive.checkpoints(MISSING)

    def test_checkpoint_must_name_a_stored_head(self, archive: Archive, run: RunInfo) -> None:
        evs = [archive.add_event(run.id, "e", {"i": i}) for i in range(3)]
        with pytest.raises(ArchiveError, match="event's hash is"):
            archive.add_checkpoint(_a_checkpoint(run.id, 2, evs[2].hash))
        with pytest.raises(ArchiveError, match="no such event"):
            archive.add_checkpoint(_a_checkpoint(run.id, 4, evs[2].hash))
        with pytest.raises(ArchiveError, match="at least one event"):
            archive.add_checkpoint(_a_checkpoint(run.id, 0, GENESIS))
        with pytest.raises(UnknownRun):
            archive.add_checkpoint(_a_checkpoint(MISSING, 1, evs[0].hash))
        assert archive.checkpoints(run.id) == []

    def test_checkpoint_of_a_size_already_signed_returns_the_stored_one(
        self, archive: Archive, run: RunInfo
    ) -> None:
        ev = archive.add_event(run.id, "e", {})
        first = archive.add_checkpoint(_a_checkpoint(run.id, 1, ev.hash, 1.0))
        again = archive.add_checkpoint(_a_checkpoint(run.id, 1, ev.hash, 2.0))
        assert again == first and archive.checkpoints(run.id) == [first]

    def test_stored_rows_are_the_columns_as_written(self, archive: Archive, run: RunInfo) -> None:
        ok = make_candidate(run.id, 0, status=Status.OK, score=0.25, flags=["jump"])
        failed = make_candidate(run.id, 1, status=Status.FAILED)
        archive.add_candidates([failed, ok])
        assert archive.stored_rows(run.id) == [
            StoredRow(ok.id or 0, 0, "ok", 0.25, True, ok.code_digest),
            StoredRow(failed.id or 0, 1, "failed", None, False, failed.code_digest),
        ]
        other = archive.create_run("run-b", "task-a", {})
        assert archive.stored_rows(other.id) == []
        with pytest.raises(UnknownRun):
            archive.stored_rows(MISSING)

    # -- run leases ---------------------------------------------------------------------------------------------

    def test_lease_is_taken_renewed_and_released(self, archive: Archive, run: RunInfo) -> None:
        assert archive.lease(run.id) is None
        lease = archive.acquire_lease(run.id, "host:1", ttl=30.0)
        assert isinstance(lease, Lease)
        assert lease.owner == "host:1" and lease.ttl == 30.0 and lease.taken_over_from is None
        assert lease.acquired_at == lease.renewed_at and not lease.stale(lease.renewed_at + 29)
        assert archive.lease(run.id) == lease
        time.sleep(0.01)
        renewed = archive.renew_lease(lease)
        assert renewed.renewed_at > lease.renewed_at and renewed.acquired_at == lease.acquired_at
        again = archive.acquire_lease(run.id, "host:1", ttl=45.0)  # the owner asking again keeps it
        assert isinstance(again, Lease) and again.acquired_at == lease.acquired_at and again.ttl == 45.0
        archive.release_lease(again)
        assert archive.lease(run.id) is None
        archive.release_lease(again)  # released twice: nothing happens
        with pytest.raises(LeaseLost, match="released"):
            archive.renew_lease(again)
        with pytest.raises(UnknownRun):
            archive.acquire_lease(MISSING, "host:1", ttl=30.0)
        with pytest.raises(UnknownRun):
            archive.lease(MISSING)
        with pytest.raises(ArchiveError, match="ttl"):
            archive.acquire_lease(run.id, "host:1", ttl=0)
        with pytest.raises(ArchiveError, match="owner"):
            archive.acquire_lease(run.id, "", ttl=30.0)

    def test_a_live_lease_is_refused_naming_its_holder(self, archive: Archive, run: RunInfo) -> None:
        mine = archive.acquire_lease(run.id, "host-a:100", ttl=30.0)
        assert isinstance(mine, Lease)
        theirs = archive.acquire_lease(run.id, "host-b:200", ttl=30.0)
        assert isinstance(theirs, LeaseHeld) and theirs.holder == mine
        assert "host-a:100" in theirs.message() and "30 s" in theirs.message()
        err = theirs.error()
        assert isinstance(err, RunLeased) and err.user_error and "host-a:100" in str(err)
        archive.release_lease(Lease(run.id, "host-b:200", 0.0, 0.0, 1.0))  # not theirs to give
        assert archive.lease(run.id) == mine
        archive.release_lease(mine)
        got = archive.acquire_lease(run.id, "host-b:200", ttl=30.0)
        assert isinstance(got, Lease) and got.owner == "host-b:200" and got.taken_over_from is None

    def test_a_stale_lease_is_taken_over_and_its_owner_told(self, archive: Archive, run: RunInfo) -> None:
        dead = archive.acquire_lease(run.id, "dead:1", ttl=0.2)
        assert isinstance(dead, Lease)
        assert isinstance(archive.acquire_lease(run.id, "new:2", ttl=30.0), LeaseHeld)
        time.sleep(0.3)
        taken = archive.acquire_lease(run.id, "new:2", ttl=30.0)
        assert isinstance(taken, Lease) and taken.owner == "new:2" and taken.taken_over_from == "dead:1"
        with pytest.raises(LeaseLost, match="taken over by new:2") as info:
            archive.renew_lease(dead)
        assert not info.value.user_error
        archive.release_lease(dead)  # the old owner giving it back must not free the new owner's run
        assert archive.lease(run.id) == taken

    def test_leases_are_per_run_and_do_not_block_workers(self, archive: Archive, run: RunInfo) -> None:
        other = archive.create_run("run-b", "task-a", {})
        a = archive.acquire_lease(run.id, "host:1", ttl=30.0)
        b = archive.acquire_lease(other.id, "host:2", ttl=30.0)
        assert isinstance(a, Lease) and isinstance(b, Lease)
        # Workers share a run through claims; a local owner's lease does not stand in their way.
        cand = make_candidate(run.id, -1)
        assert archive.claim_next(cand, "worker-1", limit=5) is not None
        archive.heartbeat("worker-1", [cand.id or 0])
        archive.add_event(run.id, "e", {})

    def test_lease_contention_between_threads(self, archive: Archive, run: RunInfo) -> None:
        barrier = threading.Barrier(8)
        results: list[Lease | LeaseHeld] = []
        lock = threading.Lock()

        def ask(i: int) -> None:
            barrier.wait()
            got = archive.acquire_lease(run.id, f"thread-{i}", ttl=30.0)
            with lock:
                results.append(got)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        granted = [r for r in results if isinstance(r, Lease)]
        assert len(granted) == 1
        assert all(
            isinstance(r, LeaseHeld) and r.holder.owner == granted[0].owner
            for r in results
            if r is not granted[0]
        )

    @pytest.mark.slow
    def test_lease_contention_between_processes(
        self, make_archive: ArchiveFactory, archive: Archive, run: RunInfo
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        start_at = time.time() + 3.0  # both children are up by then (a spawned interpreter imports godel)
        procs = [
            ctx.Process(
                target=_contend_for_lease, args=(make_archive, run.id, f"proc-{i}", start_at, 3.0, out)
            )
            for i in range(2)
        ]
        for p in procs:
            p.start()
        answers = sorted(out.get(timeout=120) for _ in procs)
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0, 0]
        outcomes = [a[1] for a in answers]
        assert sorted(outcomes) == ["granted", "held"], answers
        winner = next(a[0] for a in answers if a[1] == "granted")
        assert all(a[2] == winner for a in answers)  # the loser was told who holds the run
        assert archive.lease(run.id) is None  # the winner released it at its end
        assert isinstance(archive.acquire_lease(run.id, "after", ttl=30.0), Lease)

    # -- concurrency and persistence ----------------------------------------------------------------------------

    def test_threads_write_concurrently(self, archive: Archive, run: RunInfo) -> None:
        n_threads, per = 8, 25
        errors: list[BaseException] = []
        barrier = threading.Barrier(n_threads)

        def work(t: int) -> None:
            try:
                barrier.wait()
                for k in range(per):
                    it = t * per + k
                    c = make_candidate(run.id, it, status=Status.OK, score=float(it))
                    archive.add_candidate(c)
                    archive.add_event(run.id, "added", {"candidate": c.id, "thread": t})
                    c.timings = {"t": float(t)}
                    archive.update_candidate(c)
                    archive.update_run(run.id, meta={f"thread{t}": k})
                    archive.rows(run.id)
            except BaseException as exc:  # collected and re-raised in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        total = n_threads * per
        assert archive.count(run.id) == total
        assert [r.iteration for r in archive.rows(run.id)] == list(range(total))
        evs = archive.events(run.id)
        assert [e.seq for e in evs] == list(range(1, total + 1))
        assert verify_chain(evs) == total
        assert archive.get_run(run.id).meta == {f"thread{t}": per - 1 for t in range(n_threads)}

    @pytest.mark.slow
    def test_processes_append_events(
        self, make_archive: ArchiveFactory, archive: Archive, run: RunInfo
    ) -> None:
        archive.add_event(run.id, "start", {})
        ctx = multiprocessing.get_context("spawn")
        procs = [
            ctx.Process(target=_append_events, args=(make_archive, run.id, 40, f"p{i}")) for i in range(3)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0, 0, 0]
        evs = archive.events(run.id)
        assert [e.seq for e in evs] == list(range(1, 122))
        assert verify_chain(evs) == 121
        assert {e.actor for e in evs} == {"engine", "p0", "p1", "p2"}

    def test_reopen_keeps_everything(self, make_archive: ArchiveFactory) -> None:
        first = make_archive()
        try:
            run = first.create_run("persist", "t", {"k": [1, 2]}, {"m": 1})
            seed = make_candidate(run.id, 0, status=Status.OK, score=1.0)
            first.add_candidate(seed)
            kid = make_candidate(run.id, 1, parent_id=seed.id, generation=1, status=Status.OK, score=2.0)
            first.add_candidate(kid)
            first.add_event(run.id, "a", {"x": 1})
            first.update_run(run.id, status="stopped")
            before = {
                "runs": [r.to_dict() for r in first.runs()],
                "cands": [c.to_dict() for c in first.candidates(run.id)],
                "events": [e.to_dict() for e in first.events(run.id)],
            }
        finally:
            first.close()
        second = make_archive()
        try:
            after = {
                "runs": [r.to_dict() for r in second.runs()],
                "cands": [c.to_dict() for c in second.candidates(run.id)],
                "events": [e.to_dict() for e in second.events(run.id)],
            }
            assert after == before
            best = second.best(run.id)
            assert best is not None and best.id == kid.id
            ev = second.add_event(run.id, "b", {"x": 2})
            assert ev.seq == 2 and ev.prev_hash == before["events"][0]["hash"]
            assert verify_chain(second.events(run.id)) == 2
            second.add_candidate(make_candidate(run.id, 2, parent_id=kid.id, generation=2))
            assert [c.id for c in second.lineage(second.rows(run.id)[-1].id)][:2] == [seed.id, kid.id]
        finally:
            second.close()

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
