"""Measuring a candidate project as an executor the pipeline uses: one sandbox job per candidate runs the suite
under coverage.py, repeats the new tests, tries mutants; the stage's gates judge what it measured.

Every comparison is with the seed (the user's tree, measured once at start): the accepted result is a patch on
that tree. Fitness (``combined_score``): line coverage, then mutation score, lexicographic — coverage in [0, 1]
plus the mutation score divided by 1000, so a mutation-score gain decides only between equal coverages (exact
while the project has fewer than 1000 statements; beyond, a coverage step is smaller than 1/1000 and the two
mix — said in docs/test-evolution.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from godel.candidate import Evaluation, Program, StageResult
from godel.config import TestsConfig
from godel.errors import SandboxError
from godel.propose import Proposer
from godel.sandbox import Job, Limits, Sandbox
from godel.testkit._driver import DRIVER
from godel.testkit._gates import GateResult, changed_files, gates_artifact, is_test_path
from godel.testkit._mutants import mutants_of, sample_mutants

__all__ = ["EVALUATOR", "FITNESS", "Measurement", "TestEvaluator", "production_files"]

FITNESS = "combined_score"
EVALUATOR = "(test evolution, measured by godel)"


def production_files(files: Mapping[str, str], cfg: TestsConfig) -> list[str]:
    """The Python files under test: ``tests.package`` (folders or files), else every Python file outside the tests."""
    out = []
    for path in files:
        if not path.endswith(".py") or is_test_path(path, cfg.tests_dir) or path.endswith("conftest.py"):
            continue
        if cfg.package and not any(path == p or path.startswith(p.rstrip("/") + "/") for p in cfg.package):
            continue
        if path.split("/")[0] in ("docs", "benchmarks", "examples") or path in ("setup.py", "noxfile.py"):
            continue
        out.append(path)
    return sorted(out)


@dataclass(frozen=True)
class Measurement:
    """What one sandbox job measured for a project."""

    suite_passed: bool
    suite_output: str
    covered: int
    statements: int
    missing: Mapping[str, tuple[int, ...]]  # production file -> lines no test runs
    repeats: tuple[bool, ...]
    kill_tried: tuple[str, ...]
    killed: str | None
    mutants_killed: int
    mutants_total: int
    seconds: float

    @property
    def coverage(self) -> float:
        return self.covered / self.statements if self.statements else 0.0

    @property
    def mutation_score(self) -> float:
        return self.mutants_killed / self.mutants_total if self.mutants_total else 0.0


class TestEvaluator:
    """An :class:`~godel.executor.Executor` measuring projects for a Stage A or Stage B run."""

    __test__ = False
    name = "testkit"

    def __init__(self, seed: Program, sandbox: Sandbox, cfg: TestsConfig, paths: Sequence[str]) -> None:
        self.seed_program = seed
        self.sandbox = sandbox
        self.cfg = cfg
        self.paths = tuple(paths)  # import roots inside the project ("." or "src")
        self._baseline: Measurement | None = None
        self._closed = False

    @property
    def baseline(self) -> Measurement:
        """The seed's measurement (made on first use)."""
        if self._baseline is None:
            self._baseline = self.measure(self.seed_program, [], label="baseline")
        return self._baseline

    def measure(self, program: Program, new_tests: Sequence[str], *, label: str = "") -> Measurement:
        files = dict(program.files)
        prod = production_files(files, self.cfg)
        mutants = [m for p in prod for m in mutants_of(p, files[p])]
        spec = {
            "paths": list(self.paths),
            "source": sorted({p.split("/")[0] if "/" in p else p.removesuffix(".py") for p in prod}) or ["."],
            "tests_dir": self.cfg.tests_dir,
            "new_tests": list(new_tests),
            "repeats": self.cfg.repeats,
            "kill_mutants": self.cfg.kill_mutants,
            "mutants": [m.to_dict() for m in mutants],
            "scoring": [m.to_dict() for m in sample_mutants(mutants, self.cfg.mutants)],
            "test_seconds": self.cfg.test_seconds,
        }
        job_files = {f"project/{p}": t.encode() for p, t in files.items()}
        job_files["spec.json"] = json.dumps(spec).encode()
        limits = Limits(wall_seconds=self.cfg.job_seconds, memory_mb=2048, max_processes=64, disk_mb=256)
        t0 = time.monotonic()
        result = self.sandbox.run(Job(code=DRIVER, files=job_files, limits=limits, label=label))
        if result.termination != "ok" or not result.result:
            raise SandboxError(
                f"the test measurement did not finish ({result.termination}: {result.reason or result.stderr[-300:]})",
                hint="raise tests.job_seconds, or check `godel doctor`",
            )
        doc: dict[str, Any] = json.loads(result.result)
        suite = doc["suite"]
        covered = statements = 0
        missing: dict[str, tuple[int, ...]] = {}
        for path, f in suite["files"].items():
            if path not in prod:
                continue
            covered += len(f["executed"])
            statements += len(f["executed"]) + len(f["missing"])
            missing[path] = tuple(f["missing"])
        kill = doc.get("kill", {})
        mutation = doc.get("mutation", {})
        return Measurement(
            suite_passed=suite["rc"] == 0,
            suite_output=suite["output"],
            covered=covered,
            statements=statements,
            missing=missing,
            repeats=tuple(r["rc"] == 0 for r in doc.get("repeats", [])),
            kill_tried=tuple(kill.get("tried", [])),
            killed=kill.get("killed"),
            mutants_killed=int(mutation.get("killed", 0)),
            mutants_total=int(mutation.get("total", 0)),
            seconds=time.monotonic() - t0,
        )

    # -- Executor ---------------------------------------------------------------------------------------------------

    def evaluate(self, program: Program, *, evaluator_file: str | None = None, label: str = "") -> Evaluation:
        if self._closed:
            raise SandboxError("the test evaluator is closed", hint="build a new one")
        if evaluator_file not in (None, EVALUATOR):
            raise SandboxError(
                "a test-evolution run has no hold-out evaluator", hint="unset guard.holdout_evaluator"
            )
        base = self.baseline
        changed = changed_files(self.seed_program.files, program.files)
        new_tests = [
            p
            for p in changed
            if p in program.files and is_test_path(p, self.cfg.tests_dir) and p.endswith(".py")
        ]
        if program.digest() == self.seed_program.digest():
            m = base
        else:
            m = self.measure(program, new_tests if self.cfg.stage == "A" else [], label=label)
        gates = self.gates(m, base, new_tests)
        failed = [g for g in gates if not g.passed]
        score = m.coverage + m.mutation_score / 1000
        metrics = {
            FITNESS: score,
            "coverage": m.coverage,
            "coverage_gain": m.coverage - base.coverage,
            "mutation_score": m.mutation_score,
            "mutation_gain": m.mutation_score - base.mutation_score,
            "covered_lines": float(m.covered),
            "statements": float(m.statements),
            "mutants_killed": float(m.mutants_killed),
            "mutants": float(m.mutants_total),
            **{f"gate_{g.name}": float(g.passed) for g in gates},
        }
        artifacts = {
            "gates": gates_artifact(gates),
            "changed_files": json.dumps(changed),
        }
        if not m.suite_passed:
            artifacts["suite_output"] = m.suite_output
        reason = "; ".join(f"gate {g.name}: {g.measured}" for g in failed) or None
        stage = StageResult(
            stage=1,
            name=f"stage {self.cfg.stage}",
            status="ok" if reason is None else "failed",
            metrics=metrics,
            seconds=m.seconds,
            reason=reason,
        )
        return Evaluation(
            ok=reason is None,
            score=score if reason is None else None,
            metrics=metrics,
            artifacts=artifacts,
            stages=(stage,),
            reason=reason,
            seconds=m.seconds,
        )

    def gates(self, m: Measurement, base: Measurement, new_tests: Sequence[str]) -> list[GateResult]:
        """The measured gates of the configured stage (the static ones are prechecks, see ``_run``)."""
        suite = GateResult(
            "suite",
            m.suite_passed,
            "the whole suite passes"
            if m.suite_passed
            else "the suite fails: " + m.suite_output[-200:].strip(),
        )
        if m is base:
            return [suite]
        cov = f"coverage {m.coverage:.1%} ({m.covered}/{m.statements}) vs seed {base.coverage:.1%}"
        mut = f"mutation score {m.mutation_score:.1%} ({m.mutants_killed}/{m.mutants_total}) vs seed {base.mutation_score:.1%}"
        if self.cfg.stage == "B":
            return [
                suite,
                GateResult("coverage", m.coverage >= base.coverage, cov),
                GateResult("mutation", m.mutation_score >= base.mutation_score, mut),
            ]
        runs = len(m.repeats)
        stable = runs == self.cfg.repeats and all(m.repeats)
        return [
            suite,
            GateResult(
                "no_flakes",
                stable,
                f"new tests passed {sum(m.repeats)} of {self.cfg.repeats} runs in a row"
                + ("" if stable else f" (failed run {runs})" if runs else " (not run: the suite failed)"),
                {"new_tests": list(new_tests)},
            ),
            GateResult(
                "kills_mutant",
                m.killed is not None,
                f"fails against mutant {m.killed}"
                if m.killed
                else f"passes against all {len(m.kill_tried)} mutant(s) of the lines it runs: it asserts nothing "
                "they change",
                {"tried": list(m.kill_tried)},
            ),
            GateResult("coverage_rises", m.covered > base.covered, cov),
            GateResult("mutation", True, mut + " (measured; ranks candidates of equal coverage)"),
        ]

    def proposer(self) -> Proposer | None:
        return None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.sandbox.close()
