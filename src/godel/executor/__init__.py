"""Executors: where evaluations run (``local``: this machine's sandbox slots; ``ray``: a Ray cluster).

Importing this package never imports Ray: the Ray executor and the local cluster import it when one is built.
:mod:`godel.executor.testing` holds the conformance suite every executor passes and a scripted fake for tests.
"""

from godel.executor._base import Executor, ProposalRunner, ProposerFactory, RemoteProposer
from godel.executor._factory import EXECUTORS, make_executor
from godel.executor._local import LocalExecutor
from godel.executor._ray_cluster import LocalRayCluster
from godel.executor._ray_pool import RayExecutor

__all__ = [
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "LocalRayCluster",
    "ProposalRunner",
    "ProposerFactory",
    "RayExecutor",
    "RemoteProposer",
    "make_executor",
]
