"""Several processes, on one machine or many, cooperating on one run through a shared archive.

Each ``godel worker`` claims iteration numbers from the archive (so the run's iteration budget holds across all of
them), proposes and evaluates through the same pipeline as a local run, and sends heartbeats for the candidates it
holds. A worker that dies leaves its claimed candidates *pending* with a stale heartbeat; any other worker reclaims
them (one worker each: row locks with SKIP LOCKED on PostgreSQL) and evaluates them, so nothing is lost and nothing
is evaluated twice. Before leaving, a worker waits until the run has no pending candidate left.

Unlike a local run, cooperating workers are not deterministic: which parent an iteration sees depends on what the
others finished first.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

from godel.archive import Archive, RunInfo
from godel.candidate import Candidate, Program, Status
from godel.config import noise_samples
from godel.engine._local import (
    Engine,
    accepted_best,
    budget_spent,
    default_executor,
    run_stages,
    seed_or_raise,
)
from godel.engine._pipeline import Pipeline, Precheck, Ticket
from godel.engine._store import CandidateCache, EventLog
from godel.errors import ArchiveError, ArchiveUnavailable, GodelError, TaskError
from godel.executor import Executor
from godel.guard import Checkpointer, Guard
from godel.progress import Progress, RunSummary
from godel.propose import Proposer
from godel.sandbox import Sandbox
from godel.select import Selector
from godel.task import Task
from godel.telemetry import Telemetry

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


class BudgetSpent(GodelError):
    """The run's iteration budget is used up: the archive numbered its last iteration for another worker."""


class ClaimLedger:
    """Candidates enter the archive as claims on the run's next iteration; a duplicate is any stored candidate with
    the same code (workers are not deterministic anyway). Holds the ids of the candidates this worker evaluates,
    which the heartbeat keeps alive."""

    def __init__(self, archive: Archive, worker_id: str, limit: int) -> None:
        self.archive = archive
        self.worker_id = worker_id
        self.limit = limit
        self._lock = threading.Lock()
        self._held: set[int] = set()

    def insert(self, cand: Candidate) -> Candidate:
        stored = replace(cand)
        if self.archive.claim_next(stored, self.worker_id, self.limit) is None:
            raise BudgetSpent("the run's iterations are all claimed")
        return stored

    def duplicate_of(self, run_id: int, program: Program, key: str, seen: Mapping[str, int]) -> int | None:
        # The archive indexes the text's digest: among workers a duplicate is the same text.
        return self.archive.find_by_digest(run_id, program.digest())

    @contextlib.contextmanager
    def holding(self, cid: int) -> Iterator[None]:
        with self._lock:
            self._held.add(cid)
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(cid)

    def held(self) -> list[int]:
        with self._lock:
            return sorted(self._held)


class Worker:
    """One cooperating worker. Build it with the parts like an :class:`Engine`; call :meth:`work`."""

    def __init__(
        self,
        task: Task,
        archive: Archive,
        *,
        proposer: Proposer,
        selector_factory: Callable[[], Selector],
        sandbox: Sandbox | None = None,
        guard: Guard | None = None,
        executor: Executor | None = None,
        telemetry: Telemetry | None = None,
        worker: WorkerConfig | None = None,
        checkpointer: Checkpointer | None = None,
        prechecks: tuple[Precheck, ...] | None = None,
    ) -> None:
        self.task = task
        self.archive = archive
        self.proposer = proposer
        self.selector_factory = selector_factory
        self.sandbox = sandbox
        self.guard = guard
        self.executor: Executor = default_executor(task, sandbox, executor)
        self.telemetry = telemetry if telemetry is not None else Telemetry()
        self.wconf = worker or WorkerConfig()
        self.worker_id = (
            self.wconf.worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        )
        self.seed = task.config.run.seed
        self.prechecks = prechecks
        self.checkpointer = checkpointer  # signs the audit trail every N events and when this worker leaves
        self._stop = threading.Event()

    def request_stop(self) -> None:
        self._stop.set()

    def join(self, name: str | None = None) -> RunInfo:
        """The run to work on: ``name``, else the task's latest run, created (with its seed) when there is none."""
        if name is not None:
            return self.archive.get_run(name)
        run = self.archive.latest_run(self.task.name)
        if run is not None:
            return run
        try:
            return Engine(
                self.task,
                self.archive,
                proposer=self.proposer,
                selector_factory=self.selector_factory,
                sandbox=self.sandbox,
                executor=self.executor,
                telemetry=self.telemetry,
            ).start_run()
        except ArchiveError:
            # Another worker created it at the same moment.
            again = self.archive.latest_run(self.task.name)
            if again is None:
                raise
            return again

    def work(self, name: str | None = None) -> RunSummary:
        run = self.join(name)
        if self.guard is not None:
            self.guard.start(self.archive, run.id, self.task)
        self.telemetry = self.telemetry.bind(run.name)
        return _WorkerRun(self, run).work()


