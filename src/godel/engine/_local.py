"""One process owns a run: N proposals and M evaluations in flight, deterministic under a seed.

Determinism: iteration ``i`` picks its parent from the candidates of iterations ``<= i - W`` (``W`` = candidates in
flight), with a random generator derived from ``(seed, i)`` only. The candidates a given iteration can see therefore
never depend on thread timing, so an interrupted-then-resumed run equals an uninterrupted one for a deterministic
proposer, and the seed makes runs reproducible.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from godel.archive import Archive, CandidateRow, LeaseKeeper, LeaseLost, RunInfo
from godel.candidate import Candidate, Program, Proposal, Status
from godel.config import noise_samples
from godel.engine._pipeline import DEFAULT_STAGE_PRECHECKS, Pipeline, Precheck, Stages, Ticket, iteration_rng
from godel.engine._store import CandidateCache, EventLog, LocalLedger
from godel.errors import GodelError, SandboxError, TaskError
from godel.evaluate import limit_hint
from godel.executor import Executor, LocalExecutor
from godel.guard import Checkpointer, Guard
from godel.learn import Memory, OutcomePredictor, Strategy, StrategyIndex, strategy_of
from godel.precheck import normalized_digest
from godel.progress import Progress, RunSummary
from godel.propose import Proposer
from godel.sandbox import Sandbox
from godel.select import Selector
from godel.task import Task
from godel.telemetry import Telemetry

__all__ = ["Engine", "accepted_best", "budget_spent", "default_executor", "run_stages", "seed_or_raise"]

_HOUSEKEEPING_SECONDS = 2.0


def default_executor(task: Task, sandbox: Sandbox | None, executor: Executor | None) -> Executor:
    """The executor a run evaluates with: the one given, else this machine's sandbox slots."""
    if executor is not None:
        return executor
    if sandbox is None:
        raise GodelError("an engine needs a sandbox or an executor", hint="pass sandbox= or executor=")
    return LocalExecutor(task, sandbox)


def run_stages(
    task: Task,
    proposer: Proposer,
    evaluator: Executor,
    guard: Guard | None,
    prechecks: tuple[Precheck, ...] | None = None,
) -> Stages:
    """The stages of an evolution run of ``task``: its proposer, its executor, its guard, the prechecks (default:
    every one of godel.precheck) and what counts as the same code (``run.same_code``)."""
    return Stages(
        proposer=proposer,
        evaluator=evaluator,
        guard=guard,
        prechecks=DEFAULT_STAGE_PRECHECKS if prechecks is None else prechecks,
        same_code=normalized_digest if task.config.run.same_code == "syntax" else Program.digest,
        predictor=make_predictor(task),
    )


def make_predictor(task: Task) -> OutcomePredictor | None:
    """The run's outcome predictor, when ``[learn] predictor`` asks for one."""
    cfg = task.config.learn
    if not cfg.predictor:
        return None
    return OutcomePredictor(
        skip_below=cfg.skip_below,
        explore=cfg.explore,
        min_observations=cfg.min_observations,
        seed=task.config.run.seed,
    )


def budget_spent(task: Task, progress: Progress, pipeline: Pipeline, stop: threading.Event) -> str | None:
    """Why no further proposal should be made (None: go on)."""
    cfg = task.config.run
    if stop.is_set():
        return "interrupted"
    if pipeline.health.down:
        return "infrastructure"
    if pipeline.models.down:
        return "model endpoint"
    if cfg.max_wall_seconds is not None and time.monotonic() - progress.started >= cfg.max_wall_seconds:
        return "wall time"
    if cfg.max_tokens is not None and progress.tokens >= cfg.max_tokens:
        return "tokens"
    if cfg.max_cost is not None and progress.cost >= cfg.max_cost:
        return "cost"
    if pipeline.stages.proposer.exhausted:
        return "cost"  # every proposer's budget is spent (an LLM past its cost or token cap)
    return None


def seed_or_raise(pipeline: Pipeline, seed: Candidate, task: Task) -> Candidate:
    """The seed must evaluate OK: a run cannot improve on a program that fails its own evaluation. A run whose seed
    could not be evaluated is stopped, one whose seed failed is failed, so neither stays "running"."""
    if seed.status == Status.PENDING:
        pipeline.archive.update_run(
            seed.run_id, status="stopped", meta={"stopped": "infrastructure", "reason": pipeline.health.last}
        )
        raise SandboxError(
            f"cannot evaluate the seed program: {pipeline.health.last}",
            hint="`godel doctor` checks the sandbox; then continue with --resume",
        )
    if seed.status != Status.OK:
        pipeline.archive.update_run(
            seed.run_id, status="failed", meta={"stopped": "seed failed", "reason": seed.reason}
        )
        raise TaskError(
            f"the seed program fails its own evaluation: {seed.reason}",
            hint=limit_hint(seed.evaluation)
            or f"fix {task.program_path} or {task.evaluator_path}, then run again (--resume evaluates the seed "
            f"again); `godel show {seed.id} --storage {pipeline.archive.url}` has details",
        )
    return seed


