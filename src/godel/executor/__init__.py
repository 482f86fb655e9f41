"""Executors: where evaluations run (``local``: this machine's sandbox slots; ``ray``: a Ray cluster)."""

from godel.executor._base import Executor, RemoteProposer
from godel.executor._factory import EXECUTORS, make_executor
from godel.executor._local import LocalExecutor
from godel.executor._ray_cluster import LocalRayCluster  # these import Ray itself only when one is started
from godel.executor._ray_pool import RayExecutor

__all__ = [
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "LocalRayCluster",
    "RayExecutor",
    "RemoteProposer",
    "make_executor",
]
