"""The candidate pipeline: every stage a candidate goes through, in order, in one place.

    select -> propose -> precheck -> gate -> store -> evaluate -> review -> admit

The scheduler does the select stage (it owns the parent selector and decides what an iteration may see) and hands
a :class:`Ticket` to :meth:`Pipeline.run`; every later stage is a method here that takes the values the earlier
stages made and returns new ones. A :class:`~godel.candidate.Candidate` is a value between stages: each stage
builds the next one with :func:`dataclasses.replace` instead of changing the one it was given.

Durability: a proposal is stored (status ``pending``) before it is evaluated and updated after, so a crash loses at
most in-flight evaluations, which a resumed run finishes with :meth:`Pipeline.finish`; a stored result is never
evaluated again. An evaluation the infrastructure could not run (sandbox or cluster down) leaves the candidate
pending and counts in :class:`Health`; schedulers stop after :data:`MAX_INFRA_ERRORS` in a row.

A new kind of run is a new :class:`Stages` (proposer, evaluator, guard, prechecks) and, where storage differs, a
new :class:`~godel.engine._store.Ledger`; never a subclass of the pipeline.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from godel.archive import Archive
from godel.candidate import Candidate, Evaluation, Program, Proposal, Status, unified_diff
from godel.engine._accept import Acceptance, Decision, Incumbent, samples_of
from godel.engine._store import CandidateCache, EventLog, Ledger
from godel.errors import GodelError, SandboxError, TaskError
from godel.evaluate import Evaluates
from godel.guard import Guard, Verdict
from godel.learn import OutcomePredictor
from godel.noise import Noise, Samples
from godel.precheck import DEFAULT_PRECHECKS, normalized_digest
from godel.propose import Outcome, ProposalContext, Proposer
from godel.redact import redact, redact_obj
from godel.task import Task
from godel.telemetry import span

__all__ = [
    "DEFAULT_STAGE_PRECHECKS",
    "MAX_INFRA_ERRORS",
    "Health",
    "Pipeline",
    "Precheck",
    "Stages",
    "Ticket",
    "iteration_rng",
    "legal_edit",
]

# Consecutive infrastructure failures (sandbox or cluster down) after which a run stops instead of spinning.
MAX_INFRA_ERRORS = 3

# A static check of a proposal against its parent: why the child must not be evaluated, or None.
Precheck = Callable[[Task, Program, Program], "str | None"]


def iteration_rng(seed: int, iteration: int, purpose: str) -> random.Random:
    """A generator that depends only on the run seed, the iteration and what it is for."""
    digest = hashlib.sha256(f"{seed}:{iteration}:{purpose}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def legal_edit(task: Task, parent: Program, child: Program) -> str | None:
    """The task's own rules: EVOLVE-BLOCK frames and fixed files unchanged, nothing written outside the program."""
    return task.check_edit(parent, child)


# The task's own rules first, then the compile-time faults a model's near-misses have (godel.precheck).
DEFAULT_STAGE_PRECHECKS: tuple[Precheck, ...] = (legal_edit, *DEFAULT_PRECHECKS)


@dataclass(frozen=True)
class Stages:
    """What a kind of run plugs into the pipeline."""

    proposer: Proposer
    evaluator: Evaluates
    guard: Guard | None = None
    prechecks: tuple[Precheck, ...] = DEFAULT_STAGE_PRECHECKS
    # How two programs are "the same code" for the duplicate check: by syntax tree (whitespace and comments do not
    # make a new candidate) or by text (for evaluators that score the source itself).
    same_code: Callable[[Program], str] = normalized_digest
    # Learns which proposals are worth evaluating and skips the rest (``[learn] predictor``; None: evaluate all).
    predictor: OutcomePredictor | None = None


