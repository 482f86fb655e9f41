"""The Ray executor on a real local Ray cluster (2 CPUs), against the local executor on the same programs, and
through the executor conformance suite."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray  # noqa: F401  # a missing Ray must fail these tests, not skip them

from godel.candidate import Program
from godel.errors import ConfigError, SandboxError
from godel.executor import (
    Executor,
    LocalExecutor,
    LocalRayCluster,
    ProposerFactory,
    RayExecutor,
    make_executor,
)
from godel.executor.testing import ExecutorConformance, ExecutorFactory, make_program, mutation_proposer
from godel.sandbox import SandboxConfig, SubprocessSandbox
from godel.task import Task
from tests.executor.support import (
    FAILS,
    HANGS,
    OK,
    SECRET_NAME,
    SECRET_VALUE,
    SNOOPS,
    UNSAFE,
    kills_worker,
    make_task,
    scored,
)

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    # The secret is in this process's environment before the cluster starts and before the driver connects.
    os.environ[SECRET_NAME] = SECRET_VALUE
    c = LocalRayCluster(num_cpus=2)
    try:
        yield c
    finally:
        c.stop()
        os.environ.pop(SECRET_NAME, None)


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Task:
    return make_task(tmp_path_factory.mktemp("task"))


@pytest.fixture(scope="module")
def executor(cluster: LocalRayCluster, task: Task) -> Iterator[RayExecutor]:
    # Half a CPU per slot leaves room on the 2-CPU cluster for the other executors the tests start.
    ex = RayExecutor(task, UNSAFE, slots=2, address=cluster.address, num_cpus_per_eval=0.5, start_timeout=30)
    try:
        yield ex
    finally:
        ex.close()


def test_is_an_executor(executor: RayExecutor) -> None:
    assert isinstance(executor, Executor)
    assert executor.name == "ray"


def test_results_equal_the_local_executor(executor: RayExecutor, task: Task) -> None:
    local = LocalExecutor(task, SubprocessSandbox())
    for prog in (OK, FAILS, HANGS):
        want = local.evaluate(prog, label="cmp")
        got = executor.evaluate(prog, label="cmp")
        assert (got.ok, got.score, got.metrics, got.reason) == (
            want.ok,
            want.score,
            want.metrics,
            want.reason,
        )
        assert [(s.name, s.status, s.reason) for s in got.stages] == [
            (s.name, s.status, s.reason) for s in want.stages
        ]
        assert {k: v for k, v in got.artifacts.items() if k != "traceback"} == {
            k: v for k, v in want.artifacts.items() if k != "traceback"
        }
    ok, failed, timeout = (executor.evaluate(p) for p in (OK, FAILS, HANGS))
    assert ok.ok and ok.score == 1.5 and ok.artifacts["seen"] == "fine"
    assert not failed.ok and failed.score is None and "ValueError: boom" in (failed.reason or "")
    assert not timeout.ok and timeout.score is None and "timeout" in (timeout.reason or "")


def test_the_sandbox_runs_inside_the_ray_worker(executor: RayExecutor) -> None:
    ev = executor.evaluate(SNOOPS)
    assert ev.ok, ev.reason
    seen = ev.artifacts["seen"]
    assert seen.startswith("MINE= PARENT="), seen[:200]  # the candidate's own environment lacks the secret
    assert SECRET_VALUE not in seen  # and so does the Ray worker's that runs its sandbox
    # The parent really is a Ray worker on the cluster, not this test process.
    assert "RAY_RAYLET_PID" in seen
    infos = executor.workers()
    assert infos and all(i["sandbox"] == "unsafe-subprocess" and i["pid"] != os.getpid() for i in infos)


def test_workers_import_the_same_godel_as_the_driver(executor: RayExecutor) -> None:
    # A source tree on PYTHONPATH (a checkout, a worktree) must win on the workers as it does here.
    import godel

    infos = executor.workers()
    assert infos and {i["godel"] for i in infos} == {os.path.dirname(godel.__file__)}


def test_many_concurrent_calls_from_threads(executor: RayExecutor) -> None:
    n = 16
    results: dict[int, tuple[bool, float | None, str]] = {}
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            ev = executor.evaluate(scored(i), label=f"t{i}")
            results[i] = (ev.ok, ev.score, ev.artifacts.get("seen", ""))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert results == {i: (True, float(i), f"n{i}") for i in range(n)}


def test_a_killed_worker_is_retried_on_a_fresh_one(
    cluster: LocalRayCluster, task: Task, tmp_path: Path
) -> None:
    with_retry = RayExecutor(
        task,
        UNSAFE,
        slots=1,
        address=cluster.address,
        num_cpus_per_eval=0.25,
        retries=2,
        backoff_seconds=0.05,
        start_timeout=30,
    )
    try:
        marker = tmp_path / "killed-once"
        ev = with_retry.evaluate(kills_worker(marker), label="flaky")
        assert marker.exists()  # the first attempt really killed its worker
        assert ev.ok and ev.score == 3.0 and ev.artifacts["seen"] == "survived"
    finally:
        with_retry.close()


def test_a_worker_that_keeps_dying_is_a_sandbox_error(cluster: LocalRayCluster, task: Task) -> None:
    ex = RayExecutor(
        task,
        UNSAFE,
        slots=1,
        address=cluster.address,
        num_cpus_per_eval=0.25,
        retries=1,
        backoff_seconds=0.05,
    )
    try:
        with pytest.raises(SandboxError) as info:
            ex.evaluate(kills_worker(None), label="candidate 7")
        msg = str(info.value)
        assert cluster.address in msg and "candidate 7" in msg and "2 attempt(s)" in msg
        # The executor is still usable afterwards: the dead slot was replaced.
        assert ex.evaluate(OK).score == 1.5
    finally:
        ex.close()


def test_two_executors_share_the_connection(
    cluster: LocalRayCluster, executor: RayExecutor, task: Task
) -> None:
    other = RayExecutor(task, UNSAFE, slots=1, address=cluster.address, num_cpus_per_eval=0.25)
    other.close()
    # Closing one executor must not disconnect the other.
    assert executor.evaluate(OK).score == 1.5


def test_factory(cluster: LocalRayCluster, task: Task) -> None:
    local = make_executor("local", task, UNSAFE, slots=1)
    try:
        assert isinstance(local, LocalExecutor) and local.evaluate(OK).score == 1.5
    finally:
        local.close()
    remote = make_executor("ray", task, UNSAFE, slots=1, address=cluster.address)
    try:
        assert remote.name == "ray" and remote.evaluate(OK).score == 1.5
    finally:
        remote.close()
    with pytest.raises(ConfigError, match="unknown executor"):
        make_executor("dask", task, UNSAFE, slots=1)
    with pytest.raises(ConfigError, match="ray-address"):
        make_executor("local", task, UNSAFE, slots=1, address="auto")


def test_the_zygote_sandbox_contains_candidates_inside_ray_workers(
    cluster: LocalRayCluster, task: Task
) -> None:
    ex = RayExecutor(
        task, SandboxConfig(backend="zygote"), slots=1, address=cluster.address, num_cpus_per_eval=0.25
    )
    try:
        ev = ex.evaluate(SNOOPS)
        assert ev.ok, ev.reason
        seen = ev.artifacts["seen"]
        assert SECRET_VALUE not in seen
        # In its own PID namespace the candidate cannot even reach the Ray worker's environment.
        assert "RAY_RAYLET_PID" not in seen, seen[:300]
        assert [(w["sandbox"], w["trusted"]) for w in ex.workers()] == [("zygote", False)]
        assert ex.evaluate(OK).score == 1.5
    finally:
        ex.close()


def test_the_local_cluster_refuses_clients_without_its_token(
    cluster: LocalRayCluster, executor: RayExecutor
) -> None:
    # Ray listens on every interface; the per-process token is what keeps other users and machines out.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env["RAY_gcs_server_port_wait_time_s"] = "1"  # one connection attempt, not Ray's 20
    proc = subprocess.run(
        [sys.executable, "-c", f"import ray; ray.init(address={cluster.address!r})"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "InvalidAuthToken" in proc.stderr or "AuthenticationError" in proc.stderr, proc.stderr[-2000:]


def test_proposals_can_run_on_ray_workers(cluster: LocalRayCluster, tmp_path: Path) -> None:
    """run.remote_proposals: the task's own proposer runs in a Ray actor and gives what it gives locally."""
    import random

    from godel.candidate import Candidate, Status
    from godel.propose import MutationProposer, ProposalContext
    from godel.task import load_task

    make_task(tmp_path / "t")
    task = load_task(tmp_path / "t", ["proposer.kind='mutate'"])
    ex = RayExecutor(
        task,
        UNSAFE,
        slots=1,
        address=cluster.address,
        num_cpus_per_eval=0.5,
        start_timeout=30,
        proposer_factory=mutation_proposer,  # sent to the actors, which build their proposer with it
    )
    try:
        seed = Candidate(run_id=1, iteration=0, program=task.program, id=1, status=Status.OK, score=0.5)
        ctx = ProposalContext(task, seed, 3)
        proposer = ex.proposer()
        assert proposer is not None and proposer.name == "mutate"
        remote = proposer.propose(ctx, random.Random(7))
        local = MutationProposer(task.config.proposer).propose(ctx, random.Random(7))
        assert remote.ok and remote.program is not None
        assert remote.program == local.program and remote.edit == local.edit
    finally:
        ex.close()


