"""The Ray executor: evaluations on a Ray cluster, in a pool of long-lived actors, one per slot.

Each actor builds its own sandbox with :func:`godel.sandbox.make_sandbox` *inside the Ray worker*, so the sandbox
applies on whichever machine the evaluation lands, and its start-up cost is paid once per slot, not per candidate.
The task goes into the object store once; each evaluation sends only the program. Without an address the executor
starts a :class:`~godel.executor.LocalRayCluster` (see ``_ray_cluster``) and stops it on close.

Failures are split in two. The candidate's own failures (crash, timeout, bad metrics) come back as a failed
:class:`~godel.candidate.Evaluation`, exactly as with the local executor, and are never retried. Infrastructure
failures (an actor or node that dies, a cluster that goes away, an evaluation that outlives every sandbox limit by
far, a sandbox error inside the worker) are retried on a fresh actor with exponential backoff, and after the last
attempt raise :class:`~godel.errors.SandboxError` naming the cluster address — never a score, never the candidate's
failure. Ray itself is imported only when an executor is built.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import tenacity

import godel
from godel.candidate import Candidate, Evaluation, Program, Proposal
from godel.config import SandboxConfig
from godel.errors import ConfigError, EvaluationError, GodelError, ProposalError, SandboxError
from godel.evaluate import Evaluator
from godel.executor._base import ProposerFactory, RemoteProposer
from godel.executor._ray_cluster import (
    PROBE_SECONDS,
    RAY_INSTALL_HINT,
    LocalRayCluster,
    answers,
    connect,
    disconnect,
    host_port,
)
from godel.propose import ProposalContext, Proposer
from godel.sandbox import Sandbox, make_sandbox
from godel.task import Task

__all__ = ["RayExecutor"]

log = logging.getLogger("godel.executor.ray")

# --- the actor ---


def _build_sandbox(config: SandboxConfig) -> Sandbox:
    # One slot per actor: the actor runs one evaluation at a time, and Ray spreads actors over the nodes.
    return make_sandbox(config, slots=1)


class _EvalWorker:
    """One evaluation slot on a Ray node: a long-lived sandbox and an :class:`Evaluator` over it, and, given a
    proposer factory, the task's proposer."""

    def __init__(
        self, task: Task, sandbox_config: SandboxConfig, proposer_factory: ProposerFactory | None
    ) -> None:
        self.task = task
        self.sandbox_config = sandbox_config
        self.proposer_factory = proposer_factory
        self.evaluator: Evaluator | None = None
        self.proposer: Proposer | None = None

    def ready(self) -> dict[str, Any]:
        # Built here, not in __init__, so a sandbox that cannot start surfaces as its own SandboxError.
        if self.evaluator is None:
            self.evaluator = Evaluator(self.task, _build_sandbox(self.sandbox_config))
        import ray

        return {
            "pid": os.getpid(),
            "godel": os.path.dirname(godel.__file__),  # which copy of godel this worker runs
            "node": ray.get_runtime_context().get_node_id(),
            "sandbox": self.evaluator.sandbox.name,
            "trusted": self.evaluator.sandbox.trusted,
        }

    def evaluate(self, program: Program, evaluator_file: str | None, label: str) -> Evaluation:
        if self.evaluator is None:
            self.ready()
        assert self.evaluator is not None
        return self.evaluator.evaluate(program, evaluator_file=evaluator_file, label=label)

    def propose(
        self,
        parent: Candidate,
        iteration: int,
        inspirations: tuple[Candidate, ...],
        feedback: tuple[str, ...],
        rng_state: Any,
    ) -> Proposal:
        # The proposer (with its model, for an LLM) is built once per actor, by the factory the caller handed over.
        if self.proposer is None:
            if self.proposer_factory is None:
                raise ProposalError("this Ray evaluation slot was started without a proposer factory")
            self.proposer = self.proposer_factory(self.task)
        rng = random.Random()
        rng.setstate(rng_state)
        ctx = ProposalContext(self.task, parent, iteration, inspirations, feedback)
        return self.proposer.propose(ctx, rng)

    def close(self) -> None:
        if self.evaluator is not None:
            self.evaluator.sandbox.close()


@dataclass
class _Slot:
    handle: Any  # ray.actor.ActorHandle
    ready_ref: Any  # ray.ObjectRef of ready()
    info: dict[str, Any] | None = None


class _InfraFailure(Exception):
    """An attempt failed for a reason outside the candidate; retried, then reported as SandboxError."""