def accepted_best(pipeline: Pipeline) -> Candidate | None:
    """The run's accepted best as the archive now holds it."""
    cid = pipeline.acceptance.incumbent.id
    return pipeline.archive.get_candidate(cid) if cid is not None else None


class _View:
    """What the next iteration may know of the run: the selector's state, the code digests seen, and recent failure
    reasons per parent. Fed strictly in iteration order."""

    def __init__(
        self,
        selector: Selector,
        same_code: Callable[[Program], str],
        strategies: StrategyIndex | None = None,
        parent_of: Callable[[int], Candidate] | None = None,
    ) -> None:
        self.selector = selector
        self.same_code = same_code
        self.digests: dict[str, int] = {}
        self.feedback: dict[int, deque[str]] = {}
        self.strategies = strategies  # improving edits seen so far (proposer.strategies > 0)
        self.parent_of = parent_of

    def observe(self, cand: Candidate) -> None:
        assert cand.id is not None
        self.selector.observe(
            CandidateRow(
                cand.id,
                cand.iteration,
                cand.parent_id,
                cand.generation,
                cand.status,
                cand.score,
                bool(cand.flags),
            )
        )
        if cand.failure_stage not in ("propose", "duplicate"):
            self.digests.setdefault(self.same_code(cand.program), cand.id)
        if cand.parent_id is not None and cand.status in (Status.FAILED, Status.REJECTED) and cand.reason:
            self.feedback.setdefault(cand.parent_id, deque(maxlen=3)).append(cand.reason)
        if self.strategies is not None and self.parent_of is not None and cand.parent_id is not None:
            strategy = strategy_of(cand, self.parent_of(cand.parent_id))
            if strategy is not None:
                self.strategies.add(strategy)


def _strategy_texts(view: _View, parent: Candidate, k: int) -> tuple[str, ...]:
    if view.strategies is None or k <= 0:
        return ()
    found = view.strategies.similar(parent.program, k, exclude=parent.id)
    return tuple(f"{s.describe()}{': ' + s.diagnosis if s.diagnosis else ''}\n{s.diff}" for s in found)


