"""Running untrusted candidate code: the ``Sandbox`` interface and its backends.

- ``zygote`` (default): a fork-server per slot, each job in fresh namespaces with a private read-only root,
  a non-root uid, no capabilities, Landlock, seccomp, rlimits and a per-slot cgroup (:class:`ZygoteSandbox`).
- ``exec``: the same with a fresh ``python -I -S`` per job (``ZygoteSandbox(mode="exec")``).
- ``unsafe-subprocess``: no containment, only with ``allow_unsafe`` (:class:`SubprocessSandbox`).
- ``wasm``: CPython on WASI in wasmtime (needs the ``wasm`` extra, so only :func:`make_sandbox` builds it).

:func:`make_sandbox` builds one from ``[sandbox]`` settings (the one place that knows every backend),
:func:`probe` reports what this machine offers, :class:`FabricSandbox` schedules jobs over a sandbox's slots,
:func:`call_candidate` lets a trusted evaluator call a candidate's function across the sandbox, :func:`bench`
measures the backends. Every backend passes the conformance suite in :mod:`godel.sandbox.testing`.
"""

from __future__ import annotations

from godel.config import SandboxConfig
from godel.sandbox._base import RESULT_FD, Job, Limits, Sandbox, SandboxResult, Termination
from godel.sandbox._bench import BENCH_BACKENDS, bench, format_bench
from godel.sandbox._call import CandidateCallError, call_candidate
from godel.sandbox._doctor import LEVELS, MINIMUM_LEVEL, probe
from godel.sandbox._fabric import FabricSandbox
from godel.sandbox._factory import choose_backend, make_sandbox
from godel.sandbox._subprocess import SubprocessSandbox
from godel.sandbox._zygote import ZygoteSandbox

__all__ = [
    "BENCH_BACKENDS",
    "LEVELS",
    "MINIMUM_LEVEL",
    "RESULT_FD",
    "CandidateCallError",
    "FabricSandbox",
    "Job",
    "Limits",
    "Sandbox",
    "SandboxConfig",
    "SandboxResult",
    "SubprocessSandbox",
    "Termination",
    "ZygoteSandbox",
    "bench",
    "call_candidate",
    "choose_backend",
    "format_bench",
    "make_sandbox",
    "probe",
]
