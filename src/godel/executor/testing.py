"""The conformance suite every :class:`~godel.executor.Executor` passes, and a scripted executor for tests.

:class:`ExecutorContract` holds the cases any executor must pass, fakes included; :class:`ExecutorConformance` adds
the ones that need a real evaluator in a real sandbox, and checks results against
:class:`~godel.evaluate.Evaluator` run directly over :attr:`~ExecutorConformance.sandbox_config`. The suite writes
its own task (see :func:`write_suite_task`) and builds executors through the subclass's fixtures, which are
class-scoped (and so classmethods) because one executor serves a whole class (starting one can take seconds)::

    import pytest
    from godel.executor import LocalExecutor, make_executor
    from godel.executor.testing import OK, ExecutorConformance, ExecutorFactory
    from godel.sandbox import SandboxConfig, SubprocessSandbox

    UNSAFE = SandboxConfig(backend="unsafe-subprocess", allow_unsafe=True)

    class TestLocal(ExecutorConformance):
        sandbox_config = UNSAFE
        runs_proposals = False  # proposer() stays None even when given a factory

        @pytest.fixture(scope="class")
        @classmethod
        def make_executor(cls) -> ExecutorFactory:
            return lambda task, factory: make_executor("local", task, UNSAFE, 2, proposer_factory=factory)

        @pytest.fixture
        def broken(self, task, tmp_path):  # an executor whose machinery fails, and a program to send it
            return LocalExecutor(task, SubprocessSandbox(python=str(tmp_path / "missing"))), OK

The suite closes every executor it is given. :class:`ScriptedExecutor` answers from a script instead of a sandbox,
in the spirit of httpx's ``MockTransport``, so code that drives an executor (the engine) is tested without one; it
passes :class:`ExecutorContract` itself (``tests/executor/test_conformance.py``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pytest

from godel.candidate import Candidate, Evaluation, Program, Status
from godel.config import SandboxConfig
from godel.errors import EvaluationError, SandboxError
from godel.evaluate import Evaluator
from godel.executor._base import Executor, ProposerFactory
from godel.propose import MutationProposer, ProposalContext, Proposer
from godel.sandbox import make_sandbox
from godel.task import Task, load_task

__all__ = [
    "FAILS",
    "HANGS",
    "HOLDOUT",
    "OK",
    "EvaluationRequest",
    "ExecutorConformance",
    "ExecutorContract",
    "ExecutorFactory",
    "Reference",
    "ScriptedExecutor",
    "failed_evaluation",
    "make_program",
    "mutation_proposer",
    "ok_evaluation",
    "outcome",
    "proposal_context",
    "scored",
    "write_suite_task",
]

# --- the suite's task: run() returns (score, text); the evaluator scores it, the hold-out one scores it x10 ---

_EVALUATOR = """
import importlib.util

SCALE = {scale}

