"""Running a candidate through the evaluator's cascade inside the sandbox.

Stages are the evaluator's ``evaluate_stage1``, ``evaluate_stage2``... (or ``evaluate`` alone). A stage whose
fitness falls below its ``cascade_thresholds`` entry ends the cascade early; the candidate keeps that stage's
metrics. Every way an evaluation can go wrong (crash, timeout, memory, output flood, no metrics, non-finite fitness,
an ``error`` key in the result) makes the evaluation *failed with a reason*, never a score of 0.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from godel._harness import HARNESS
from godel.candidate import Evaluation, Program, StageResult
from godel.sandbox import Job, Limits, Sandbox, SandboxResult
from godel.task import Task

__all__ = ["Evaluates", "Evaluator"]

_TASK_DIR = "task"
_CANDIDATE_DIR = "candidate"


def _tail(text: str, n: int) -> str:
    return text if len(text) <= n else "..." + text[-n:]


@runtime_checkable
class Evaluates(Protocol):
    """Anything that evaluates a program of the task: the :class:`Evaluator` itself, or an executor running it on
    this machine's sandbox slots or on a cluster. ``evaluator_file`` names another evaluator of the task (a
    hold-out one); ``label`` is for logs and KPIs."""

    def evaluate(
        self, program: Program, *, evaluator_file: str | None = None, label: str = ""
    ) -> Evaluation: ...


class Evaluator:
    """Evaluates programs of one task with one sandbox. Thread-safe if the sandbox is."""

    def __init__(self, task: Task, sandbox: Sandbox) -> None:
        self.task = task
        self.sandbox = sandbox
        self.config = task.config.evaluator
        self.metric = task.config.task.metric
        self.maximize = task.config.task.maximize
        self._support = {f"{_TASK_DIR}/{k}": v for k, v in task.support_files.items()}

    def limits(self, stage: int) -> Limits:
        timeouts = self.config.stage_timeouts
        wall = timeouts[stage] if stage < len(timeouts) else self.config.timeout_seconds
        sb = self.task.config.sandbox
        return Limits(
            wall_seconds=wall,
            memory_mb=sb.memory_mb,
            max_processes=sb.max_processes,
            output_bytes=sb.output_bytes,
            disk_mb=sb.disk_mb,
        )

    def _job(self, program: Program, stage_fn: str, stage: int, evaluator_file: str, label: str) -> Job:
        files = dict(self._support)
        for path, text in program.files.items():
            files[f"{_CANDIDATE_DIR}/{path}"] = text.encode()
        target = f"{_CANDIDATE_DIR}/{program.main_path}" if self.task.mode == "file" else _CANDIDATE_DIR
        return Job(
            code=HARNESS,
            files=files,
            argv=(stage_fn, target, f"{_TASK_DIR}/{evaluator_file}"),
            limits=self.limits(stage),
            label=label,
            priority=stage,  # a candidate that passed stage k goes ahead of fresh first stages
        )

    def fitness(self, metrics: Mapping[str, float]) -> tuple[float | None, str]:
        """Fitness (higher is better) from a stage's metrics, and where it came from."""
        if self.metric in metrics:
            value, source = metrics[self.metric], self.metric
        elif metrics:
            # OpenEvolve's fallback when no combined_score is reported: the mean of the numeric metrics.
            value, source = statistics.fmean(metrics.values()), "mean of metrics"
        else:
            return None, "none"
        return (value if self.maximize else -value), source

    def _run_once(
        self, program: Program, stage_fn: str, stage: int, evaluator_file: str, label: str
    ) -> tuple[dict[str, float] | None, dict[str, str], str | None, SandboxResult]:
        """One sandboxed call of one stage: (metrics or None, artifacts, failure reason, sandbox result)."""
        res = self.sandbox.run(self._job(program, stage_fn, stage, evaluator_file, label))
        n = self.config.artifact_chars
        artifacts: dict[str, str] = {}
        if res.stdout:
            artifacts["stdout"] = _tail(res.stdout, n)
        if res.stderr:
            artifacts["stderr"] = _tail(res.stderr, n)
        if res.termination not in ("ok", "error") or res.result is None:
            reason = res.reason or res.termination
            if res.termination == "ok" or (res.termination == "error" and res.result is None):
                reason = f"evaluation process ended without a result ({res.reason or 'exit ' + str(res.exit_code)})"
            return None, artifacts, f"{res.termination}: {reason}", res
        try:
            doc: dict[str, Any] = json.loads(res.result)
        except (ValueError, UnicodeDecodeError):
            return None, artifacts, "evaluator result is not valid JSON", res
        if "error" in doc:
            artifacts["traceback"] = _tail(str(doc.get("traceback", "")), n)
            where = "loading the evaluator" if doc.get("phase") == "load" else "evaluating"
            return None, artifacts, f"error while {where}: {doc['error']}", res
        metrics = {str(k): float(v) for k, v in dict(doc.get("metrics", {})).items()}
        for key, value in dict(doc.get("artifacts", {})).items():
            artifacts[str(key)] = _tail(str(value), n)
        error_text = artifacts.get("error", "").strip()
        if error_text:
            # The OpenEvolve convention of returning {"combined_score": 0.0, "error": "..."} is a failure.
            return None, artifacts, f"evaluator reported an error: {_tail(error_text, 300)}", res
        if not metrics:
            return None, artifacts, "evaluator returned no numeric metrics", res
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:
            return None, artifacts, f"non-finite metric values: {', '.join(sorted(bad))}", res
        return metrics, artifacts, None, res

    def evaluate(self, program: Program, *, evaluator_file: str | None = None, label: str = "") -> Evaluation:
        start = time.monotonic()
        evaluator_file = evaluator_file or self.task.evaluator_path
        stages = self.task.stages if evaluator_file == self.task.evaluator_path else ("evaluate",)
        merged: dict[str, float] = {}
        artifacts: dict[str, str] = {}
        results: list[StageResult] = []
        score: float | None = None
        for idx, stage_fn in enumerate(stages):
            t0 = time.monotonic()
            runs: list[dict[str, float]] = []
            sandbox_docs: list[dict[str, Any]] = []
            failure: str | None = None
            for rep in range(self.config.repeats):
                metrics, arts, failure, res = self._run_once(
                    program, stage_fn, idx, evaluator_file, f"{label} {stage_fn} #{rep + 1}".strip()
                )
                sandbox_docs.append(res.to_dict(output_chars=200))
                artifacts.update(arts)
                if failure is not None or metrics is None:
                    break
                runs.append(metrics)
            seconds = time.monotonic() - t0
            sb = {"runs": sandbox_docs, "shares_process_with_candidate": True}
            if failure is not None:
                results.append(StageResult(idx + 1, stage_fn, "failed", {}, {}, seconds, failure, sb))
                return Evaluation(
                    ok=False,
                    score=None,
                    metrics=merged,
                    artifacts=artifacts,
                    stages=tuple(results),
                    reason=f"stage {idx + 1} ({stage_fn}) failed: {failure}",
                    seconds=time.monotonic() - start,
                )
            stage_metrics = _aggregate(runs)
            merged.update(stage_metrics)
            score, source = self.fitness({k: v for k, v in stage_metrics.items() if not k.endswith("_std")})
            threshold = (
                self.config.cascade_thresholds[idx] if idx < len(self.config.cascade_thresholds) else None
            )
            last = idx == len(stages) - 1
            raw = score if self.maximize or score is None else -score
            if not last and threshold is not None and raw is not None and raw < threshold:
                results.append(
                    StageResult(
                        idx + 1,
                        stage_fn,
                        "below_threshold",
                        stage_metrics,
                        {},
                        seconds,
                        f"{source} {raw:g} < threshold {threshold:g}",
                        sb,
                    )
                )
                break
            results.append(StageResult(idx + 1, stage_fn, "ok", stage_metrics, {}, seconds, None, sb))
        return Evaluation(
            ok=True,
            score=score,
            metrics=merged,
            artifacts=artifacts,
            stages=tuple(results),
            seconds=time.monotonic() - start,
        )


def _aggregate(runs: list[dict[str, float]]) -> dict[str, float]:
    if len(runs) == 1:
        return dict(runs[0])
    keys = set(runs[0]).intersection(*runs[1:])
    out: dict[str, float] = {}
    for key in sorted(keys):
        values = [r[key] for r in runs]
        out[key] = statistics.fmean(values)
        out[f"{key}_std"] = statistics.stdev(values)
    return out
