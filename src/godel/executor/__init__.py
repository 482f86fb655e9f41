"""Executors: where evaluations run."""

from godel.executor._base import Executor
from godel.executor._local import LocalExecutor

__all__ = ["Executor", "LocalExecutor"]
