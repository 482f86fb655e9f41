"""Running a candidate through the evaluator's cascade inside the sandbox.

Stages are the evaluator's ``evaluate_stage1``, ``evaluate_stage2``... (or ``evaluate`` alone). A stage whose
fitness falls below its ``cascade_thresholds`` entry ends the cascade early; the candidate keeps that stage's
metrics. Every way an evaluation can go wrong (crash, timeout, memory, output flood, no metrics, non-finite fitness,
an ``error`` key in the result) makes the evaluation *failed with a reason*, never a score of 0.

Results are validated: only real numbers are metrics. A bool, a string or anything else reported under the fitness
key fails the candidate with the key and its type; under other keys such values are kept as artifacts. When a
sandbox limit ends a job, the reason names the setting that raises it (:func:`limit_hint` reads it back).

Every job also carries godel's small ``openevolve`` package (``godel._harness.COMPAT_FILES``), so OpenEvolve 0.4
evaluators that import ``openevolve.evaluation_result.EvaluationResult`` run unchanged.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

from godel._harness import COMPAT_DIR, COMPAT_FILES, HARNESS
from godel.candidate import Evaluation, Program, StageResult
from godel.sandbox import Job, Limits, Sandbox, SandboxResult
from godel.task import Task, mean_fitness_note

__all__ = ["Evaluates", "Evaluator", "limit_hint"]

_TASK_DIR = "task"
_CANDIDATE_DIR = "candidate"
_COMPAT = {f"{COMPAT_DIR}/{path}": text.encode() for path, text in COMPAT_FILES.items()}
# Exceptions an evaluator raises when it runs into a limit from inside (the harness catches them, so the sandbox
# sees a clean exit): the text they carry -> the setting that raises that limit.
_ERROR_LIMITS = (
    ("MemoryError", "sandbox.memory_mb"),
    ("No space left on device", "sandbox.disk_mb"),
    ("can't start new thread", "sandbox.max_processes"),
    ("Resource temporarily unavailable", "sandbox.max_processes"),
)


def _tail(text: str, n: int) -> str:
    return text if len(text) <= n else "..." + text[-n:]


def _num(value: float) -> str:
    """A setting's value as a user writes it: 1000000, not 1e+06."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _not_a_number(key: str, kind: str, shown: str) -> str:
    if kind == "NoneType":
        return f"metric {key!r} is None, not a number"
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"metric {key!r} is {article} {kind} ({shown}), not a number"


def limit_hint(evaluation: Mapping[str, Any]) -> str | None:
    """How to raise the limit that ended an evaluation (given as ``Evaluation.to_dict()``, as the archive keeps
    it), e.g. "raise sandbox.output_bytes (now 1000000) in godel.toml or with --set sandbox.output_bytes=2000000";
    None when no limit ended it."""
    for stage in evaluation.get("stages", ()):
        limit = dict(stage.get("sandbox") or {}).get("limit")
        if limit:
            return str(limit["hint"])
    return None