class RayExecutor:
    """Runs evaluations on Ray in ``slots`` actors (see the module docstring).

    ``address``: None starts a cluster on this machine (``num_cpus`` CPUs, default all) and stops it on
    :meth:`close`; ``"auto"``, ``"host:port"`` or ``"ray://host:port"`` connect to an existing one, which is left
    running. ``num_cpus_per_eval`` and ``resources`` are the Ray resource request of each slot. ``retries`` is how
    many times an infrastructure failure is retried (backoff ``backoff_seconds`` doubling up to
    ``backoff_max_seconds``); ``start_timeout`` bounds how long an evaluation waits for any slot to come up;
    ``eval_margin_seconds`` is added to the task's own time limits before a silent evaluation counts as lost.
    ``proposer_factory`` (picklable: a module-level function) builds the task's proposer inside each actor; with
    it, :meth:`proposer` returns a :class:`~godel.executor.RemoteProposer` whose proposals run on the actors.
    """

    name = "ray"

    def __init__(
        self,
        task: Task,
        sandbox_config: SandboxConfig,
        *,
        slots: int = 2,
        address: str | None = None,
        num_cpus_per_eval: float = 1.0,
        resources: Mapping[str, float] | None = None,
        num_cpus: int | None = None,
        object_store_mb: int = 200,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        backoff_max_seconds: float = 10.0,
        start_timeout: float = 60.0,
        eval_margin_seconds: float = 60.0,
        env_vars: Mapping[str, str] | None = None,
        proposer_factory: ProposerFactory | None = None,
    ) -> None:
        if slots < 1:
            raise ConfigError(f"RayExecutor needs at least one slot, got {slots}")
        if retries < 0:
            raise ConfigError(f"retries must be >= 0, got {retries}")
        try:
            import ray
        except ImportError as exc:
            raise ConfigError(
                "the Ray executor needs Ray, which is not installed", hint=RAY_INSTALL_HINT
            ) from exc
        self.task = task
        self.sandbox_config = sandbox_config
        self.slots = slots
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.start_timeout = start_timeout
        self.eval_timeout = _eval_bound(task) + eval_margin_seconds
        self._options: dict[str, Any] = {
            "num_cpus": num_cpus_per_eval,
            "max_restarts": 0,  # a dead slot is replaced by us, so retries stay counted and bounded
            "max_concurrency": 1,
        }
        if resources:
            self._options["resources"] = dict(resources)
        self.cluster: LocalRayCluster | None = None
        if address is None:
            self.cluster = LocalRayCluster(num_cpus=num_cpus, object_store_mb=object_store_mb)
            self.address = self.cluster.address
            self.where = f"local Ray cluster at {self.address}"
        else:
            self.address = address
            self.where = f"Ray cluster at {address}"
        self._lock = threading.Condition()
        self._idle: list[_Slot] = []
        self._pending: list[_Slot] = []
        self._busy = 0
        self._closed = False
        self._connected = False
        self._endpoint = host_port(self.address)
        # Creating or killing an actor talks to the GCS and blocks while it is unreachable; the callers' threads
        # never do either, so a dead cluster cannot hang an evaluation past its timeouts.
        self._chores: queue.SimpleQueue[_Slot | None] = queue.SimpleQueue()  # None: spawn; a slot: kill it
        self._maintainer: threading.Thread | None = None
        self._factory_ref: Any = None  # ray.ObjectRef of proposer_factory
        self._proposer = (
            RemoteProposer(self, task.config.proposer.kind) if proposer_factory is not None else None
        )
        try:
            connect(self.address, self.where, env_vars or {})
            self._connected = True
            if self._endpoint is None:  # "auto": probe the GCS it found
                with contextlib.suppress(Exception):
                    self._endpoint = host_port(str(ray.get_runtime_context().gcs_address))
            self._actor_cls = ray.remote(_EvalWorker).options(**self._options)
            self._task_ref = ray.put(task)
            if proposer_factory is not None:
                self._factory_ref = _put_factory(proposer_factory)
            for _ in range(slots):
                self._pending.append(self._spawn())
            self._maintainer = threading.Thread(target=self._maintain, name="godel-ray-slots", daemon=True)
            self._maintainer.start()
        except BaseException:
            self.close()
            raise

    # --- slots ---

    def _spawn(self) -> _Slot:
        handle: Any = self._actor_cls.remote(self._task_ref, self.sandbox_config, self._factory_ref)
        return _Slot(handle, handle.ready.remote())

    def _maintain(self) -> None:
        import ray

        while True:
            chore = self._chores.get()
            if chore is None:
                with self._lock:
                    if self._closed:
                        return
                try:
                    slot = self._spawn()
                except Exception as exc:  # the cluster is gone; the waiting evaluation reports it
                    log.warning("%s: cannot start a replacement evaluation slot: %s", self.where, exc)
                    continue
                with self._lock:
                    if self._closed:
                        chore = slot
                    else:
                        self._pending.append(slot)
                        self._lock.notify_all()
                        continue
            try:
                ray.kill(chore.handle, no_restart=True)
            except Exception as exc:  # already dead, or the cluster is gone
                log.debug("ray.kill failed: %s", exc)

    def _replace(self, slot: _Slot) -> None:
        self._chores.put(slot)
        self._chores.put(None)

    def _poll_pending(self) -> None:
        """Move slots whose sandbox is up to the idle list; raise what a failed start-up says."""
        import ray

        if not self._pending:
            return
        refs = [s.ready_ref for s in self._pending]
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in done:
            slot = next(s for s in self._pending if s.ready_ref is ref)
            self._pending.remove(slot)
            try:
                slot.info = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                # The sandbox cannot start on that node: a configuration problem, the same on every retry.
                self._replace(slot)
                cause = exc.cause if isinstance(exc.cause, GodelError) else None
                if cause is not None:
                    raise SandboxError(f"{self.where}: {cause.message}", hint=cause.hint) from exc
                raise SandboxError(f"{self.where}: an evaluation slot failed to start: {exc}") from exc
            except (ray.exceptions.RayError, ConnectionError) as exc:
                self._replace(slot)
                raise _InfraFailure(f"an evaluation slot died while starting: {_short(exc)}") from exc
            self._idle.append(slot)

    def _check_cluster(self) -> None:
        if self.cluster is not None and not self.cluster.alive():
            raise SandboxError(
                f"the {self.where} has stopped; its log ends with:\n{self.cluster.log_tail(800)}",
                hint="check memory and /tmp space on this machine, then resume the run",
            )
        if not answers(self._endpoint):
            raise _InfraFailure(f"the cluster does not answer on {self._endpoint}")

    def _acquire(self) -> _Slot:
        deadline = time.monotonic() + self.start_timeout
        next_probe = time.monotonic() + PROBE_SECONDS
        with self._lock:
            while True:
                if self._closed:
                    raise SandboxError(f"the Ray executor for {self.where} is closed")
                self._poll_pending()
                if self._idle:
                    self._busy += 1
                    return self._idle.pop()
                # Waiting on busy slots is normal back-pressure; waiting only on slots that never come up is not.
                if self._busy == 0:
                    if time.monotonic() > next_probe:
                        self._check_cluster()
                        next_probe = time.monotonic() + PROBE_SECONDS
                    if time.monotonic() > deadline:
                        raise _InfraFailure(
                            f"no evaluation slot came up within {self.start_timeout:g}s "
                            f"(each asks for {self._options.get('num_cpus')} CPU"
                            f"{', ' + str(self._options['resources']) if 'resources' in self._options else ''})"
                        )
                self._lock.wait(0.01 if self._pending else 0.5)

    def _release(self, slot: _Slot, *, healthy: bool) -> None:
        with self._lock:
            self._busy -= 1
            if self._closed:
                self._chores.put(slot)
            elif healthy:
                self._idle.append(slot)
            else:
                self._replace(slot)
            self._lock.notify_all()

    # --- evaluation ---

    def _evaluate_once(self, program: Program, evaluator_file: str | None, label: str) -> Evaluation:
        import ray

        slot = self._acquire()
        healthy = False
        try:
            ref = slot.handle.evaluate.remote(program, evaluator_file, label)
            try:
                result = ray.get(ref, timeout=self.eval_timeout)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause
                if isinstance(cause, SandboxError):
                    raise _InfraFailure(f"the sandbox on a Ray worker failed: {cause}") from exc
                healthy = True  # the actor itself is fine; the bug is in the evaluation pipeline
                if isinstance(cause, GodelError):
                    raise cause from exc
                raise EvaluationError(f"evaluation on {self.where} raised {exc}") from exc
            except ray.exceptions.GetTimeoutError as exc:
                raise _InfraFailure(
                    f"no answer within {self.eval_timeout:g}s, far beyond the task's time limits"
                ) from exc
            except (ray.exceptions.RayError, ConnectionError) as exc:
                if self.cluster is None and not answers(self._endpoint):
                    raise _InfraFailure(
                        f"{_short(exc)}; the cluster does not answer on {self._endpoint}"
                    ) from exc
                raise _InfraFailure(_short(exc)) from exc
            healthy = True
        finally:
            self._release(slot, healthy=healthy)
        if not isinstance(result, Evaluation):
            raise EvaluationError(f"{self.where} returned {type(result).__name__}, not an Evaluation")
        return result

    def evaluate(self, program: Program, *, evaluator_file: str | None = None, label: str = "") -> Evaluation:
        retrying = self._retrying()
        try:
            return retrying(self._evaluate_once, program, evaluator_file, label)
        except _InfraFailure as exc:
            what = f"evaluation of {label}" if label else "an evaluation"
            raise SandboxError(
                f"{self.where}: {what} failed on the Ray infrastructure after "
                f"{self.retries + 1} attempt(s): {exc}",
                hint="check that the Ray cluster is up (`ray status`) and its nodes have the resources asked for",
            ) from exc

    # --- proposals ---

    def _propose_once(self, ctx: ProposalContext, rng_state: Any) -> Proposal:
        import ray

        slot = self._acquire()
        healthy = False
        try:
            ref = slot.handle.propose.remote(
                ctx.parent, ctx.iteration, ctx.inspirations, ctx.feedback, rng_state
            )
            try:
                result = ray.get(ref, timeout=self.eval_timeout)
            except ray.exceptions.RayTaskError as exc:
                healthy = True
                cause = exc.cause
                if isinstance(cause, GodelError):
                    raise cause from exc
                raise ProposalError(f"proposal on {self.where} raised {exc}") from exc
            except ray.exceptions.GetTimeoutError as exc:
                raise _InfraFailure(f"no proposal within {self.eval_timeout:g}s") from exc
            except (ray.exceptions.RayError, ConnectionError) as exc:
                raise _InfraFailure(_short(exc)) from exc
            healthy = True
        finally:
            self._release(slot, healthy=healthy)
        if not isinstance(result, Proposal):
            raise ProposalError(f"{self.where} returned {type(result).__name__}, not a Proposal")
        return result

    def proposer(self) -> Proposer | None:
        """With a proposer factory: a proposer whose proposals run on this executor's actors; else None."""
        return self._proposer

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        """Run the task's proposer on a Ray worker (``run.remote_proposals``); infrastructure failures are retried
        like evaluations, then raised as :class:`SandboxError`. Use it through :meth:`proposer`."""
        if self._factory_ref is None:
            raise ConfigError(
                f"the Ray executor for {self.where} was built without a proposer factory, so it runs no proposals",
                hint="pass proposer_factory= to make_executor (or RayExecutor) and propose through its proposer()",
            )
        state = rng.getstate()
        rng.random()  # the caller's generator moves on, as if the proposer had drawn from it
        retrying = self._retrying()
        try:
            return retrying(self._propose_once, ctx, state)
        except _InfraFailure as exc:
            raise SandboxError(
                f"{self.where}: a proposal failed on the Ray infrastructure after {self.retries + 1} attempt(s): {exc}",
                hint="check that the Ray cluster is up (`ray status`)",
            ) from exc

    def _retrying(self) -> tenacity.Retrying:
        """Retries for infrastructure failures only (a candidate's own failure comes back as a result)."""
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=tenacity.wait_exponential(multiplier=self.backoff_seconds, max=self.backoff_max_seconds),
            retry=tenacity.retry_if_exception_type(_InfraFailure),
            before_sleep=self._log_retry,
            reraise=True,
        )

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning("%s: attempt %d failed (%s); retrying", self.where, state.attempt_number, exc)

    def workers(self) -> list[dict[str, Any]]:
        """What each started slot reported: pid, node id, sandbox backend, the godel package it imports."""
        with self._lock:
            return [dict(s.info) for s in self._idle if s.info is not None]

    def close(self) -> None:
        """Stop the slots, disconnect, and stop the cluster if this executor started it. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            slots, self._idle, self._pending = self._idle + self._pending, [], []
            self._lock.notify_all()
        if self._connected:
            if self._maintainer is not None:
                for slot in slots:
                    self._chores.put(slot)
                self._chores.put(None)  # seen after the kills: the thread ends
                # Killing actors on a dead cluster can block: give up waiting, the daemon thread dies with us.
                self._maintainer.join(5.0 if answers(self._endpoint) else 0.0)
            self._connected = False
            disconnect()
        if self.cluster is not None:
            self.cluster.stop()


def _put_factory(factory: ProposerFactory) -> Any:
    """``factory`` in the object store, once for every actor; a factory Ray cannot pickle fails here, by name."""
    import ray

    try:
        return ray.put(factory)
    except Exception as exc:
        raise ConfigError(
            f"the proposer factory {factory!r} cannot be sent to Ray workers: {_short(exc)}",
            hint="pass a module-level function taking the task (Ray pickles it by reference)",
        ) from exc


def _eval_bound(task: Task) -> float:
    """The longest a healthy evaluation of ``task`` can take: every stage at its wall limit, every repeat."""
    ec = task.config.evaluator
    stages = max(len(task.stages), 1)
    walls = [
        ec.stage_timeouts[i] if i < len(ec.stage_timeouts) else ec.timeout_seconds for i in range(stages)
    ]
    return sum(walls) * ec.repeats


def _short(exc: BaseException, n: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= n else first[:n] + "..."
