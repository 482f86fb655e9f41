"""The evolution loop: select a parent, propose, guard, evaluate in the sandbox, admit to the archive.

Determinism: iteration ``i`` picks its parent from the candidates of iterations ``<= i - W`` (``W`` = candidates in
flight), with a random generator derived from ``(seed, i)`` only. The candidates a given iteration can see therefore
never depend on thread timing, so an interrupted-then-resumed run equals an uninterrupted one for a deterministic
proposer, and the seed makes runs reproducible.

Durability: a proposal is stored (status ``pending``) before it is evaluated and updated after, so a crash loses at
most in-flight evaluations, which ``resume`` re-runs; a stored result is never evaluated again.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from godel.archive._base import Archive, CandidateRow, RunInfo
from godel.candidate import Candidate, Evaluation, Program, Proposal, Status, unified_diff
from godel.errors import EvaluationError, GodelError, SandboxError
from godel.executor import Executor, LocalExecutor
from godel.guard._base import Guard, Verdict
from godel.progress import Progress, RunSummary
from godel.propose._base import Outcome, ProposalContext, Proposer
from godel.redact import redact, redact_obj
from godel.sandbox._base import Sandbox
from godel.select._base import Selector
from godel.task import Task
from godel.telemetry import Telemetry, span

__all__ = ["MAX_INFRA_ERRORS", "Engine", "Progress", "RunSummary", "iteration_rng"]


# Consecutive infrastructure failures (sandbox or cluster down) after which the run stops instead of spinning.
MAX_INFRA_ERRORS = 3


def iteration_rng(seed: int, iteration: int, purpose: str) -> random.Random:
    """A generator that depends only on the run seed, the iteration and what it is for."""
    digest = hashlib.sha256(f"{seed}:{iteration}:{purpose}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class Engine:
    """One run of the loop over an archive. Create with the parts; call :meth:`run`."""

    def __init__(
        self,
        task: Task,
        archive: Archive,
        *,
        proposer: Proposer,
        selector_factory: Callable[[], Selector],
        sandbox: Sandbox,
        guard: Guard | None = None,
        executor: Executor | None = None,
        telemetry: Telemetry | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.task = task
        self.archive = archive
        self.proposer = proposer
        self.selector_factory = selector_factory
        self.sandbox = sandbox
        self.guard = guard
        self.executor: Executor = executor if executor is not None else LocalExecutor(task, sandbox)
        self._best_lock = threading.Lock()
        self._best_seen: float | None = None
        self._infra_errors = 0  # consecutive evaluations the sandbox/executor could not run
        self._last_infra = ""
        self.on_progress = on_progress
        self.telemetry = telemetry if telemetry is not None else Telemetry()
        self.on_event = on_event
        cfg = task.config.run
        self.seed = cfg.seed
        self.window = cfg.parallel
        # N proposals in flight (model calls) within the W candidates in flight (evaluations).
        self._propose_slots = threading.BoundedSemaphore(
            min(cfg.proposals_in_flight or cfg.parallel, cfg.parallel)
        )
        self._cache: OrderedDict[int, Candidate] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._stop_requested = threading.Event()

    # -- public -------------------------------------------------------------------------------------------------

    def start_run(self, *, resume: bool = False, name: str | None = None) -> RunInfo:
        """The run to work on: the task's latest run when resuming, else a new one."""
        if resume:
            run = self.archive.get_run(name) if name else self.archive.latest_run(self.task.name)
            if run is None:
                raise GodelError(
                    f"no run of task {self.task.name!r} in {self.archive.url} to resume",
                    hint="start one without --resume",
                )
            self.archive.update_run(run.id, status="running")
            self._event(run.id, "resume", {"config": self.task.config.to_dict()})
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
            {"task": self.task.info(), "sandbox": self.sandbox.name, "sandbox_trusted": self.sandbox.trusted},
        )
        if self.sandbox.trusted:
            self._event(
                run.id, "warning", {"message": "candidates run WITHOUT containment (unsafe-subprocess)"}
            )
        return run

    def request_stop(self) -> None:
        self._stop_requested.set()

    def run(self, *, resume: bool = False, name: str | None = None) -> RunSummary:
        run = self.start_run(resume=resume, name=name)
        if self.guard is not None:
            self.guard.start(self.archive, run.id, self.task)
        return self.run_existing(run)

    def run_existing(self, run: RunInfo) -> RunSummary:
        cfg = self.task.config.run
        self.telemetry = self.telemetry.bind(run.name)
        progress = Progress(run.id, run.name, total=cfg.iterations)
        rows = {r.iteration: r for r in self.archive.rows(run.id)}
        seed_cand = self._ensure_seed(run, rows, progress)
        stored_best = self.archive.best(run.id)
        self._best_seen = stored_best.score if stored_best is not None else None
        selector = self.selector_factory()
        digests: dict[str, tuple[int, int]] = {}  # code digest -> (first iteration, id)
        feedback: dict[int, deque[str]] = {}
        self._observe(selector, seed_cand, digests, feedback, progress)
        stopped = "iterations"
        pool = ThreadPoolExecutor(max_workers=self.window, thread_name_prefix="godel-worker")
        futures: dict[int, Future[Candidate]] = {}  # in flight
        finished: dict[int, Candidate] = {}  # done, not yet fed to the selector
        late: dict[
            int, Future[Candidate]
        ] = {}  # approved by a human after their turn; evaluated out of order
        next_housekeeping = 0.0
        try:
            observed_upto = 0
            for i in range(1, cfg.iterations + 1):
                reason = self._budget_left(progress)
                if reason is not None:
                    stopped = reason
                    break
                if time.monotonic() >= next_housekeeping:
                    next_housekeeping = time.monotonic() + 2.0
                    self._housekeeping(run.id, i, pool, futures, late)
                # Feed the selector, in iteration order, everything up to i - W.
                while observed_upto < i - self.window:
                    observed_upto += 1
                    cand = self._take(observed_upto, rows, futures, finished, progress)
                    if cand is not None:
                        self._observe(selector, cand, digests, feedback, progress)
                row = rows.get(i)
                if row is not None and (row.status.terminal or row.status == Status.AWAITING_APPROVAL):
                    continue  # stored result from an earlier session: never evaluated twice
                if row is not None:  # pending: proposal stored, evaluation lost in a crash
                    futures[i] = pool.submit(self._evaluate_stored, row.id)
                else:
                    parent_id = selector.pick(iteration_rng(self.seed, i, "select"))
                    k = self.task.config.proposer.inspirations
                    inspirations = tuple(c for c in selector.top(k + 1) if c != parent_id)[:k]
                    futures[i] = pool.submit(
                        self._iterate,
                        run.id,
                        i,
                        parent_id,
                        inspirations,
                        tuple(feedback.get(parent_id, ())),
                        dict(digests),
                    )
                self.telemetry.queue_depth(len(futures))
                self._collect(futures, finished, progress, block=len(futures) >= self.window)
            while futures:
                self._collect(futures, finished, progress, block=True)
            self._housekeeping(run.id, cfg.iterations + 1, pool, futures, late)
            for fut in late.values():
                self._account(fut.result(), progress)
        except KeyboardInterrupt:
            stopped = "interrupted"
            self._stop_requested.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            status = "finished" if stopped in ("iterations", "wall time", "tokens", "cost") else "stopped"
            self.archive.update_run(run.id, status=status, meta={"stopped": stopped})
            self._event(run.id, "run_end", {"stopped": stopped, "done": progress.done})
        if self._stop_requested.is_set() and stopped == "iterations":
            stopped = "interrupted"
        best = self.archive.best(run.id)
        return RunSummary(run.id, run.name, stopped, progress, best, seed_cand)

    def try_programs(self, programs: Sequence[tuple[str, Program]]) -> list[tuple[str, Candidate]]:
        """Evaluate hand-written programs as children of the seed through the whole pipeline.

        They go to the task's ``<task>-try`` run (created on first use), so evolution runs stay untouched.
        """
        name = f"{self.task.name}-try"
        existing = {r.name: r for r in self.archive.runs()}
        run = existing.get(name) or self.start_run(name=name)
        if self.guard is not None:
            self.guard.start(self.archive, run.id, self.task)
        rows = {r.iteration: r for r in self.archive.rows(run.id)}
        seed = self._ensure_seed(run, rows, Progress(run.id, run.name))
        nxt = max(rows, default=0) + 1
        results: list[tuple[str, Candidate]] = []
        for label, program in programs:
            proposal = Proposal(program=program, proposer="manual", edit=f"program from {label}")
            cand = self._admit(run.id, nxt, seed, proposal, 0.0, {})
            results.append((label, cand))
            nxt += 1
        return results

    # -- loop internals -----------------------------------------------------------------------------------------

    def _housekeeping(
        self,
        run_id: int,
        current: int,
        pool: ThreadPoolExecutor,
        futures: dict[int, Future[Candidate]],
        late: dict[int, Future[Candidate]],
    ) -> None:
        """Apply approval timeouts, and evaluate candidates a human approved after their turn had passed."""
        if self.guard is None:
            return
        constitution = getattr(self.guard, "constitution", None)
        if constitution is not None:
            from godel.guard import expire

            expire(
                self.archive,
                run_id,
                constitution,
                timeout_seconds=self.task.config.guard.approval_timeout_seconds,
            )
        for cand in self.archive.candidates(run_id, status=Status.PENDING):
            if cand.iteration < current and cand.iteration not in futures and cand.iteration not in late:
                assert cand.id is not None
                late[cand.iteration] = pool.submit(self._evaluate_stored, cand.id)

    def _budget_left(self, progress: Progress) -> str | None:
        cfg = self.task.config.run
        if self._stop_requested.is_set():
            return "interrupted"
        if self._infra_errors >= MAX_INFRA_ERRORS:
            return "infrastructure"
        if cfg.max_wall_seconds is not None and time.monotonic() - progress.started >= cfg.max_wall_seconds:
            return "wall time"
        if cfg.max_tokens is not None and progress.tokens >= cfg.max_tokens:
            return "tokens"
        if cfg.max_cost is not None and progress.cost >= cfg.max_cost:
            return "cost"
        if self.proposer.exhausted:
            return "cost"  # every proposer's budget is spent (an LLM past its cost or token cap)
        return None

    def _take(
        self,
        iteration: int,
        rows: dict[int, CandidateRow],
        futures: dict[int, Future[Candidate]],
        finished: dict[int, Candidate],
        progress: Progress,
    ) -> Candidate | None:
        """The finished candidate of ``iteration``, waiting for it if it is still in flight."""
        if iteration in finished:
            return finished.pop(iteration)
        fut = futures.pop(iteration, None)
        if fut is not None:
            cand = fut.result()  # errors raised in a worker surface here
            self._account(cand, progress)
            return cand
        row = rows.get(iteration)
        return self._get(row.id) if row is not None else None

    def _collect(
        self,
        futures: dict[int, Future[Candidate]],
        finished: dict[int, Candidate],
        progress: Progress,
        *,
        block: bool,
    ) -> None:
        if block and futures and not any(f.done() for f in futures.values()):
            wait(futures.values(), return_when=FIRST_COMPLETED)
        for i in sorted(i for i, f in futures.items() if f.done()):
            cand = futures.pop(i).result()
            self._account(cand, progress)
            finished[i] = cand

    def _account(self, cand: Candidate, progress: Progress) -> None:
        progress.done += 1
        progress.iteration = max(progress.iteration, cand.iteration)
        progress.proposals += 1
        if cand.failure_stage != "propose":
            progress.valid_proposals += 1
        if cand.evaluation:
            progress.evaluations += 1
        progress.tokens += cand.tokens_in + cand.tokens_out
        progress.cost += cand.cost
        progress.offer_best(cand)
        if cand.status == Status.OK:
            progress.ok += 1
        elif cand.status == Status.FAILED:
            progress.failed += 1
            progress.last_reason = cand.reason
        elif cand.status == Status.REJECTED:
            progress.rejected += 1
            progress.last_reason = cand.reason
        elif cand.status == Status.AWAITING_APPROVAL:
            progress.awaiting += 1
        elif cand.status == Status.PENDING:
            progress.infrastructure_errors += 1
            progress.last_reason = f"infrastructure: {self._last_infra}"
        self.telemetry.candidate(cand)
        self.telemetry.progress(progress)
        if self.on_progress is not None:
            self.on_progress(progress)

    def _observe(
        self,
        selector: Selector,
        cand: Candidate,
        digests: dict[str, tuple[int, int]],
        feedback: dict[int, deque[str]],
        progress: Progress,
    ) -> None:
        assert cand.id is not None
        selector.observe(
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
            digests.setdefault(cand.program.digest(), (cand.iteration, cand.id))
        if cand.parent_id is not None and cand.status in (Status.FAILED, Status.REJECTED) and cand.reason:
            feedback.setdefault(cand.parent_id, deque(maxlen=3)).append(cand.reason)
        progress.offer_best(
            cand
        )  # candidates stored by an earlier session are never accounted, only observed

    def _ensure_seed(self, run: RunInfo, rows: dict[int, CandidateRow], progress: Progress) -> Candidate:
        row = rows.get(0)
        if row is not None and row.status.terminal:
            seed = self._get(row.id)
        else:
            if row is None:
                seed = Candidate(run_id=run.id, iteration=0, program=self.task.program, proposer="seed")
                seed.created_at = time.time()
                self.archive.add_candidate(seed)
                self._event(run.id, "proposal", {"candidate": seed.id, "iteration": 0, "proposer": "seed"})
            else:
                seed = self._get(row.id)
            self._run_evaluation(seed)
        if seed.status == Status.PENDING:
            raise SandboxError(
                f"cannot evaluate the seed program: {self._last_infra}",
                hint="`godel doctor` checks the sandbox; then continue with --resume",
            )
        if seed.status != Status.OK:
            raise EvaluationError(
                f"the seed program fails its own evaluation: {seed.reason}",
                hint=f"fix {self.task.program_path} or {self.task.evaluator_path}; `godel show {seed.id}` has details",
            )
        progress.seed_score = seed.score
        return seed

    def _get(self, cid: int) -> Candidate:
        with self._cache_lock:
            cand = self._cache.get(cid)
            if cand is not None:
                self._cache.move_to_end(cid)
                return cand
        cand = self.archive.get_candidate(cid)
        self._remember(cand)
        return cand

    def _remember(self, cand: Candidate) -> None:
        if cand.id is None:
            return
        with self._cache_lock:
            self._cache[cand.id] = cand
            self._cache.move_to_end(cand.id)
            while len(self._cache) > 4096:
                self._cache.popitem(last=False)

    def _event(self, run_id: int, kind: str, payload: dict[str, Any], actor: str = "engine") -> None:
        # Redacted before the archive hashes it: the audit chain must never hold a secret.
        payload = redact_obj(payload)
        self.archive.add_event(run_id, kind, payload, actor)
        self.telemetry.event(kind, payload)
        if self.on_event is not None:
            self.on_event(kind, payload)

    # -- one iteration (worker thread) --------------------------------------------------------------------------

    def _iterate(
        self,
        run_id: int,
        iteration: int,
        parent_id: int,
        inspiration_ids: Sequence[int],
        feedback: Sequence[str],
        digests: dict[str, tuple[int, int]],
    ) -> Candidate:
        parent = self._get(parent_id)
        ctx = ProposalContext(
            task=self.task,
            parent=parent,
            iteration=iteration,
            inspirations=tuple(self._get(c) for c in inspiration_ids),
            feedback=tuple(feedback),
        )
        t0 = time.monotonic()
        try:
            with self._propose_slots, span("propose", iteration=iteration, parent=parent_id):
                proposal = self.proposer.propose(ctx, iteration_rng(self.seed, iteration, "propose"))
        except GodelError as exc:
            proposal = Proposal(program=None, proposer=self.proposer.name, error=str(exc))
        propose_s = time.monotonic() - t0
        return self._admit(run_id, iteration, parent, proposal, propose_s, digests)

    def _admit(
        self,
        run_id: int,
        iteration: int,
        parent: Candidate,
        proposal: Proposal,
        propose_s: float,
        digests: dict[str, tuple[int, int]],
    ) -> Candidate:
        """Check, store and evaluate a proposal as a child of ``parent``."""
        cand = Candidate(
            run_id=run_id,
            iteration=iteration,
            program=proposal.program or parent.program,
            parent_id=parent.id,
            generation=parent.generation + 1,
            proposer=proposal.proposer,
            model=proposal.model,
            prompt=redact(proposal.prompt) if proposal.prompt else proposal.prompt,
            edit=proposal.edit,
            tokens_in=proposal.tokens_in,
            tokens_out=proposal.tokens_out,
            cost=proposal.cost,
            timings={"propose": round(propose_s, 6)},
            created_at=time.time(),
        )
        if proposal.meta:
            cand.evaluation["proposal_meta"] = dict(proposal.meta)
        if not proposal.ok or proposal.program is None:
            return self._store_final(cand, Status.FAILED, f"proposal: {proposal.error}", "propose")
        illegal = self.task.check_edit(parent.program, proposal.program)
        if illegal is not None:
            return self._store_final(cand, Status.FAILED, f"proposal: {illegal}", "propose")
        cand.diff = unified_diff(parent.program, proposal.program)
        dup = self._duplicate_of(run_id, proposal.program.digest(), iteration, digests)
        if self.task.config.run.reject_duplicates and dup is not None:
            return self._store_final(cand, Status.REJECTED, f"duplicate of candidate {dup}", "duplicate")
        if self.guard is not None:
            t1 = time.monotonic()
            with span("guard", iteration=iteration):
                verdict: Verdict = self.guard.check(self.task, parent.program, proposal.program, proposal)
            cand.timings["guard"] = round(time.monotonic() - t1, 6)
            cand.verdict = verdict.to_dict()
            if verdict.decision == "deny":
                return self._store_final(
                    cand, Status.REJECTED, "guard: " + "; ".join(verdict.reasons), "guard"
                )
            if verdict.decision == "require_approval":
                cand.status = Status.AWAITING_APPROVAL
                cand.reason = "awaiting approval: " + "; ".join(verdict.reasons)
                self._insert(cand)
                self._remember(cand)
                self._event(run_id, "verdict", {"candidate": cand.id, **verdict.to_dict()})
                return cand
        self._insert(cand)
        self._remember(cand)
        self._event(
            run_id,
            "proposal",
            {"candidate": cand.id, "iteration": iteration, "parent": parent.id, "proposer": cand.proposer},
        )
        if cand.verdict:
            self._event(run_id, "verdict", {"candidate": cand.id, **cand.verdict})
        self._run_evaluation(cand)
        return cand

    def _review(self, cand: Candidate) -> list[str]:
        """Hacking flags; candidates that would become best also get the guard's hold-out check."""
        assert self.guard is not None and cand.score is not None
        history = [self._get(cand.parent_id)] if cand.parent_id is not None else []
        flags = list(self.guard.review(self.task, cand, history))
        with self._best_lock:
            would_be_best = self._best_seen is None or cand.score > self._best_seen
        holdout = getattr(self.guard, "holdout", None)
        if would_be_best and holdout is not None and cand.iteration > 0:
            flags.extend(holdout(self.task, cand, self._evaluate_with))
        if not flags:
            with self._best_lock:
                if self._best_seen is None or cand.score > self._best_seen:
                    self._best_seen = cand.score
        return flags

    def _report(self, cand: Candidate) -> None:
        """Tell the proposer how its candidate fared (a model bandit learns which model improves on parents)."""
        if cand.parent_id is None:
            return
        parent = self._get(cand.parent_id)
        gain = 0.0
        if (
            cand.status == Status.OK
            and cand.score is not None
            and parent.score is not None
            and not cand.flags
        ):
            gain = max(0.0, cand.score - parent.score)
        self.proposer.report(Outcome(cand.proposer, cand.model, cand.status, gain, cand.cost))

    def _evaluate_with(self, program: Program, evaluator_file: str) -> Evaluation:
        return self.executor.evaluate(program, evaluator_file=evaluator_file, label="hold-out")

    def _insert(self, cand: Candidate) -> None:
        """Store a new candidate (the worker subclass claims an iteration number instead)."""
        self.archive.add_candidate(cand)

    def _duplicate_of(
        self, run_id: int, digest: str, iteration: int, digests: dict[str, tuple[int, int]]
    ) -> int | None:
        """An earlier candidate with the same code, among those iteration ``iteration`` may see (the window)."""
        dup = digests.get(digest)
        return dup[1] if dup is not None and dup[0] <= iteration - self.window else None

    def _evaluate_stored(self, cid: int) -> Candidate:
        cand = self._get(cid)
        self._run_evaluation(cand)
        return cand

    def _store_final(self, cand: Candidate, status: Status, reason: str, stage: str) -> Candidate:
        cand.status, cand.reason, cand.failure_stage = status, reason, stage
        cand.updated_at = time.time()
        self._insert(cand)
        self._remember(cand)
        self._report(cand)
        self._event(
            cand.run_id,
            "rejection" if status == Status.REJECTED else "failure",
            {"candidate": cand.id, "iteration": cand.iteration, "stage": stage, "reason": reason},
        )
        return cand

    def _run_evaluation(self, cand: Candidate) -> None:
        t0 = time.monotonic()
        try:
            with span("evaluate", candidate=cand.id or 0, iteration=cand.iteration):
                ev = self.executor.evaluate(cand.program, label=f"candidate {cand.id}")
        except SandboxError as exc:
            # The infrastructure failed, not the candidate: it stays pending (a resume evaluates it) and the error
            # is an event; enough of them in a row stop the run (see _budget_left).
            with self._best_lock:
                self._infra_errors += 1
                self._last_infra = str(exc)
            cand.timings["evaluate"] = round(time.monotonic() - t0, 6)
            self._event(
                cand.run_id,
                "error",
                {
                    "candidate": cand.id,
                    "iteration": cand.iteration,
                    "infrastructure": True,
                    "reason": str(exc),
                },
            )
            return
        with self._best_lock:
            self._infra_errors = 0
        cand.timings["evaluate"] = round(time.monotonic() - t0, 6)
        # Artifacts (candidate output, tracebacks) are redacted before they are stored, shown or fed back.
        cand.evaluation.update(redact_obj(ev.to_dict()))
        cand.metrics = dict(ev.metrics)
        cand.artifacts = redact_obj(dict(ev.artifacts))
        if ev.ok:
            cand.status, cand.score, cand.reason, cand.failure_stage = Status.OK, ev.score, None, None
            if self.guard is not None:
                cand.flags = self._review(cand)
        else:
            cand.status, cand.score = Status.FAILED, None
            cand.reason = ev.reason
            cand.failure_stage = "evaluate"
        self._report(cand)
        cand.updated_at = time.time()
        with span("admit", candidate=cand.id or 0, status=cand.status.value):
            self.archive.update_candidate(cand)
        self._remember(cand)
        self._event(
            cand.run_id,
            "evaluation",
            {
                "candidate": cand.id,
                "iteration": cand.iteration,
                "status": cand.status.value,
                "score": cand.score,
                "reason": cand.reason,
                "seconds": cand.timings["evaluate"],
                "flags": cand.flags,
            },
        )