class _Flight:
    """This session's candidates in flight, and those finished but not yet shown to the view."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        self.running: dict[int, Future[Candidate]] = {}
        self.finished: dict[int, Candidate] = {}
        self.late: dict[
            int, Future[Candidate]
        ] = {}  # approved by a human after their turn: evaluated out of order

    def submit(self, iteration: int, fn: Callable[..., Candidate], *args: Any) -> None:
        self.running[iteration] = self.pool.submit(fn, *args)

    def busy(self, iteration: int) -> bool:
        return iteration in self.running or iteration in self.late

    def collect(self, account: Callable[[Candidate], None], *, block: bool) -> None:
        """Account for every finished candidate, waiting for one first when ``block``."""
        if block and self.running and not any(f.done() for f in self.running.values()):
            wait(self.running.values(), return_when=FIRST_COMPLETED)
        for i in sorted(i for i, f in self.running.items() if f.done()):
            cand = self.running.pop(i).result()  # errors raised in an evaluation thread surface here
            account(cand)
            self.finished[i] = cand

    def take(self, iteration: int, account: Callable[[Candidate], None]) -> Candidate | None:
        """The finished candidate of ``iteration``, waiting for it if it is still in flight."""
        if iteration in self.finished:
            return self.finished.pop(iteration)
        fut = self.running.pop(iteration, None)
        if fut is None:
            return None
        cand = fut.result()
        account(cand)
        return cand


class Engine:
    """One run of the loop over an archive, in this process. Create with the parts; call :meth:`run`."""

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
        on_progress: Callable[[Progress], None] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        checkpointer: Checkpointer | None = None,
        lease_seconds: float = 30.0,
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
        self.on_progress = on_progress
        self.on_event = on_event
        self.seed = task.config.run.seed
        self.window = task.config.run.parallel
        self._stop = threading.Event()
        # Signs the audit trail every N events and at the end of the run (None: the trail is left unsigned).
        self.checkpointer = checkpointer
        self.lease_seconds = lease_seconds
        self.stages = run_stages(task, proposer, self.executor, guard, prechecks)
        self._lease: LeaseKeeper | None = None
        self.lease_lost: LeaseLost | None = None
        # What the run records about containment: the sandbox's, or (an executor alone) the executor's name.
        self._sandbox_name = sandbox.name if sandbox is not None else self.executor.name
        self._trusted = sandbox.trusted if sandbox is not None else False

    # -- public -------------------------------------------------------------------------------------------------

    def events(self) -> EventLog:
        """The event log this engine writes through (signed by its checkpointer, shown to ``on_event``)."""
        observe = self.checkpointer.observe if self.checkpointer is not None else None
        return EventLog(self.archive, self.telemetry, self.on_event, stored=observe)

    def start_run(
        self, *, resume: bool = False, name: str | None = None, warm_start: Mapping[str, Any] | None = None
    ) -> RunInfo:
        """The run to work on: the task's latest run when resuming, else a new one. Either way this process takes
        the run's lease first: one owner at a time (another ``--resume`` of it is refused, naming the holder)."""
        events = self.events()
        if resume:
            run = self.archive.get_run(name) if name else self.archive.latest_run(self.task.name)
            if run is None:
                raise GodelError(
                    f"no run of task {self.task.name!r} in {self.archive.url} to resume",
                    hint="start one without --resume",
                )
            self._hold(run.id)
            self.archive.update_run(run.id, status="running")
            events.emit(run.id, "resume", {"config": self.task.config.to_dict()})
            return run
        base = name or self.task.name
        existing = {r.name for r in self.archive.runs()}
        run_name, n = base, 1
        while run_name in existing:
            n += 1
            run_name = f"{base}-{n}"
        run = self.archive.create_run(
            run_name,
            self.task.name,
            self.task.config.to_dict(),
            {"task": self.task.info(), "sandbox": self._sandbox_name, "sandbox_trusted": self._trusted}
            | ({"warm_start": dict(warm_start)} if warm_start else {}),
        )
        self._hold(run.id)
        if self._trusted:
            events.emit(
                run.id, "warning", {"message": "candidates run WITHOUT containment (unsafe-subprocess)"}
            )
        return run

    def request_stop(self) -> None:
        self._stop.set()

    def run(
        self, *, resume: bool = False, name: str | None = None, warm_start: Mapping[str, Any] | None = None
    ) -> RunSummary:
        """Run to the end of a budget. ``warm_start`` (a new run only; see :func:`godel.learn.plan_warm_start`) names
        candidates of an earlier run that become this run's first proposals, re-evaluated here like any other."""
        if resume and warm_start:
            raise GodelError(
                "--warm-start starts a new run; --resume continues one", hint="use one of the two, not both"
            )
        run = self.start_run(resume=resume, name=name, warm_start=warm_start)
        try:
            if self.guard is not None:
                self.guard.start(self.archive, run.id, self.task)
            return self.run_existing(run)
        finally:
            self._let_go()

    def _hold(self, run_id: int) -> None:
        if self._lease is not None and self._lease.lease.run_id == run_id:
            return
        self._let_go()
        self._lease = LeaseKeeper(self.archive, run_id, ttl=self.lease_seconds, on_lost=self._lost)

    def _lost(self, exc: LeaseLost) -> None:
        # Another process took the run over (this one stalled past the lease's ttl): stop driving it at once.
        self.lease_lost = exc
        self._stop.set()

    def _let_go(self) -> None:
        if self._lease is not None:
            keeper, self._lease = self._lease, None
            keeper.close()

    def pipeline(self, run: RunInfo) -> Pipeline:
        """This engine's pipeline for ``run``."""
        self.telemetry = self.telemetry.bind(run.name)
        cfg = self.task.config.run
        return Pipeline(
            self.task,
            self.archive,
            self.stages,
            LocalLedger(self.archive),
            events=self.events(),
            cache=CandidateCache(self.archive),
            proposals_in_flight=min(cfg.proposals_in_flight or cfg.parallel, cfg.parallel),
            run_id=run.id,
        )

    def run_existing(self, run: RunInfo) -> RunSummary:
        return _LocalRun(self, run).run()

    def try_programs(self, programs: Sequence[tuple[str, Program]]) -> list[tuple[str, Candidate]]:
        """Evaluate hand-written programs as children of the seed through the whole pipeline.

        They go to the task's ``<task>-try`` run (created on first use), so evolution runs stay untouched.
        """
        name = f"{self.task.name}-try"
        existing = {r.name: r for r in self.archive.runs()}
        run = existing.get(name) or self.start_run(name=name)
        self._hold(run.id)
        try:
            return self._try(run, programs)
        finally:
            if self.checkpointer is not None:
                self.checkpointer.close(run.id)
            self._let_go()

    def _try(self, run: RunInfo, programs: Sequence[tuple[str, Program]]) -> list[tuple[str, Candidate]]:
        if self.guard is not None:
            self.guard.start(self.archive, run.id, self.task)
        pipeline = self.pipeline(run)
        rows = {r.iteration: r for r in self.archive.rows(run.id)}
        seed_row = rows.get(0)
        stored = pipeline.cache.get(seed_row.id) if seed_row is not None else None
        seed = seed_or_raise(
            pipeline, pipeline.seed(run.id, stored, noise_samples(self.task.config.run)), self.task
        )
        pipeline.resume_acceptance(self.archive.get_run(run.id).meta, seed)
        nxt = max(rows, default=0) + 1
        results: list[tuple[str, Candidate]] = []
        for label, program in programs:
            ticket = Ticket(run.id, nxt, seed, iteration_rng(self.seed, nxt, "propose"))
            proposal = Proposal(program=program, proposer="manual", edit=f"program from {label}")
            results.append((label, pipeline.submit(ticket, proposal, 0.0)))
            nxt += 1
        return results