@dataclass(frozen=True)
class Ticket:
    """One proposal to make, as the select stage decided it."""

    run_id: int
    iteration: int | None  # None: the ledger numbers it when storing (workers sharing a run)
    parent: Candidate
    rng: random.Random  # the generator this proposal draws from
    inspirations: tuple[Candidate, ...] = ()
    feedback: tuple[str, ...] = ()  # recent failure reasons of the parent's children, for the model
    strategies: tuple[str, ...] = ()  # earlier improving edits of similar code, for the model
    seen: dict[str, int] = field(
        default_factory=dict
    )  # code digest -> earlier candidate this iteration may see


class Health:
    """Consecutive failures of a piece of infrastructure (the sandbox, the model endpoint): how many, since when,
    the last reason. Shared by the threads that use it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.consecutive = 0
        self.total = 0
        self.last = ""
        self.first = ""  # the reason that began the current run of failures (later ones may only echo it)
        self.since: float | None = None  # when the current run of failures began (monotonic)

    def failure(self, reason: str) -> None:
        with self._lock:
            if self.consecutive == 0:
                self.since = time.monotonic()
                self.first = reason
            self.consecutive += 1
            self.total += 1
            self.last = reason

    def success(self) -> None:
        with self._lock:
            self.consecutive = 0
            self.since = None

    def describe(self) -> str:
        """How long and how many calls the current run of failures has lasted, and its last reason."""
        seconds = time.monotonic() - self.since if self.since is not None else 0.0
        last = f"; last: {self.last}" if self.last != self.first else ""
        return f"{self.consecutive} calls in a row over {seconds:.0f} s failed; first: {self.first}{last}"

    @property
    def down(self) -> bool:
        return self.consecutive >= MAX_INFRA_ERRORS


class Pipeline:
    """The stages of one run. Thread-safe: schedulers call :meth:`run` and :meth:`finish` from several threads."""

    def __init__(
        self,
        task: Task,
        archive: Archive,
        stages: Stages,
        ledger: Ledger,
        *,
        events: EventLog,
        cache: CandidateCache,
        proposals_in_flight: int,
        run_id: int,
    ) -> None:
        self.task = task
        self.archive = archive
        self.stages = stages
        self.ledger = ledger
        self.events = events
        self.cache = cache
        self.health = Health()  # the sandbox / executor
        self.models = Health()  # the model endpoints behind the proposer
        cfg = task.config.run
        self.acceptance = Acceptance(
            stages.evaluator,
            sigma=cfg.acceptance_sigma,
            threshold=cfg.acceptance_threshold,
            race_evaluations=cfg.race_evaluations,
            emit=lambda kind, payload: events.emit(run_id, kind, payload),
            record=lambda inc: archive.update_run(
                run_id, meta={"best": _best_meta(inc, self.acceptance.noise)}
            ),
        )
        # N proposals in flight (model calls) within the M candidates in flight (evaluations).
        self._propose_slots = threading.BoundedSemaphore(proposals_in_flight)

    # -- the stages, in order ---------------------------------------------------------------------------------------

    def run(self, ticket: Ticket) -> Candidate:
        """propose -> precheck -> gate -> store -> evaluate -> review -> admit."""
        proposal, seconds = self.propose(ticket)
        return self.submit(ticket, proposal, seconds)

    def propose(self, ticket: Ticket) -> tuple[Proposal, float]:
        proposer = self.stages.proposer
        ctx = ProposalContext(
            task=self.task,
            parent=ticket.parent,
            iteration=ticket.iteration,
            inspirations=ticket.inspirations,
            feedback=ticket.feedback,
            strategies=ticket.strategies,
        )
        t0 = time.monotonic()
        try:
            with self._propose_slots, span("propose", iteration=ticket.iteration, parent=ticket.parent.id):
                proposal = proposer.propose(ctx, ticket.rng)
        except GodelError as exc:
            proposal = Proposal(program=None, proposer=proposer.name, error=str(exc))
        # An endpoint that failed after its retries and failovers is infrastructure, not a bad proposal; a spent
        # budget is neither (the budget check stops the run).
        if proposal.meta.get("infra") and not proposal.meta.get("budget_exhausted"):
            self.models.failure(proposal.error or "the model endpoint failed")
        elif proposal.model is not None:
            self.models.success()  # a model answered (whether or not its edit applied): the endpoint works
        return proposal, time.monotonic() - t0

    def submit(self, ticket: Ticket, proposal: Proposal, seconds: float) -> Candidate:
        """Every stage after propose, for a proposal made (or written by hand) for ``ticket``."""
        draft = self._draft(ticket, proposal, seconds)
        rejection = self.precheck(ticket, proposal)
        if rejection is not None:
            return self._store_final(draft, *rejection)
        assert proposal.program is not None
        draft = replace(draft, diff=unified_diff(ticket.parent.program, proposal.program))
        verdict, gate_seconds = self.gate(ticket, proposal)
        if verdict is not None:
            draft = replace(
                draft,
                verdict=verdict.to_dict(),
                timings={**draft.timings, "guard": gate_seconds},
                # A model-judged rule's tokens and cost are the candidate's: the run's budgets count them.
                tokens_in=draft.tokens_in + verdict.tokens_in,
                tokens_out=draft.tokens_out + verdict.tokens_out,
                cost=draft.cost + verdict.cost,
            )
            if verdict.decision == "deny":
                denied = self._store_final(
                    draft, Status.REJECTED, "guard: " + "; ".join(verdict.reasons), "guard"
                )
                self._judged(denied, verdict)
                return denied
            if verdict.decision == "require_approval":
                waiting = self._store_awaiting(draft, verdict)
                self._judged(waiting, verdict)
                return waiting
        predictor = self.stages.predictor
        if predictor is not None:
            p = predictor.predict(ticket.parent, proposal.program, draft.diff or "", draft.proposer)
            draft = replace(draft, evaluation={**draft.evaluation, "prediction": p.to_dict()})
            if p.skip and not p.explored:
                why = (
                    f"predicted: {p.p_improve:.3f} chance of beating its parent, below learn.skip_below "
                    f"{predictor.skip_below:g} (after {p.observations} results)"
                )
                skipped = self._store_final(draft, Status.REJECTED, why, "predicted")
                if verdict is not None:
                    self._judged(skipped, verdict)
                return skipped
        stored = self.store(draft)
        if verdict is not None:
            self._judged(stored, verdict)
        return self.finish(stored)

    def _judged(self, cand: Candidate, verdict: Verdict) -> None:
        """The audit record of every model consultation the gate made for ``cand`` (verdicts, fallbacks, cost)."""
        judge = verdict.details.get("judge")
        if judge:
            self.events.emit(
                cand.run_id,
                "judge",
                {
                    "candidate": cand.id,
                    "iteration": cand.iteration,
                    "decision": verdict.decision,
                    "rules": judge,
                },
                actor="guard",
            )

    def precheck(self, ticket: Ticket, proposal: Proposal) -> tuple[Status, str, str] | None:
        """Cheap checks before anything is spent on the proposal: (status, reason, stage) when it must stop."""
        if not proposal.ok or proposal.program is None:
            return Status.FAILED, f"proposal: {proposal.error}", "propose"
        for check in self.stages.prechecks:
            problem = check(self.task, ticket.parent.program, proposal.program)
            if problem is not None:
                return Status.FAILED, f"proposal: {problem}", "propose"
        if self.task.config.run.reject_duplicates:
            program = proposal.program
            dup = self.ledger.duplicate_of(
                ticket.run_id, program, self.stages.same_code(program), ticket.seen
            )
            if dup is not None:
                return Status.REJECTED, f"duplicate of candidate {dup}", "duplicate"
        return None

    def gate(self, ticket: Ticket, proposal: Proposal) -> tuple[Verdict | None, float]:
        guard = self.stages.guard
        if guard is None:
            return None, 0.0
        assert proposal.program is not None
        t0 = time.monotonic()
        with span("guard", iteration=ticket.iteration):
            verdict = guard.gate.check(self.task, ticket.parent.program, proposal.program, proposal)
        return verdict, round(time.monotonic() - t0, 6)

    def store(self, draft: Candidate) -> Candidate:
        """Make a pending candidate durable before it is evaluated."""
        stored = self.ledger.insert(draft)
        self.cache.remember(stored)
        self.events.emit(
            stored.run_id,
            "proposal",
            {
                "candidate": stored.id,
                "iteration": stored.iteration,
                "parent": stored.parent_id,
                "proposer": stored.proposer,
                "digest": stored.code_digest,
            },
        )
        if stored.verdict:
            self.events.emit(stored.run_id, "verdict", {"candidate": stored.id, **stored.verdict})
        return stored

    def finish(self, cand: Candidate) -> Candidate:
        """evaluate -> review -> admit for a stored candidate; one the infrastructure could not evaluate stays
        pending (and is returned as such)."""
        assert cand.id is not None
        with self.ledger.holding(cand.id):
            t0 = time.monotonic()
            ev = self.evaluate(cand)
            seconds = round(time.monotonic() - t0, 6)
        timed = replace(cand, timings={**cand.timings, "evaluate": seconds})
        if ev is None:
            return timed
        flags, decision = self.review(timed, ev)
        return self.admit(timed, ev, flags, decision)

    def evaluate(self, cand: Candidate) -> Evaluation | None:
        try:
            with span("evaluate", candidate=cand.id or 0, iteration=cand.iteration):
                return self._evaluated(
                    self.stages.evaluator.evaluate(cand.program, label=f"candidate {cand.id}")
                )
        except SandboxError as exc:
            # The infrastructure failed, not the candidate: it stays pending (a resume evaluates it).
            self.health.failure(str(exc))
            self.events.emit(
                cand.run_id,
                "error",
                {
                    "candidate": cand.id,
                    "iteration": cand.iteration,
                    "infrastructure": True,
                    "reason": str(exc),
                },
            )
            return None

    def review(self, cand: Candidate, ev: Evaluation) -> tuple[list[str], Decision | None]:
        """Objective-hacking flags, and — for a candidate that could unseat the best — the acceptance decision
        (raced against the best under the measured noise) and the detector's confirmation of a winner."""
        if not ev.ok or ev.score is None:
            return [], None
        guard, noise = self.stages.guard, self.acceptance.noise
        scored = replace(
            cand,
            status=Status.OK,
            score=ev.score,
            metrics=dict(ev.metrics),
            artifacts=redact_obj(dict(ev.artifacts)),
        )
        history = [self.cache.get(cand.parent_id)] if cand.parent_id is not None else []
        flags = list(guard.detector.review(self.task, scored, history, noise)) if guard is not None else []
        if flags or cand.iteration == 0 or not self.acceptance.contender(ev.score):
            return flags, None
        decision = self.acceptance.decide(scored, ev)
        if decision.accepted and guard is not None:
            winner = replace(scored, score=decision.samples.mean)
            flags.extend(guard.detector.confirm(self.task, winner, history, self.stages.evaluator, noise))
        return flags, decision

    def admit(
        self, cand: Candidate, ev: Evaluation, flags: Sequence[str], decision: Decision | None = None
    ) -> Candidate:
        # Artifacts (candidate output, tracebacks) are redacted before they are stored, shown or fed back.
        outcome: dict[str, Any] = {
            "evaluation": {**cand.evaluation, **redact_obj(ev.to_dict())},
            "metrics": dict(ev.metrics),
            "artifacts": redact_obj(dict(ev.artifacts)),
            "updated_at": time.time(),
        }
        if ev.ok and ev.score is not None:
            self._learn_noise(ev)
            decided = decision or Decision.single(ev.score)
            # The stored score is the mean of everything measured (racing included), with its spread beside it.
            outcome["evaluation"]["noise"] = decided.to_dict(self.acceptance.noise)
            outcome.update(
                status=Status.OK,
                score=decided.samples.mean,
                reason=None,
                failure_stage=None,
                flags=list(flags),
            )
        else:
            outcome.update(status=Status.FAILED, score=None, reason=ev.reason, failure_stage="evaluate")
        final = replace(cand, **outcome)
        self._report(final)
        # The event first, then the row: a crash between the two leaves a pending row that a resume evaluates again
        # (and whose last evaluation event then matches it), never a finished row no event accounts for.
        self.events.emit(
            final.run_id,
            "evaluation",
            {
                "candidate": final.id,
                "iteration": final.iteration,
                "status": final.status.value,
                "score": final.score,
                "reason": final.reason,
                "seconds": final.timings.get("evaluate"),
                "flags": final.flags,
                "digest": final.code_digest,
            },
        )
        with span("admit", candidate=final.id or 0, status=final.status.value):
            self.archive.update_candidate(final)
        self.cache.remember(final)
        self._teach(final)
        if decision is not None and decision.accepted and not final.flags:
            self.acceptance.promote(final, decision)
        return final

    # -- the seed -----------------------------------------------------------------------------------------------------

    def seed(self, run_id: int, stored: Candidate | None, noise_samples: int = 0) -> Candidate:
        """The run's seed (iteration 0), stored and evaluated first when it is not yet. A fresh evaluation of the seed
        also measures the evaluator's noise: ``noise_samples`` more evaluations of the same program, whose spread
        every later comparison is made in units of."""
        if stored is not None and stored.status == Status.FAILED:
            stored = self._seed_again(run_id, stored)
        elif stored is not None and stored.status.terminal:
            return stored
        if stored is None:
            fresh = Candidate(
                run_id=run_id, iteration=0, program=self.task.program, proposer="seed", created_at=time.time()
            )
            self.archive.add_candidate(fresh)
            self.cache.remember(fresh)
            self.events.emit(
                run_id,
                "proposal",
                {"candidate": fresh.id, "iteration": 0, "proposer": "seed", "digest": fresh.code_digest},
            )
            stored = fresh
        assert stored.id is not None
        with self.ledger.holding(stored.id):
            t0 = time.monotonic()
            ev = self.evaluate(stored)
            timed = replace(stored, timings={**stored.timings, "evaluate": round(time.monotonic() - t0, 6)})
            if ev is None:
                return timed
            if not ev.ok or ev.score is None:
                return self.admit(timed, ev, [])
            values, metrics, failures = [ev.score], [dict(ev.metrics)], []
            for i in range(noise_samples):
                again = self.evaluate(replace(stored, id=stored.id))
                if again is None:
                    break  # the infrastructure is failing: measure with what there is
                if again.ok and again.score is not None:
                    values.append(again.score)
                    metrics.append(dict(again.metrics))
                else:
                    failures.append(f"repeat {i + 1}: {again.reason}")
        noise = Noise.from_runs(values, metrics)
        self.acceptance.noise = noise
        doc = {**noise.to_dict(), "samples": values, "failed_repeats": failures}
        self.events.emit(run_id, "noise", doc)
        self.archive.update_run(run_id, meta={"noise": noise.to_dict()})
        return self.admit(timed, ev, [], Decision(False, Samples(tuple(values)), None, "the seed"))

    def _seed_again(self, run_id: int, failed: Candidate) -> Candidate:
        """A resumed run whose seed failed evaluates it again (the evaluator, its data or the machine may have been
        fixed). The seed's code is part of the run, pinned by its digest in the audit trail: if the task's program
        changed since, this run cannot take it, and a new run must."""
        if failed.program.digest() != self.task.program.digest():
            raise TaskError(
                f"the seed of this run failed ({failed.reason}) and {self.task.program_path} has changed since; "
                "a run's seed never changes",
                hint="start a new run with the fixed program: the same command without --resume",
            )
        self.events.emit(run_id, "seed_again", {"candidate": failed.id, "previous_reason": failed.reason})
        return replace(failed, status=Status.PENDING, reason=None, failure_stage=None, score=None)

    def resume_acceptance(self, run_meta: Mapping[str, Any], seed: Candidate) -> None:
        """Pick up the noise and the accepted best a run recorded (or start from the seed)."""
        if isinstance(run_meta.get("noise"), Mapping):
            self.acceptance.noise = Noise.from_dict(run_meta["noise"])
        best = seed
        recorded = run_meta.get("best")
        if isinstance(recorded, Mapping) and isinstance(recorded.get("id"), int):
            stored = self.cache.get(recorded["id"])
            if stored.status == Status.OK and not stored.flags:
                best = stored
        self.acceptance.seat(Incumbent(best, samples_of(best)))

    def resume_learning(self, run_id: int) -> None:
        """Teach the predictor what a resumed run had already evaluated, in iteration order."""
        if self.stages.predictor is None:
            return
        for cand in self.archive.candidates(run_id, status=(Status.OK, Status.FAILED)):
            self._teach(cand)

    # -- helpers ------------------------------------------------------------------------------------------------------

    def _teach(self, cand: Candidate) -> None:
        predictor = self.stages.predictor
        if predictor is None:
            return
        if cand.parent_id is None:
            if cand.score is not None:
                predictor.seen_score(cand.score)
            return
        predictor.observe(self.cache.get(cand.parent_id), cand)

    def _learn_noise(self, ev: Evaluation) -> None:
        """``evaluator.repeats`` runs each evaluation several times: their spread feeds the run's noise estimate."""
        repeats = self.task.config.evaluator.repeats
        std = ev.metrics.get(f"{self.task.config.task.metric}_std")
        if repeats > 1 and std is not None:
            self.acceptance.learn(std, repeats)

    def _evaluated(self, ev: Evaluation) -> Evaluation:
        self.health.success()
        return ev

    def _draft(self, ticket: Ticket, proposal: Proposal, seconds: float) -> Candidate:
        parent = ticket.parent
        return Candidate(
            run_id=ticket.run_id,
            iteration=ticket.iteration if ticket.iteration is not None else -1,
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
            timings={"propose": round(seconds, 6)},
            evaluation={"proposal_meta": dict(proposal.meta)} if proposal.meta else {},
            created_at=time.time(),
        )

    def _store_final(self, draft: Candidate, status: Status, reason: str, stage: str) -> Candidate:
        final = self.ledger.insert(
            replace(draft, status=status, reason=reason, failure_stage=stage, updated_at=time.time())
        )
        self.cache.remember(final)
        self._report(final)
        self.events.emit(
            final.run_id,
            "rejection" if status == Status.REJECTED else "failure",
            {
                "candidate": final.id,
                "iteration": final.iteration,
                "stage": stage,
                "reason": reason,
                "digest": final.code_digest,
            },
        )
        return final

    def _store_awaiting(self, draft: Candidate, verdict: Verdict) -> Candidate:
        waiting = self.ledger.insert(
            replace(
                draft,
                status=Status.AWAITING_APPROVAL,
                reason="awaiting approval: " + "; ".join(verdict.reasons),
            )
        )
        self.cache.remember(waiting)
        self.events.emit(
            waiting.run_id,
            "verdict",
            {"candidate": waiting.id, "digest": waiting.code_digest, **verdict.to_dict()},
        )
        return waiting

    def _report(self, cand: Candidate) -> None:
        """Tell the proposer how its candidate fared (a model bandit learns which model improves on parents)."""
        if cand.parent_id is None:
            return
        parent = self.cache.get(cand.parent_id)
        gain = 0.0
        if (
            cand.status == Status.OK
            and cand.score is not None
            and parent.score is not None
            and not cand.flags
        ):
            gain = max(0.0, cand.score - parent.score)
        self.stages.proposer.report(Outcome(cand.proposer, cand.model, cand.status, gain, cand.cost))


def _best_meta(inc: Incumbent, noise: Noise) -> dict[str, Any]:
    if inc.candidate is None or inc.samples is None:
        return {}
    return {"id": inc.candidate.id, "iteration": inc.candidate.iteration, **inc.samples.to_dict(noise)}
