"""Scoring a coding agent: its solutions to the development split's problems, run against their real tests, in
stages (a few problems first, more only for agents that clear a threshold), as an executor the pipeline uses.

Per problem: the agent's ``solve`` runs in the sandbox with brokered model access; its answer is then run against
the problem's hidden tests by the scorer, in a separate job. The fitness is the pass rate over the problems the
agent was evaluated on; its spread (binomial) goes with it. The test split is never part of a run's evaluation:
:meth:`AgentBenchmark.report` scores it, for reporting only.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from godel.agents._broker import Broker
from godel.agents._humaneval import Problem, Split, score_solution
from godel.candidate import Evaluation, Program, StageResult
from godel.config import AgentConfig
from godel.errors import SandboxError
from godel.llm import PoolError
from godel.propose import Proposer
from godel.sandbox import Sandbox

__all__ = ["AgentBenchmark", "ProblemResult", "Report", "problem_results"]

FITNESS = "pass_rate"
EVALUATOR = "(HumanEval, scored by godel)"  # the task's evaluator name: a re-run check asks for it again
# Refused solutions tolerated before the agent's evaluation fails: an honest solution may use eval (one reference
# solution does); an agent forging the scorer's verdict does it on every problem.
REFUSALS_TOLERATED = 1
_SOLUTION_CHARS = 4000


@dataclass(frozen=True)
class ProblemResult:
    task_id: str
    passed: bool
    error: str | None  # why it failed: the agent's own failure, or the tests'
    solution: str
    calls: int
    tokens: int
    cost: float
    seconds: float
    refused: bool = False
    budget_exhausted: bool = False  # the run's model budget ran out while the agent worked on it

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "passed": self.passed,
            "error": self.error,
            "solution": self.solution[:_SOLUTION_CHARS],
            "calls": self.calls,
            "tokens": self.tokens,
            "cost": round(self.cost, 8),
            "seconds": round(self.seconds, 3),
            "refused": self.refused,
        }


def problem_results(artifacts: Mapping[str, str]) -> list[dict[str, Any]]:
    """The per-problem results an evaluation stored (empty when it stored none)."""
    raw = artifacts.get("problems")
    if not raw:
        return []
    try:
        doc = json.loads(raw)
    except ValueError:
        return []
    return [d for d in doc if isinstance(d, dict)] if isinstance(doc, list) else []


@dataclass(frozen=True)
class Report:
    """Pass@1 on a set of problems, with a 95% Wilson interval."""

    passed: int
    total: int
    results: tuple[ProblemResult, ...]

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def interval(self) -> tuple[float, float]:
        return wilson(self.passed, self.total)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, centre - half), min(1.0, centre + half))


class AgentBenchmark:
    """An :class:`~godel.executor.Executor` that scores agents on the development split, in stages."""

    name = "humaneval"

    def __init__(
        self,
        problems: Mapping[str, Problem],
        split: Split,
        broker: Broker,
        sandbox: Sandbox,
        config: AgentConfig,
        *,
        seed: int = 0,
    ) -> None:
        self.problems = problems
        self.split = split
        self.broker = broker
        self.sandbox = sandbox
        self.config = config
        self.seed = seed
        self._closed = False

    # -- Executor -------------------------------------------------------------------------------------------------

    def evaluate(self, program: Program, *, evaluator_file: str | None = None, label: str = "") -> Evaluation:
        if self._closed:
            raise SandboxError("the agent benchmark is closed", hint="build a new one; close() ends this one")
        if evaluator_file not in (None, EVALUATOR):
            # The hidden split must never decide a run: there is no second evaluator to call.
            raise SandboxError(
                "a self-improvement run has no hold-out evaluator (the test split only reports)",
                hint="unset guard.holdout_evaluator for `godel self-improve`",
            )
        started = time.monotonic()
        dev = list(self.split.dev)
        bounds = [min(n, len(dev)) if n else len(dev) for n in self.config.stage_sizes]
        results: list[ProblemResult] = []
        stages: list[StageResult] = []
        done = 0
        for i, upto in enumerate(bounds):
            if upto <= done:
                continue
            t0 = time.monotonic()
            batch = [self._one(program, self.problems[t], label) for t in dev[done:upto]]
            results.extend(batch)
            done = upto
            refused = [r for r in results if r.refused]
            if len(refused) > REFUSALS_TOLERATED:
                why = (
                    f"{len(refused)} of the agent's solutions were refused (possible scorer tampering); first, "
                    f"{refused[0].task_id}: {refused[0].error}"
                )
                stages.append(self._stage(i, batch, t0, "failed", why))
                return self._evaluation(results, stages, started, reason=why)
            if any(r.budget_exhausted for r in batch):
                why = "the run's model budget ran out during the evaluation"
                stages.append(self._stage(i, batch, t0, "failed", why))
                return self._evaluation(results, stages, started, reason=why)
            rate = sum(r.passed for r in results) / len(results)
            last = i == len(bounds) - 1 or done >= len(dev)
            threshold = self.config.stage_thresholds[i] if i < len(self.config.stage_thresholds) else 0.0
            if not last and rate <= threshold:
                stages.append(
                    self._stage(
                        i, batch, t0, "below_threshold", f"pass rate {rate:.3f} not above {threshold:g}"
                    )
                )
                break
            stages.append(self._stage(i, batch, t0, "ok", None))
            if last:
                break
        return self._evaluation(results, stages, started)

    def proposer(self) -> Proposer | None:
        return None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.sandbox.close()

    # -- reporting ------------------------------------------------------------------------------------------------

    def report(self, program: Program, task_ids: Sequence[str] | None = None, *, label: str = "") -> Report:
        """Pass@1 of ``program`` on ``task_ids`` (default: the test split), for reporting only."""
        ids = list(self.split.test if task_ids is None else task_ids)
        results = tuple(self._one(program, self.problems[t], label or "report") for t in ids)
        return Report(sum(r.passed for r in results), len(results), results)

    # -- one problem ----------------------------------------------------------------------------------------------

    def _one(self, program: Program, problem: Problem, label: str) -> ProblemResult:
        t0 = time.monotonic()
        digest = hashlib.sha256(f"{self.seed}:{problem.task_id}".encode()).digest()
        try:
            run = self.broker.run(
                program,
                "solve",
                problem.public(),
                calls=self.config.calls_per_problem,
                seed=int.from_bytes(digest[:4], "big"),
                label=f"{label} {problem.task_id}".strip(),
            )
        except PoolError as exc:
            # No model could answer: the machinery failed, not the agent; the candidate stays pending.
            raise SandboxError(f"no model could answer the agent: {exc.message}", hint=exc.hint) from exc
        calls, tokens, cost = len(run.calls), run.tokens, run.cost
        if not run.ok:
            return ProblemResult(
                problem.task_id,
                False,
                run.error,
                "",
                calls,
                tokens,
                cost,
                time.monotonic() - t0,
                budget_exhausted=run.budget_exhausted,
            )
        if not isinstance(run.value, str) or not run.value.strip():
            kind = type(run.value).__name__
            return ProblemResult(
                problem.task_id,
                False,
                f"solve returned {kind}, not the solution's source",
                "",
                calls,
                tokens,
                cost,
                time.monotonic() - t0,
            )
        score = score_solution(self.sandbox, problem, run.value, timeout=self.config.test_seconds)
        return ProblemResult(
            problem.task_id,
            score.passed,
            score.error,
            run.value,
            calls,
            tokens,
            cost,
            time.monotonic() - t0,
            refused=score.refused,
        )

    def _stage(
        self, i: int, batch: Sequence[ProblemResult], t0: float, status: str, reason: str | None
    ) -> StageResult:
        n = len(batch)
        passed = sum(r.passed for r in batch)
        return StageResult(
            stage=i + 1,
            name=f"stage{i + 1}",
            status=status,
            metrics={"passed": float(passed), "problems": float(n)},
            seconds=time.monotonic() - t0,
            reason=reason,
        )

    def _evaluation(
        self,
        results: Sequence[ProblemResult],
        stages: Sequence[StageResult],
        started: float,
        reason: str | None = None,
    ) -> Evaluation:
        n = len(results)
        passed = sum(r.passed for r in results)
        rate = passed / n if n else 0.0
        metrics = {
            FITNESS: rate,
            "pass_rate_stderr": math.sqrt(rate * (1 - rate) / n) if n else 0.0,
            "refused": float(sum(r.refused for r in results)),
            "passed": float(passed),
            "problems": float(n),
            "model_calls": float(sum(r.calls for r in results)),
            "model_tokens": float(sum(r.tokens for r in results)),
            "model_cost": sum(r.cost for r in results),
        }
        artifacts = {"problems": json.dumps([r.to_dict() for r in results])}
        ok = reason is None
        return Evaluation(
            ok=ok,
            score=rate if ok else None,
            metrics=metrics,
            artifacts=artifacts,
            stages=tuple(stages),
            reason=reason,
            seconds=time.monotonic() - started,
        )