class _LocalRun:
    """One session of a local run: the view, the flight and the progress it accounts."""

    def __init__(self, engine: Engine, run: RunInfo) -> None:
        self.engine = engine
        self.task = engine.task
        self.run_info = run
        self.pipeline = engine.pipeline(run)
        self.progress = Progress(run.id, run.name, total=self.task.config.run.iterations)
        self.stored = {r.iteration: r for r in engine.archive.rows(run.id)}
        # Read back from the run's meta, so a resumed warm-started run proposes exactly what it did before.
        warm = run.meta.get("warm_start") or {}
        self.warm: list[int] = [int(c) for c in warm.get("candidates", [])]
        self.warm_from = str(warm.get("run_name", warm.get("run", "")))
        self.seed: Candidate | None = None

    def account(self, cand: Candidate) -> None:
        self.progress.count(cand, self.pipeline.health.last)
        self.progress.model_errors = self.pipeline.models.total
        best = self.pipeline.acceptance.incumbent
        self.progress.show_best(best.score, best.id)
        self.engine.telemetry.candidate(cand)
        self.engine.telemetry.progress(self.progress)
        if self.engine.on_progress is not None:
            self.engine.on_progress(self.progress)

    def run(self) -> RunSummary:
        engine, pipeline, progress, run = self.engine, self.pipeline, self.progress, self.run_info
        seed_row = self.stored.get(0)
        stored = pipeline.cache.get(seed_row.id) if seed_row is not None else None
        seed = seed_or_raise(
            pipeline, pipeline.seed(run.id, stored, noise_samples(self.task.config.run)), self.task
        )
        progress.seed_score = seed.score
        self.seed = seed
        pipeline.resume_acceptance(engine.archive.get_run(run.id).meta, seed)
        pipeline.resume_learning(run.id)
        best = pipeline.acceptance.incumbent
        progress.show_best(best.score, best.id)
        k = self.task.config.proposer.strategies
        view = _View(
            engine.selector_factory(),
            pipeline.stages.same_code,
            StrategyIndex(self._strategies_from_warm_start()) if k else None,
            pipeline.cache.get,
        )
        view.observe(seed)
        stopped = "iterations"
        flight = _Flight(ThreadPoolExecutor(max_workers=engine.window, thread_name_prefix="godel-worker"))
        try:
            stopped = self._loop(view, flight)
        except KeyboardInterrupt:
            stopped = "interrupted"
            engine._stop.set()
            raise
        finally:
            flight.pool.shutdown(wait=True, cancel_futures=True)
            if engine.lease_lost is not None:
                stopped = "lease lost"
            status = "finished" if stopped in ("iterations", "wall time", "tokens", "cost") else "stopped"
            meta: dict[str, Any] = {"stopped": stopped}
            if stopped == "infrastructure":
                meta["reason"] = pipeline.health.describe()
            elif stopped == "model endpoint":
                meta["reason"] = pipeline.models.describe()
            elif stopped == "lease lost":
                meta["reason"] = str(engine.lease_lost)
            if engine.lease_lost is None:  # a process that lost the run must not write its end
                engine.archive.update_run(run.id, status=status, meta=meta)
                pipeline.events.emit(run.id, "run_end", {"stopped": stopped, "done": progress.done})
                if engine.checkpointer is not None:
                    engine.checkpointer.close(run.id)
        if engine._stop.is_set() and stopped == "iterations":
            stopped = "interrupted"
        health = {"infrastructure": pipeline.health, "model endpoint": pipeline.models}.get(stopped)
        return RunSummary(
            run.id,
            run.name,
            stopped,
            progress,
            accepted_best(pipeline),
            seed,
            pipeline.acceptance.noise.to_dict(),
            health.describe() if health is not None else "",
        )

    def _loop(self, view: _View, flight: _Flight) -> str:
        engine, pipeline = self.engine, self.pipeline
        iterations = self.task.config.run.iterations
        observed = 0
        next_housekeeping = 0.0
        stopped = "iterations"
        for i in range(1, iterations + 1):
            reason = budget_spent(self.task, self.progress, pipeline, engine._stop)
            if reason is not None:
                stopped = reason
                break
            if time.monotonic() >= next_housekeeping:
                next_housekeeping = time.monotonic() + _HOUSEKEEPING_SECONDS
                self._housekeeping(i, flight)
            # Show the view, in iteration order, everything up to i - W.
            while observed < i - engine.window:
                observed += 1
                cand = flight.take(observed, self.account) or self._stored(observed)
                if cand is not None:
                    view.observe(cand)
            row = self.stored.get(i)
            if row is not None and (row.status.terminal or row.status == Status.AWAITING_APPROVAL):
                continue  # stored result from an earlier session: never evaluated twice
            if row is not None:  # pending: proposal stored, evaluation lost in a crash
                flight.submit(i, pipeline.finish, pipeline.cache.get(row.id))
            elif i <= len(self.warm):
                ticket, proposal = self._warm(i, view)
                flight.submit(i, pipeline.submit, ticket, proposal, 0.0)
            else:
                flight.submit(i, pipeline.run, self._ticket(i, view))
            engine.telemetry.queue_depth(len(flight.running))
            flight.collect(self.account, block=len(flight.running) >= engine.window)
        while flight.running:
            flight.collect(self.account, block=True)
        self._housekeeping(iterations + 1, flight)
        for fut in flight.late.values():
            self.account(fut.result())
        return stopped

    def _ticket(self, i: int, view: _View) -> Ticket:
        engine = self.engine
        parent_id = view.selector.pick(iteration_rng(engine.seed, i, "select"))
        k = self.task.config.proposer.inspirations
        inspirations = tuple(c for c in view.selector.top(k + 1) if c != parent_id)[:k]
        cache = self.pipeline.cache
        return Ticket(
            run_id=self.run_info.id,
            iteration=i,
            parent=cache.get(parent_id),
            rng=iteration_rng(engine.seed, i, "propose"),
            inspirations=tuple(cache.get(c) for c in inspirations),
            feedback=tuple(view.feedback.get(parent_id, ())),
            seen=dict(view.digests),
            strategies=_strategy_texts(view, cache.get(parent_id), self.task.config.proposer.strategies),
        )

    def _strategies_from_warm_start(self) -> list[Strategy]:
        """A warm-started run remembers what improved its source run (this run's own are fed through the view)."""
        source = (self.run_info.meta.get("warm_start") or {}).get("run")
        if not isinstance(source, int):
            return []
        return Memory(self.engine.archive).strategies([source])

    def _warm(self, i: int, view: _View) -> tuple[Ticket, Proposal]:
        """Proposal ``i`` of a warm start: an earlier run's candidate, offered as the seed's child so every stage
        (precheck, gate, sandbox, review) judges it afresh."""
        source = self.engine.archive.get_candidate(self.warm[i - 1])
        assert self.seed is not None
        rng = iteration_rng(self.engine.seed, i, "propose")
        ticket = Ticket(self.run_info.id, i, self.seed, rng, seen=dict(view.digests))
        edit = f"warm start: candidate {source.id} of run {self.warm_from} (score {source.score})"
        return ticket, Proposal(program=source.program, proposer="warm-start", edit=edit)

    def _stored(self, iteration: int) -> Candidate | None:
        row = self.stored.get(iteration)
        return self.pipeline.cache.get(row.id) if row is not None else None

    def _housekeeping(self, current: int, flight: _Flight) -> None:
        """Apply approval timeouts, and evaluate candidates a human approved after their turn had passed."""
        guard = self.engine.guard
        if guard is None:
            return
        guard.gate.expire(self.engine.archive, self.run_info.id)
        for cand in self.engine.archive.candidates(self.run_info.id, status=Status.PENDING):
            if cand.iteration < current and not flight.busy(cand.iteration):
                flight.late[cand.iteration] = flight.pool.submit(self.pipeline.finish, cand)