class _WorkerRun:
    """One worker's session on a run: its threads, its heartbeat and the selector it keeps up to date."""

    def __init__(self, worker: Worker, run: RunInfo) -> None:
        self.worker = worker
        self.archive = worker.archive
        self.run_info = run
        self.wconf = worker.wconf
        cfg = worker.task.config.run
        self.ledger = ClaimLedger(worker.archive, worker.worker_id, cfg.iterations)
        self.pipeline = Pipeline(
            worker.task,
            worker.archive,
            run_stages(worker.task, worker.proposer, worker.executor, worker.guard, worker.prechecks),
            self.ledger,
            events=EventLog(
                worker.archive,
                worker.telemetry,
                stored=worker.checkpointer.observe if worker.checkpointer is not None else None,
            ),
            cache=CandidateCache(worker.archive),
            proposals_in_flight=min(cfg.proposals_in_flight or cfg.parallel, cfg.parallel),
            run_id=run.id,
        )
        self.progress = Progress(run.id, run.name, total=cfg.iterations)
        self._lock = threading.Lock()  # the selector, the draw counter and the progress
        self._selector: Selector | None = None
        self._observed: set[int] = set()
        self._refreshed_at = 0.0
        self._last_refresh = 0.0
        self._counter = 0
        self._spent = threading.Event()
        self._errors: list[BaseException] = []

    def work(self) -> RunSummary:
        run, worker = self.run_info, self.worker
        seed = self._seed()
        self.pipeline.resume_acceptance(self.archive.get_run(run.id).meta, seed)
        self.pipeline.resume_learning(run.id)
        self.pipeline.events.emit(run.id, "worker_start", {"worker": worker.worker_id})
        beat = threading.Thread(target=self._heartbeats, name="godel-heartbeat", daemon=True)
        beat.start()
        threads = [
            threading.Thread(target=self._loop, name=f"godel-worker-{i}")
            for i in range(worker.task.config.run.parallel)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        worker._stop.set()
        beat.join(timeout=5)
        self.pipeline.events.emit(
            run.id, "worker_end", {"worker": worker.worker_id, "done": self.progress.done}
        )
        if worker.checkpointer is not None:
            worker.checkpointer.close(run.id)
        if self._errors:
            raise self._errors[0]
        if self.archive.count(run.id, Status.PENDING) == 0:
            self.archive.update_run(run.id, status="finished", meta={"stopped": "iterations"})
        return RunSummary(
            run.id,
            run.name,
            "iterations",
            self.progress,
            accepted_best(self.pipeline),
            seed,
            self.pipeline.acceptance.noise.to_dict(),
        )

    def _seed(self) -> Candidate:
        run = self.run_info
        rows = {r.iteration: r for r in self.archive.rows(run.id)}
        if 0 not in rows:
            try:
                fresh = self.pipeline.seed(run.id, None, noise_samples(self.worker.task.config.run))
                return seed_or_raise(self.pipeline, fresh, self.worker.task)
            except ArchiveError:
                pass  # another worker stored the seed first
        deadline = time.monotonic() + self.wconf.drain_timeout
        while True:
            row = next((r for r in self.archive.rows(run.id) if r.iteration == 0), None)
            if row is not None and row.status.terminal:
                seed = self.archive.get_candidate(row.id)
                if seed.status != Status.OK:
                    raise TaskError(f"the seed program fails its own evaluation: {seed.reason}")
                return seed
            if row is not None and row.status == Status.PENDING:
                taken = self.archive.reclaim(run.id, self.worker.worker_id, self.wconf.stale_after)
                if taken is not None:
                    self.pipeline.finish(taken)
                    continue
            if time.monotonic() > deadline:
                raise GodelError("timed out waiting for another worker to evaluate the seed")
            time.sleep(0.2)

    # -- the threads ----------------------------------------------------------------------------------------------

    def _loop(self) -> None:
        """One worker thread; an unreachable archive is waited out with backoff, anything else ends the worker."""
        outages = 0
        while True:
            try:
                self._loop_once()
                return
            except ArchiveUnavailable as exc:
                outages += 1
                if outages > self.wconf.db_retries or self.worker._stop.is_set():
                    self._errors.append(exc)
                    self.worker._stop.set()
                    return
                delay = min(30.0, 0.5 * 2 ** (outages - 1)) * (0.5 + random.random())
                print(
                    f"godel worker {self.worker.worker_id}: archive unreachable ({exc.message}); "
                    f"retry {outages}/{self.wconf.db_retries} in {delay:.1f} s",
                    file=sys.stderr,
                )
                # What this thread held stays pending in the archive; it is reclaimed once its heartbeat is stale.
                time.sleep(delay)

    def _loop_once(self) -> None:
        stop = self.worker._stop
        try:
            while not stop.is_set():
                if self._reclaim_one():
                    continue
                if self._spent.is_set() or budget_spent(self.worker.task, self.progress, self.pipeline, stop):
                    break
                try:
                    cand = self.pipeline.run(self._ticket())
                except BudgetSpent:
                    self._spent.set()
                    break
                self._count(cand)
            self._drain()
        except ArchiveUnavailable:
            raise  # _loop waits it out
        except BaseException as exc:  # surfaced by work() after the other threads finish
            self._errors.append(exc)
            stop.set()

    def _reclaim_one(self) -> bool:
        taken = self.archive.reclaim(self.run_info.id, self.worker.worker_id, self.wconf.stale_after)
        if taken is None:
            return False
        self.pipeline.events.emit(
            self.run_info.id, "reclaim", {"candidate": taken.id, "worker": self.worker.worker_id}
        )
        self._count(self.pipeline.finish(taken))
        return True

    def _count(self, cand: Candidate) -> None:
        with self._lock:
            self.progress.count(cand, self.pipeline.health.last)
            self.progress.model_errors = self.pipeline.models.total
            best = self.pipeline.acceptance.incumbent
            self.progress.show_best(best.score, best.id)
            self.worker.telemetry.candidate(cand)
            self.worker.telemetry.progress(self.progress)

    def _drain(self) -> None:
        """Stay until no candidate of the run is pending: a worker that died mid-evaluation is covered."""
        deadline = time.monotonic() + self.wconf.drain_timeout
        while self.archive.count(self.run_info.id, Status.PENDING) > 0 and time.monotonic() < deadline:
            if self.worker._stop.is_set():
                return
            if not self._reclaim_one():
                time.sleep(min(1.0, self.wconf.stale_after / 4))

    def _ticket(self) -> Ticket:
        task, cache = self.worker.task, self.pipeline.cache
        with self._lock:
            selector = self._selector_now()
            self._counter += 1
            rng = random.Random(f"{self.worker.seed}:{self.worker.worker_id}:{self._counter}")
            parent_id = selector.pick(rng)
            k = task.config.proposer.inspirations
            inspirations = tuple(c for c in selector.top(k + 1) if c != parent_id)[:k]
        return Ticket(
            run_id=self.run_info.id,
            iteration=None,
            parent=cache.get(parent_id),
            rng=rng,
            inspirations=tuple(cache.get(c) for c in inspirations),
        )

    def _selector_now(self) -> Selector:
        """The selector, caught up with every finished candidate of every worker (at most refresh_every old)."""
        now = time.time()
        if self._selector is None:
            self._selector = self.worker.selector_factory()
        if now - self._refreshed_at >= self.wconf.refresh_every:
            since = (
                self._last_refresh - 5.0 if self._last_refresh else None
            )  # margin for clock skew between hosts
            rows = self.archive.rows(self.run_info.id, updated_since=since)
            self._last_refresh = now
            self._refreshed_at = now
            for row in rows:
                if row.status.terminal and row.id not in self._observed:
                    self._observed.add(row.id)
                    self._selector.observe(row)
        return self._selector

    def _heartbeats(self) -> None:
        while not self.worker._stop.wait(self.wconf.heartbeat_every):
            held = self.ledger.held()
            if held:
                try:
                    self.archive.heartbeat(self.worker.worker_id, held)
                except GodelError:
                    continue  # a brief database outage; the next beat retries
