"""Several processes, on one machine or many, cooperating on one run through a shared archive.

Each ``godel worker`` claims iteration numbers from the archive (so the run's iteration budget holds across all of
them), proposes and evaluates, and sends heartbeats for the candidates it holds. A worker that dies leaves its
claimed candidates *pending* with a stale heartbeat; any other worker reclaims them (one worker each: row locks
with SKIP LOCKED on PostgreSQL) and evaluates them, so nothing is lost and nothing is evaluated twice. Before
leaving, a worker waits until the run has no pending candidate left.

Unlike :class:`godel.engine.Engine`, cooperating workers are not deterministic: which parent an iteration sees
depends on what the others finished first.
"""

from __future__ import annotations

import os
import random
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from godel.archive._base import RunInfo
from godel.candidate import Candidate, Status
from godel.engine import Engine
from godel.errors import ArchiveError, ArchiveUnavailable, EvaluationError, GodelError
from godel.progress import Progress, RunSummary
from godel.propose._base import ProposalContext
from godel.select._base import Selector
from godel.telemetry import span

__all__ = ["Worker", "WorkerConfig"]


@dataclass(frozen=True)
class WorkerConfig:
    worker_id: str = ""
    stale_after: float = 30.0  # seconds without heartbeat before a claim counts as dead
    heartbeat_every: float = 2.0
    refresh_every: float = 0.5  # how often the selector catches up with the others' results
    drain_timeout: float = 600.0  # how long to wait for other workers' pending candidates at the end
    db_retries: int = (
        8  # consecutive unreachable-archive errors survived (backoff 0.5 s doubling, at most 30 s)
    )


class _BudgetSpent(Exception):
    pass