def test_without_a_proposer_factory_it_refuses_to_propose(executor: RayExecutor, task: Task) -> None:
    import random

    from godel.executor.testing import proposal_context

    assert executor.proposer() is None
    with pytest.raises(ConfigError, match="without a proposer factory"):
        executor.propose(proposal_context(task), random.Random(1))


def test_a_factory_ray_cannot_send_is_a_config_error_naming_it(
    cluster: LocalRayCluster, executor: RayExecutor, task: Task
) -> None:
    from godel.propose import Proposer

    lock = threading.Lock()

    def unpicklable(t: Task) -> Proposer:  # a closure over a lock: Ray's pickler refuses it
        with lock:
            return mutation_proposer(t)

    with pytest.raises(ConfigError, match=r"proposer factory .*unpicklable.* cannot be sent to Ray workers"):
        RayExecutor(task, UNSAFE, slots=1, address=cluster.address, proposer_factory=unpicklable)
    # The failed start released its share of the driver connection and nothing else.
    assert executor.evaluate(OK).score == 1.5


class TestConformance(ExecutorConformance):
    sandbox_config = UNSAFE
    runs_proposals = True

    @pytest.fixture(scope="class")
    @classmethod
    def make_executor(cls, cluster: LocalRayCluster) -> ExecutorFactory:
        def make(task: Task, factory: ProposerFactory | None) -> Executor:
            # A quarter CPU per slot leaves room on the 2-CPU cluster for the module's other executors.
            return RayExecutor(
                task,
                UNSAFE,
                slots=2,
                address=cluster.address,
                num_cpus_per_eval=0.25,
                start_timeout=30,
                proposer_factory=factory,
            )

        return make

    @pytest.fixture
    def broken(self, cluster: LocalRayCluster, task: Task) -> tuple[Executor, Program]:
        # Every attempt kills the Ray worker holding the sandbox: the retries run out.
        ex = RayExecutor(
            task,
            UNSAFE,
            slots=1,
            address=cluster.address,
            num_cpus_per_eval=0.25,
            retries=1,
            backoff_seconds=0.05,
        )
        return ex, make_program("    os.kill(os.getppid(), 9)\n    time.sleep(5)\n    return 0.0, ''\n")