def evaluate(path):
    spec = importlib.util.spec_from_file_location("prog", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    value, seen = mod.run()
    return {{"combined_score": SCALE * float(value), "seen": "{prefix}" + str(seen)}}
"""
HOLDOUT = "holdout_evaluator.py"


def make_program(body: str) -> Program:
    """A program of the suite's task: ``body`` is the indented body of ``run() -> (score, text)``; ``os``, ``sys``
    and ``time`` are imported."""
    return Program.single("initial_program.py", f"import os, sys, time\n\ndef run():\n{body}")


def scored(i: int) -> Program:
    """A good program scoring ``i``."""
    return make_program(f"    return {i}.0, 'n{i}'\n")


OK = make_program("    return 1.5, 'fine'\n")
FAILS = make_program("    raise ValueError('boom')\n")
HANGS = make_program("    time.sleep(30)\n    return 1.0, ''\n")


def write_suite_task(root: Path) -> Task:
    """The suite's task in ``root``: program :data:`OK`, an evaluator, a hold-out evaluator, a 1 s time limit."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "initial_program.py": OK.files["initial_program.py"],
        "evaluator.py": _EVALUATOR.format(scale=1, prefix=""),
        HOLDOUT: _EVALUATOR.format(scale=10, prefix="holdout:"),
        "godel.toml": "[evaluator]\ntimeout_seconds = 1\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    return load_task(root)


def mutation_proposer(task: Task) -> Proposer:
    """A proposer factory that pickles by reference (module level), for the ``proposer()`` cases."""
    return MutationProposer(task.config.proposer)


def proposal_context(task: Task, iteration: int = 3) -> ProposalContext:
    """A context proposing a child of the task's own program."""
    parent = Candidate(run_id=1, iteration=0, program=task.program, id=1, status=Status.OK, score=1.5)
    return ProposalContext(task, parent, iteration)


def outcome(ev: Evaluation) -> dict[str, Any]:
    """What an evaluation says about the candidate: timings, sandbox documents and tracebacks (which name scratch
    paths) left out, since they differ between any two runs."""
    return {
        "ok": ev.ok,
        "score": ev.score,
        "metrics": dict(ev.metrics),
        "reason": ev.reason,
        "artifacts": {k: v for k, v in ev.artifacts.items() if k != "traceback"},
        "stages": [(s.stage, s.name, s.status, dict(s.metrics), s.reason) for s in ev.stages],
    }


class Reference(Protocol):
    """How the executor's evaluations must come out (for a real executor: the Evaluator run directly)."""

    def __call__(self, program: Program, *, evaluator_file: str | None = None) -> Evaluation: ...


# Builds a fresh executor for the task, handing it the proposer factory (None: none).
ExecutorFactory = Callable[[Task, ProposerFactory | None], Executor]


class ExecutorContract:
    """Cases every executor passes. Subclasses provide ``make_executor`` and ``reference`` (class-scoped) and
    ``broken``, and declare :attr:`runs_proposals`."""

    runs_proposals: ClassVar[bool] = False
    """Whether ``proposer()`` returns a Proposer when the executor was given a proposer factory."""

    @pytest.fixture(scope="class")
    @classmethod
    def task(cls, tmp_path_factory: pytest.TempPathFactory) -> Task:
        return write_suite_task(tmp_path_factory.mktemp("executor-suite"))

    @pytest.fixture(scope="class")
    @classmethod
    def make_executor(cls) -> ExecutorFactory:
        raise NotImplementedError("subclasses provide a class-scoped make_executor fixture")

    @pytest.fixture(scope="class")
    @classmethod
    def reference(cls, task: Task, request: pytest.FixtureRequest) -> Reference:
        raise NotImplementedError("subclasses provide a class-scoped reference fixture")

    @pytest.fixture
    def broken(self, task: Task) -> tuple[Executor, Program]:
        raise NotImplementedError(
            "subclasses provide a broken fixture: an executor for the task whose infrastructure fails, and a "
            "program whose evaluation meets that failure"
        )

    @pytest.fixture(scope="class")
    @classmethod
    def executor(cls, make_executor: ExecutorFactory, task: Task) -> Iterator[Executor]:
        ex = make_executor(task, None)
        try:
            yield ex
        finally:
            ex.close()

    @pytest.fixture
    def fresh(
        self, make_executor: ExecutorFactory, task: Task
    ) -> Iterator[Callable[[ProposerFactory | None], Executor]]:
        """Builds executors of the test's own, closed after it."""
        built: list[Executor] = []

        def make(factory: ProposerFactory | None) -> Executor:
            built.append(make_executor(task, factory))
            return built[-1]

        try:
            yield make
        finally:
            for ex in built:
                ex.close()

    def test_is_an_executor(self, executor: Executor) -> None:
        assert isinstance(executor, Executor)
        assert isinstance(executor.name, str) and executor.name

    def test_a_good_candidate_comes_back_as_the_reference_scores_it(
        self, executor: Executor, reference: Reference
    ) -> None:
        got = executor.evaluate(OK, label="candidate 1")
        assert got.ok and got.score is not None, got.reason
        assert outcome(got) == outcome(reference(OK))

    def test_a_failing_candidate_is_a_failed_evaluation_with_its_reason(
        self, executor: Executor, reference: Reference
    ) -> None:
        got = executor.evaluate(FAILS, label="candidate 2")
        assert not got.ok and got.score is None
        assert got.reason
        assert outcome(got) == outcome(reference(FAILS))

    def test_evaluator_file_replaces_the_evaluator(self, executor: Executor, reference: Reference) -> None:
        want = reference(OK, evaluator_file=HOLDOUT)
        assert outcome(want) != outcome(reference(OK))  # the two evaluator files disagree by design
        got = executor.evaluate(OK, evaluator_file=HOLDOUT, label="hold-out")
        assert outcome(got) == outcome(want)

    def test_concurrent_calls_from_several_threads(self, executor: Executor, reference: Reference) -> None:
        n = 4
        programs = [scored(i) for i in range(n)]
        start = threading.Barrier(n)

        def one(i: int) -> Evaluation:
            start.wait(30)  # every call in flight together
            return executor.evaluate(programs[i], label=f"thread {i}")

        with ThreadPoolExecutor(n) as pool:
            got = list(pool.map(one, range(n)))  # re-raises what any call raised
            want = list(pool.map(reference, programs))
        assert len({w.score for w in want}) == n  # each caller must get its own answer back
        assert [outcome(g) for g in got] == [outcome(w) for w in want]

    def test_an_infrastructure_failure_raises_sandbox_error(self, broken: tuple[Executor, Program]) -> None:
        ex, program = broken
        try:
            with pytest.raises(SandboxError) as info:
                ex.evaluate(program, label="candidate 7")
            assert str(info.value)
        finally:
            ex.close()

    def test_close_is_idempotent_and_final(self, fresh: Callable[[ProposerFactory | None], Executor]) -> None:
        ex = fresh(None)
        assert ex.evaluate(OK).ok
        ex.close()
        ex.close()
        with pytest.raises(SandboxError):
            ex.evaluate(OK)

    def test_without_a_proposer_factory_it_runs_no_proposals(self, executor: Executor) -> None:
        assert executor.proposer() is None

    def test_with_a_proposer_factory_it_declares_whether_it_runs_proposals(
        self, fresh: Callable[[ProposerFactory | None], Executor], task: Task
    ) -> None:
        proposer = fresh(mutation_proposer).proposer()
        if not self.runs_proposals:
            assert proposer is None
            return
        assert isinstance(proposer, Proposer) and isinstance(proposer.name, str) and proposer.name
        ctx = proposal_context(task)
        got = proposer.propose(ctx, random.Random(7))
        want = mutation_proposer(task).propose(ctx, random.Random(7))
        assert got.ok and got.program is not None, got.error
        assert (got.program, got.edit) == (want.program, want.edit)


class ExecutorConformance(ExecutorContract):
    """:class:`ExecutorContract` for executors that evaluate for real: the reference is the
    :class:`~godel.evaluate.Evaluator` over :attr:`sandbox_config`, which the executor is expected to use too."""

    sandbox_config: ClassVar[SandboxConfig]

    @pytest.fixture(scope="class")
    @classmethod
    def reference(cls, task: Task, request: pytest.FixtureRequest) -> Reference:
        sandbox = make_sandbox(cls.sandbox_config, slots=1)
        request.addfinalizer(sandbox.close)
        return Evaluator(task, sandbox).evaluate

    @pytest.mark.slow
    def test_a_candidate_out_of_time_is_a_failed_evaluation(
        self, executor: Executor, reference: Reference
    ) -> None:
        got = executor.evaluate(HANGS, label="candidate 3")
        assert not got.ok and got.score is None and "timeout" in (got.reason or "")
        assert outcome(got) == outcome(reference(HANGS))

    def test_the_candidate_runs_in_the_configured_sandbox(self, executor: Executor) -> None:
        got = executor.evaluate(OK)
        backends = {run["backend"] for stage in got.stages for run in stage.sandbox["runs"]}
        assert backends == {self.sandbox_config.backend}


# --- a scripted executor ---


@dataclass(frozen=True)
class EvaluationRequest:
    """One call of :meth:`ScriptedExecutor.evaluate`."""

    program: Program
    evaluator_file: str | None
    label: str


def ok_evaluation(score: float, metrics: Mapping[str, float] | None = None) -> Evaluation:
    """A successful one-stage evaluation scoring ``score``."""
    return Evaluation(ok=True, score=score, metrics=dict(metrics or {"combined_score": score}))


def failed_evaluation(reason: str) -> Evaluation:
    """A failed evaluation (the candidate's own fault) with ``reason``."""
    return Evaluation(ok=False, score=None, reason=reason)


class ScriptedExecutor:
    """An in-memory :class:`~godel.executor.Executor` whose answers come from a script, not a sandbox.

    ``ScriptedExecutor(script)`` answers each call with ``script(request)``, which may raise
    :class:`~godel.errors.SandboxError` to act out an infrastructure failure; :meth:`sequence` answers calls in
    order from a list of evaluations and SandboxErrors (raised when their turn comes). Every call is recorded in
    :attr:`requests` (:attr:`calls` counts them), from any number of threads. ``proposer`` is what
    :meth:`proposer` returns. Once closed, it raises SandboxError as a real executor does.
    """

    def __init__(
        self,
        script: Callable[[EvaluationRequest], Evaluation],
        *,
        proposer: Proposer | None = None,
        name: str = "scripted",
    ) -> None:
        self.name = name
        self._script = script
        self._proposer = proposer
        self._lock = threading.Lock()
        self.requests: list[EvaluationRequest] = []
        self.closed = False

    @classmethod
    def sequence(
        cls,
        answers: Iterable[Evaluation | SandboxError],
        *,
        proposer: Proposer | None = None,
        name: str = "scripted",
    ) -> ScriptedExecutor:
        """Answers calls in order; a call past the last answer raises :class:`~godel.errors.EvaluationError`."""
        scripted = list(answers)
        turns = iter(range(len(scripted)))
        lock = threading.Lock()

        def next_answer(request: EvaluationRequest) -> Evaluation:
            with lock:
                turn = next(turns, None)
            if turn is None:
                raise EvaluationError(
                    f"ScriptedExecutor ran out of answers at {request.label or 'an unlabelled call'}: "
                    f"it was scripted with {len(scripted)}",
                    hint="script one answer per evaluate call, or pass a function of the request",
                )
            answer = scripted[turn]
            if isinstance(answer, SandboxError):
                raise answer
            return answer

        return cls(next_answer, proposer=proposer, name=name)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def evaluate(self, program: Program, *, evaluator_file: str | None = None, label: str = "") -> Evaluation:
        request = EvaluationRequest(program, evaluator_file, label)
        with self._lock:
            if self.closed:
                raise SandboxError("the scripted executor is closed", hint="build a new one")
            self.requests.append(request)
        return self._script(request)

    def proposer(self) -> Proposer | None:
        return self._proposer

    def close(self) -> None:
        with self._lock:
            self.closed = True
