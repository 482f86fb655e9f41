"""The executor conformance suite against the local executor (a real sandbox) and the scripted executor.

The Ray executor passes the same suite on a real local Ray cluster in test_ray.py.
"""

from __future__ import annotations

import threading
import zlib
from pathlib import Path

import pytest

from godel.candidate import Evaluation, Program
from godel.errors import EvaluationError, SandboxError
from godel.executor import Executor, LocalExecutor, ProposerFactory, make_executor
from godel.executor.testing import (
    FAILS,
    HOLDOUT,
    OK,
    EvaluationRequest,
    ExecutorConformance,
    ExecutorContract,
    ExecutorFactory,
    Reference,
    ScriptedExecutor,
    failed_evaluation,
    mutation_proposer,
    ok_evaluation,
    scored,
)
from godel.sandbox import SandboxConfig, SubprocessSandbox
from godel.task import Task

UNSAFE = SandboxConfig(backend="unsafe-subprocess", allow_unsafe=True)


class TestLocal(ExecutorConformance):
    sandbox_config = UNSAFE
    runs_proposals = False  # proposals already run in the engine's process

    @pytest.fixture(scope="class")
    @classmethod
    def make_executor(cls) -> ExecutorFactory:
        def make(task: Task, factory: ProposerFactory | None) -> Executor:
            return make_executor("local", task, UNSAFE, 2, proposer_factory=factory)

        return make

    @pytest.fixture
    def broken(self, task: Task, tmp_path: Path) -> tuple[Executor, Program]:
        # A sandbox whose interpreter is missing: the machinery fails, whatever the candidate.
        return LocalExecutor(task, SubprocessSandbox(python=str(tmp_path / "no-such-python"))), OK


def _answer(request: EvaluationRequest) -> Evaluation:
    """A script that tells the suite's programs apart as their evaluators do: failing programs fail, the hold-out
    evaluator scores differently."""
    source = request.program.files[request.program.main_path]
    if "raise" in source:
        return failed_evaluation("stage 1 (evaluate) failed: error while evaluating: ValueError: boom")
    score = float(zlib.crc32(source.encode())) * (10 if request.evaluator_file == HOLDOUT else 1)
    return ok_evaluation(score)


class TestScripted(ExecutorContract):
    runs_proposals = True

    @pytest.fixture(scope="class")
    @classmethod
    def make_executor(cls) -> ExecutorFactory:
        def make(task: Task, factory: ProposerFactory | None) -> Executor:
            return ScriptedExecutor(_answer, proposer=factory(task) if factory is not None else None)

        return make

    @pytest.fixture(scope="class")
    @classmethod
    def reference(cls, task: Task, request: pytest.FixtureRequest) -> Reference:
        def answer(program: Program, *, evaluator_file: str | None = None) -> Evaluation:
            return _answer(EvaluationRequest(program, evaluator_file, ""))

        return answer

    @pytest.fixture
    def broken(self, task: Task) -> tuple[Executor, Program]:
        return ScriptedExecutor.sequence([SandboxError("scripted: the sandbox server died")]), OK


def test_a_sequence_answers_in_order_raises_on_cue_and_records_every_call() -> None:
    first, second = ok_evaluation(1.0), failed_evaluation("stage 1 (evaluate) failed: timeout")
    ex = ScriptedExecutor.sequence([first, SandboxError("node lost"), second])
    assert ex.evaluate(OK, label="a") is first
    with pytest.raises(SandboxError, match="node lost"):
        ex.evaluate(FAILS, evaluator_file=HOLDOUT, label="b")
    assert ex.evaluate(scored(3), label="c") is second
    assert ex.calls == 3
    assert ex.requests == [
        EvaluationRequest(OK, None, "a"),
        EvaluationRequest(FAILS, HOLDOUT, "b"),
        EvaluationRequest(scored(3), None, "c"),
    ]


def test_a_sequence_that_runs_out_says_so() -> None:
    ex = ScriptedExecutor.sequence([ok_evaluation(1.0)])
    ex.evaluate(OK)
    with pytest.raises(EvaluationError, match="ran out of answers at candidate 9: it was scripted with 1"):
        ex.evaluate(OK, label="candidate 9")
    assert ex.calls == 2  # the call that found no answer is recorded too


def test_a_sequence_hands_each_answer_out_once_across_threads() -> None:
    n = 40
    ex = ScriptedExecutor.sequence([ok_evaluation(float(i)) for i in range(n)])
    scores: list[float | None] = []
    lock = threading.Lock()

    def one() -> None:
        score = ex.evaluate(OK).score
        with lock:
            scores.append(score)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(s for s in scores if s is not None) == [float(i) for i in range(n)]
    assert ex.calls == n


def test_a_script_function_sees_the_request_and_its_proposer_is_declared(tmp_path: Path) -> None:
    from godel.executor.testing import write_suite_task

    task = write_suite_task(tmp_path / "task")
    proposer = mutation_proposer(task)
    ex = ScriptedExecutor(lambda r: ok_evaluation(len(r.label)), proposer=proposer, name="fake")
    assert ex.name == "fake" and ex.proposer() is proposer
    assert ex.evaluate(OK, label="four").score == 4
    ex.close()
    assert ex.closed
