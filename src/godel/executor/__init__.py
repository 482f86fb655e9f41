"""Executors: where evaluations run."""

from godel.executor._base import Executor
from godel.executor._factory import EXECUTORS, make_executor
from godel.executor._local import LocalExecutor

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "make_executor"]


def __getattr__(name: str) -> object:
    # RayExecutor is imported on first use so `import godel` does not pay for it (nor need Ray).
    if name == "RayExecutor":
        from godel.executor._ray import RayExecutor

        return RayExecutor
    raise AttributeError(f"module 'godel.executor' has no attribute {name!r}")