class Worker(Engine):
    """One cooperating worker. Build it like an :class:`Engine`; call :meth:`work`."""

    def __init__(self, *args: Any, worker: WorkerConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wconf = worker or WorkerConfig()
        self.worker_id = (
            self.wconf.worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        )
        self._claimed: set[int] = set()
        self._claims_lock = threading.Lock()
        self._select_lock = threading.Lock()
        self._observed: set[int] = set()
        self._last_refresh = 0.0
        self._refreshed_at = 0.0
        self._spent = threading.Event()
        self._run: RunInfo | None = None
        self._counter = 0
        self._errors: list[BaseException] = []
        self._selector: Selector | None = None

    # -- run membership -----------------------------------------------------------------------------------------

    def join(self, name: str | None = None) -> RunInfo:
        """The run to work on: ``name``, else the task's latest run, created (with its seed) when there is none."""
        if name is not None:
            return self.archive.get_run(name)
        run = self.archive.latest_run(self.task.name)
        if run is not None:
            return run
        try:
            return self.start_run()
        except ArchiveError:
            # Another worker created it at the same moment.
            again = self.archive.latest_run(self.task.name)
            if again is None:
                raise
            return again

    def work(self, name: str | None = None) -> RunSummary:
        run = self.join(name)
        self._run = run
        if self.guard is not None:
            self.guard.start(self.archive, run.id, self.task)
        self.telemetry = self.telemetry.bind(run.name)
        progress = Progress(run.id, run.name, total=self.task.config.run.iterations)
        seed = self._seed(run, progress)
        self._best_seen = seed.score
        self._event(run.id, "worker_start", {"worker": self.worker_id})
        beat = threading.Thread(target=self._heartbeats, name="godel-heartbeat", daemon=True)
        beat.start()
        threads = [
            threading.Thread(target=self._loop, args=(run, progress), name=f"godel-worker-{i}")
            for i in range(self.task.config.run.parallel)
        ]
        errors: list[BaseException] = []
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        errors.extend(self._errors)
        self._stop_requested.set()
        beat.join(timeout=5)
        self._event(run.id, "worker_end", {"worker": self.worker_id, "done": progress.done})
        if errors:
            raise errors[0]
        if self.archive.count(run.id, Status.PENDING) == 0:
            self.archive.update_run(run.id, status="finished", meta={"stopped": "iterations"})
        return RunSummary(run.id, run.name, "iterations", progress, self.archive.best(run.id), seed)

    def _seed(self, run: RunInfo, progress: Progress) -> Candidate:
        rows = {r.iteration: r for r in self.archive.rows(run.id)}
        if 0 not in rows:
            try:
                return self._ensure_seed(run, rows, progress)
            except ArchiveError:
                pass  # another worker stored the seed first
        deadline = time.monotonic() + self.wconf.drain_timeout
        while True:
            row = next((r for r in self.archive.rows(run.id) if r.iteration == 0), None)
            if row is not None and row.status.terminal:
                seed = self.archive.get_candidate(row.id)
                if seed.status != Status.OK:
                    raise EvaluationError(f"the seed program fails its own evaluation: {seed.reason}")
                return seed
            if row is not None and row.status == Status.PENDING:
                taken = self.archive.reclaim(run.id, self.worker_id, self.wconf.stale_after)
                if taken is not None:
                    self._run_evaluation(taken)
                    continue
            if time.monotonic() > deadline:
                raise GodelError("timed out waiting for another worker to evaluate the seed")
            time.sleep(0.2)

    # -- the loop -----------------------------------------------------------------------------------------------

    def _loop(self, run: RunInfo, progress: Progress) -> None:
        """One worker thread; an unreachable archive is waited out with backoff, anything else ends the worker."""
        outages = 0
        while True:
            try:
                self._loop_once(run, progress)
                return
            except ArchiveUnavailable as exc:
                outages += 1
                if outages > self.wconf.db_retries or self._stop_requested.is_set():
                    self._errors.append(exc)
                    self._stop_requested.set()
                    return
                delay = min(30.0, 0.5 * 2 ** (outages - 1)) * (0.5 + random.random())
                print(
                    f"godel worker {self.worker_id}: archive unreachable ({exc.message}); "
                    f"retry {outages}/{self.wconf.db_retries} in {delay:.1f} s",
                    file=sys.stderr,
                )
                # What this thread held stays pending in the archive; it is reclaimed once its heartbeat is stale.
                time.sleep(delay)

    def _loop_once(self, run: RunInfo, progress: Progress) -> None:
        try:
            while not self._stop_requested.is_set():
                taken = self.archive.reclaim(run.id, self.worker_id, self.wconf.stale_after)
                if taken is not None:
                    self._event(run.id, "reclaim", {"candidate": taken.id, "worker": self.worker_id})
                    self._run_evaluation(taken)
                    self._count(taken, progress)
                    continue
                if self._spent.is_set() or self._budget_left(progress) is not None:
                    break
                try:
                    cand = self._one(run)
                except _BudgetSpent:
                    self._spent.set()
                    break
                self._count(cand, progress)
            self._drain(run, progress)
        except ArchiveUnavailable:
            raise  # _loop waits it out
        except BaseException as exc:  # surfaced by work() after the other threads finish
            self._errors.append(exc)
            self._stop_requested.set()

    def _count(self, cand: Candidate, progress: Progress) -> None:
        with self._select_lock:
            self._account(cand, progress)

    def _drain(self, run: RunInfo, progress: Progress) -> None:
        """Stay until no candidate of the run is pending: a worker that died mid-evaluation is covered."""
        deadline = time.monotonic() + self.wconf.drain_timeout
        while self.archive.count(run.id, Status.PENDING) > 0 and time.monotonic() < deadline:
            if self._stop_requested.is_set():
                return
            taken = self.archive.reclaim(run.id, self.worker_id, self.wconf.stale_after)
            if taken is None:
                time.sleep(min(1.0, self.wconf.stale_after / 4))
                continue
            self._event(run.id, "reclaim", {"candidate": taken.id, "worker": self.worker_id})
            self._run_evaluation(taken)
            self._count(taken, progress)

    def _one(self, run: RunInfo) -> Candidate:
        with self._select_lock:
            selector = self._selector_now(run)
            self._counter += 1
            rng = random.Random(f"{self.seed}:{self.worker_id}:{self._counter}")
            parent_id = selector.pick(rng)
            k = self.task.config.proposer.inspirations
            inspirations = tuple(c for c in selector.top(k + 1) if c != parent_id)[:k]
        parent = self._get(parent_id)
        ctx = ProposalContext(
            task=self.task,
            parent=parent,
            iteration=-1,
            inspirations=tuple(self._get(c) for c in inspirations),
            feedback=(),
        )
        t0 = time.monotonic()
        with self._propose_slots, span("propose", parent=parent_id, worker=self.worker_id):
            proposal = self.proposer.propose(ctx, rng)
        return self._admit(run.id, -1, parent, proposal, time.monotonic() - t0, {})

    def _selector_now(self, run: RunInfo) -> Selector:
        """The selector, caught up with every finished candidate of every worker (at most refresh_every old)."""
        now = time.time()
        if self._selector is None:
            self._selector = self.selector_factory()
        if now - self._refreshed_at >= self.wconf.refresh_every:
            since = (
                self._last_refresh - 5.0 if self._last_refresh else None
            )  # margin for clock skew between hosts
            rows = self.archive.rows(run.id, updated_since=since)
            self._last_refresh = now
            self._refreshed_at = now
            for row in rows:
                if row.status.terminal and row.id not in self._observed:
                    self._observed.add(row.id)
                    self._selector.observe(row)
        return self._selector

    # -- claims -------------------------------------------------------------------------------------------------

    def _insert(self, cand: Candidate) -> None:
        cid = self.archive.claim_next(cand, self.worker_id, self.task.config.run.iterations)
        if cid is None:
            raise _BudgetSpent
        if cand.status == Status.PENDING:
            with self._claims_lock:
                self._claimed.add(cid)

    def _duplicate_of(
        self, run_id: int, digest: str, iteration: int, digests: dict[str, tuple[int, int]]
    ) -> int | None:
        # Workers are not deterministic anyway: any stored candidate with the same code counts.
        return self.archive.find_by_digest(run_id, digest)

    def _run_evaluation(self, cand: Candidate) -> None:
        assert cand.id is not None
        with self._claims_lock:
            self._claimed.add(cand.id)
        try:
            super()._run_evaluation(cand)
        finally:
            with self._claims_lock:
                self._claimed.discard(cand.id)

    def _heartbeats(self) -> None:
        while not self._stop_requested.wait(self.wconf.heartbeat_every):
            with self._claims_lock:
                held = sorted(self._claimed)
            if held:
                try:
                    self.archive.heartbeat(self.worker_id, held)
                except GodelError:
                    continue  # a brief database outage; the next beat retries
