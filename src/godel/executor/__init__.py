"""Executors: where evaluations run (``local``: this machine's sandbox slots; ``ray``: a Ray cluster)."""

from godel.executor._base import Executor, RemoteProposer
from godel.executor._factory import EXECUTORS, make_executor
from godel.executor._local import LocalExecutor
from godel.executor._ray import LocalRayCluster, RayExecutor  # imports Ray itself only when one is built

__all__ = [
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "LocalRayCluster",
    "RayExecutor",
    "RemoteProposer",
    "make_executor",
]
