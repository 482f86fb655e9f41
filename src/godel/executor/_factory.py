"""Choosing an executor by name: ``local`` (this machine's sandbox slots) or ``ray``."""

from __future__ import annotations

from godel.config import SandboxConfig
from godel.errors import ConfigError
from godel.executor._base import Executor, ProposerFactory
from godel.executor._local import LocalExecutor
from godel.task import Task

__all__ = ["EXECUTORS", "make_executor"]

EXECUTORS = ("local", "ray")


def make_executor(
    name: str,
    task: Task,
    sandbox_config: SandboxConfig,
    slots: int,
    address: str | None = None,
    *,
    proposer_factory: ProposerFactory | None = None,
) -> Executor:
    """Build the executor ``name`` with ``slots`` evaluations in flight.

    ``address`` only applies to ``ray``: None starts a local Ray cluster, ``auto``/``host:port``/``ray://host:port``
    joins an existing one. ``proposer_factory`` builds the task's proposer where an executor runs proposals on its
    own workers (``ray``); its :meth:`~godel.executor.Executor.proposer` then returns a proposer doing so. The local
    executor runs no proposals of its own, so it ignores the factory and its ``proposer()`` is None.
    """
    if name == "local":
        if address is not None:
            raise ConfigError(
                f"--ray-address {address} given with the local executor",
                hint="add --executor ray, or drop it",
            )
        from godel.sandbox import make_sandbox

        return LocalExecutor(task, make_sandbox(sandbox_config, slots=slots))
    if name == "ray":
        from godel.executor._ray_pool import RayExecutor

        return RayExecutor(
            task, sandbox_config, slots=slots, address=address, proposer_factory=proposer_factory
        )
    raise ConfigError(f"unknown executor {name!r}", hint=f"choose one of: {', '.join(EXECUTORS)}")