class _Run(NamedTuple):
    """One sandboxed call of one stage."""

    metrics: dict[str, float] | None  # None when it failed
    artifacts: dict[str, str]
    failure: str | None
    result: SandboxResult
    limit: dict[str, Any] | None = None  # the setting whose limit ended it


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
        self._support = {f"{_TASK_DIR}/{k}": v for k, v in task.support_files.items()} | _COMPAT

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
            argv=(stage_fn, target, f"{_TASK_DIR}/{evaluator_file}", COMPAT_DIR),
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

    def fitness_note(self, metrics: Mapping[str, float]) -> str | None:
        """What the user should be told when the fitness is the mean of several metrics (no fitness key)."""
        keys = sorted(k for k in metrics if not k.endswith("_std"))
        if self.metric in metrics or len(keys) < 2:
            return None
        return mean_fitness_note(self.metric, keys)

    def _setting(self, name: str, stage: int) -> dict[str, Any]:
        """The limit ``name`` (a config key) as this stage has it, and how to raise it."""
        sb, ev = self.task.config.sandbox, self.config
        value: float
        if name == "evaluator.stage_timeouts":
            value = ev.stage_timeouts[stage]
            raised = ", ".join(_num(t * 2 if i == stage else t) for i, t in enumerate(ev.stage_timeouts))
            key, flag = f"evaluator.stage_timeouts[{stage}]", f"evaluator.stage_timeouts=[{raised}]"
        else:
            section, field = name.split(".")
            value = getattr(sb if section == "sandbox" else ev, field)
            key, flag = name, f"{name}={_num(value * 2)}"
        unit = {"sandbox.memory_mb": " MB", "sandbox.disk_mb": " MB", "sandbox.output_bytes": " bytes"}.get(
            name, " s" if name.startswith("evaluator.") else ""
        )
        return {
            "setting": key,
            "value": value,
            "hint": f"raise {key} (now {_num(value)}{unit}) in godel.toml or with --set {flag}",
        }

    def _limit(self, termination: str, reason: str, stage: int) -> dict[str, Any] | None:
        """The setting whose limit ended a job, from the sandbox's verdict; None when no limit did."""
        if termination in ("timeout", "cpu_limit"):  # the CPU-time limit follows the wall-clock one
            timeouts = self.config.stage_timeouts
            name = "evaluator.stage_timeouts" if stage < len(timeouts) else "evaluator.timeout_seconds"
        elif termination == "memory_limit":
            name = "sandbox.memory_mb"
        elif termination == "output_limit":
            if reason.startswith("result"):
                return {
                    "setting": None,
                    "value": None,
                    "hint": "the result channel's cap is fixed: return fewer or shorter artifacts",
                }
            name = "sandbox.output_bytes"
        elif termination == "process_limit":
            name = "sandbox.max_processes"
        elif termination == "disk_limit" or "disk limit" in reason:
            name = "sandbox.disk_mb"
        else:
            return None
        return self._setting(name, stage)

    def _run_once(self, program: Program, stage_fn: str, stage: int, evaluator_file: str, label: str) -> _Run:
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
            limit = self._limit(res.termination, res.reason, stage)
            hint = f"; {limit['hint']}" if limit else ""
            return _Run(None, artifacts, f"{res.termination}: {reason}{hint}", res, limit)
        try:
            doc: dict[str, Any] = json.loads(res.result)
        except (ValueError, UnicodeDecodeError):
            return _Run(None, artifacts, "evaluator result is not valid JSON", res)
        if "error" in doc:
            artifacts["traceback"] = _tail(str(doc.get("traceback", "")), n)
            where = "loading the evaluator" if doc.get("phase") == "load" else "evaluating"
            failure = f"error while {where}: {doc['error']}"
            for text, setting in _ERROR_LIMITS:
                if text in str(doc["error"]):
                    limit = self._setting(setting, stage)
                    return _Run(
                        None, artifacts, f"{failure}; if the program needs more, {limit['hint']}", res
                    )
            return _Run(None, artifacts, failure, res)
        metrics = {str(k): float(v) for k, v in dict(doc.get("metrics", {})).items()}
        not_numbers = {str(k): (str(v[0]), str(v[1])) for k, v in dict(doc.get("not_numbers", {})).items()}
        reported = [str(k) for k in dict(doc.get("artifacts", {})) if str(k) not in not_numbers]
        for key, value in dict(doc.get("artifacts", {})).items():
            artifacts[str(key)] = _tail(str(value), n)
        error_text = artifacts.get("error", "").strip()
        if error_text:
            # The OpenEvolve convention of returning {"combined_score": 0.0, "error": "..."} is a failure.
            return _Run(None, artifacts, f"evaluator reported an error: {_tail(error_text, 300)}", res)
        if self.metric in not_numbers:
            return _Run(None, artifacts, _not_a_number(self.metric, *not_numbers[self.metric]), res)
        if not metrics:
            if not_numbers:
                got = ", ".join(f"{k!r} ({kind})" for k, (kind, _) in sorted(not_numbers.items()))
                detail = f"it returned only {got}"
            else:
                detail = "it returned no metrics at all"
            if reported:
                detail += f"; artifacts {', '.join(sorted(reported))}"
            return _Run(None, artifacts, f"evaluator returned no numeric metrics ({detail})", res)
        bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
        if bad:
            listed = ", ".join(f"{k!r} is {metrics[k]}" for k in bad)
            return _Run(None, artifacts, f"non-finite metric{'s' if len(bad) > 1 else ''}: {listed}", res)
        return _Run(metrics, artifacts, None, res)

    def evaluate(self, program: Program, *, evaluator_file: str | None = None, label: str = "") -> Evaluation:
        start = time.monotonic()
        evaluator_file = evaluator_file or self.task.evaluator_path
        stages = self.task.stages if evaluator_file == self.task.evaluator_path else ("evaluate",)
        merged: dict[str, float] = {}
        artifacts: dict[str, str] = {}
        results: list[StageResult] = []
        score: float | None = None
        note: str | None = None
        for idx, stage_fn in enumerate(stages):
            t0 = time.monotonic()
            runs: list[dict[str, float]] = []
            sandbox_docs: list[dict[str, Any]] = []
            failed: _Run | None = None
            for rep in range(self.config.repeats):
                run = self._run_once(
                    program, stage_fn, idx, evaluator_file, f"{label} {stage_fn} #{rep + 1}".strip()
                )
                sandbox_docs.append(run.result.to_dict(output_chars=200))
                artifacts.update(run.artifacts)
                if run.failure is not None or run.metrics is None:
                    failed = run
                    break
                runs.append(run.metrics)
            seconds = time.monotonic() - t0
            sb: dict[str, Any] = {"runs": sandbox_docs, "shares_process_with_candidate": True}
            if failed is not None:
                if failed.limit is not None:
                    sb["limit"] = failed.limit
                failure = failed.failure or "evaluation failed"
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
            fitness_metrics = {k: v for k, v in stage_metrics.items() if not k.endswith("_std")}
            score, source = self.fitness(fitness_metrics)
            note = self.fitness_note(fitness_metrics)
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
        if note is not None:
            # Said with every such result (the seed's first of all), so no one reads the score without knowing it.
            artifacts["fitness_source"] = note
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
