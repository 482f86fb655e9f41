"""Conformance cases: multi-worker claims and run leases."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import pytest

from godel.archive._base import (
    Archive,
    Lease,
    LeaseHeld,
    LeaseLost,
    RunInfo,
    RunLeased,
)
from godel.archive._leases import LeaseKeeper, local_owner
from godel.archive.testing._base import MISSING, ArchiveFactory, CasesBase, make_candidate
from godel.candidate import Status
from godel.errors import ArchiveError, UnknownRun

__all__ = ["ClaimAndLeaseCases"]


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


class ClaimAndLeaseCases(CasesBase):
    """Conformance cases: multi-worker claims and run leases."""

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

    def test_lease_keeper_holds_the_run_while_it_lives(self, archive: Archive, run: RunInfo) -> None:
        with LeaseKeeper(archive, run.id, "keeper", ttl=0.3) as keeper:
            time.sleep(0.6)  # longer than the ttl: only the renewals keep it
            got = archive.acquire_lease(run.id, "other", ttl=30.0)
            assert isinstance(got, LeaseHeld) and got.holder.owner == "keeper"
            assert keeper.lease.renewed_at > keeper.lease.acquired_at and keeper.lost is None
        assert archive.lease(run.id) is None
        assert isinstance(archive.acquire_lease(run.id, "other", ttl=30.0), Lease)
        with pytest.raises(RunLeased, match="other"):
            LeaseKeeper(archive, run.id, "keeper", ttl=30.0)
        assert local_owner() != local_owner() and local_owner().count(":") == 2

    def test_lease_keeper_tells_its_owner_when_the_run_was_taken(
        self, archive: Archive, run: RunInfo
    ) -> None:
        told = threading.Event()
        errors: list[LeaseLost] = []

        def on_lost(exc: LeaseLost) -> None:
            errors.append(exc)
            told.set()

        keeper = LeaseKeeper(archive, run.id, "stalled", ttl=0.3, on_lost=on_lost)
        try:
            archive.release_lease(keeper.lease)  # as good as taken: the next renewal finds it gone
            assert isinstance(archive.acquire_lease(run.id, "new", ttl=30.0), Lease)
            assert told.wait(5)
            assert keeper.lost is errors[0] and "stalled no longer owns run" in str(errors[0])
        finally:
            keeper.close()
        current = archive.lease(run.id)
        assert current is not None and current.owner == "new"  # closing a lost keeper gives nothing back
