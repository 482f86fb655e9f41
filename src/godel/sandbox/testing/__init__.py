"""The conformance suite every :class:`~godel.sandbox.Sandbox` backend must pass.

Two classes to subclass in a test module; a subclass defines ``make_sandbox()``, which builds a fresh sandbox each
time it is called (the suite closes every sandbox it builds).

- :class:`SandboxConformance`: the contract of ``Sandbox.run(Job) -> SandboxResult`` (files in the scratch
  directory, argv, the result channel on fd 3, every termination with a reason that names it, exit codes, wall/CPU/
  memory figures, several jobs at once, ``close()`` twice, a ``trusted`` that tells the truth). For a backend that
  contains nothing (``trusted`` is True: unsafe-subprocess).
- :class:`ContainedSandboxConformance`: the same plus containment: 51 hostile programs (:data:`CASES`), each
  checked from inside and from the host. For every backend whose ``trusted`` is False; the contract checks that
  such a backend is tested with this class.

::

    from godel.sandbox import ZygoteSandbox
    from godel.sandbox.testing import ContainedSandboxConformance

    class TestZygote(ContainedSandboxConformance):
        @classmethod
        def make_sandbox(cls):
            return ZygoteSandbox(slots=2, mode="fork")

Cases that take a second or more are marked ``slow``.
"""

from __future__ import annotations

from godel.sandbox.testing._cases import CASES, PRELUDE, Case
from godel.sandbox.testing._containment import (
    ContainedSandboxConformance,
    Host,
    make_host,
    process_tree,
    run_case,
)
from godel.sandbox.testing._contract import SandboxConformance

__all__ = [
    "CASES",
    "PRELUDE",
    "Case",
    "ContainedSandboxConformance",
    "Host",
    "SandboxConformance",
    "make_host",
    "process_tree",
    "run_case",
]
