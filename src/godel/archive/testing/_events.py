"""Conformance cases: event chains, signed checkpoints, concurrency and persistence."""

from __future__ import annotations

import multiprocessing
import threading
from dataclasses import replace
from typing import Any

import pytest

from godel.archive._base import (
    Archive,
    Checkpoint,
    RunInfo,
    StoredRow,
)
from godel.archive._chain import GENESIS, verify_chain
from godel.archive.testing._base import MISSING, ArchiveFactory, CasesBase, make_candidate
from godel.candidate import Status
from godel.errors import ArchiveError, UnknownRun

__all__ = ["EventCases"]


def _append_events(factory: ArchiveFactory, run_id: int, n: int, actor: str) -> None:
    """Child-process body of the cross-process test (module level so it pickles)."""
    archive = factory()
    try:
        for i in range(n):
            archive.add_event(run_id, "tick", {"i": i, "actor": actor}, actor=actor)
    finally:
        archive.close()


def _a_checkpoint(run_id: int, size: int, head: str, created_at: float = 1.0) -> Checkpoint:
    return Checkpoint(run_id, size, head, created_at, key_id="k" * 64, signature="ab" * 64)


class EventCases(CasesBase):
    """Conformance cases: event chains, signed checkpoints, concurrency and persistence."""

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
