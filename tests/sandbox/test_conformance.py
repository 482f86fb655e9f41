"""The sandbox conformance suite against every backend and mode: real namespaces, a real WASI guest, real processes."""

from __future__ import annotations

from collections.abc import Set

from godel.sandbox import FabricSandbox, Sandbox, SubprocessSandbox, ZygoteSandbox
from godel.sandbox._wasm import WasmSandbox
from godel.sandbox.testing import ContainedSandboxConformance, SandboxConformance
from tests.sandbox.conftest import live_processes


def _uids(box: Sandbox) -> list[int]:
    inner = box.inner if isinstance(box, FabricSandbox) else box
    assert isinstance(inner, ZygoteSandbox)
    return inner.uids


class _ZygoteConformance(ContainedSandboxConformance):
    def leftover_processes(self, box: Sandbox, before: Set[int]) -> list[tuple[int, str]]:
        # Stronger than the default: a job's processes run as its slot's uid, wherever they moved in the tree.
        return live_processes(_uids(box))


class TestZygote(_ZygoteConformance):
    @classmethod
    def make_sandbox(cls) -> Sandbox:
        return ZygoteSandbox(slots=2, mode="fork")


class TestExec(_ZygoteConformance):
    @classmethod
    def make_sandbox(cls) -> Sandbox:
        return ZygoteSandbox(slots=1, mode="exec")


class TestFabric(_ZygoteConformance):
    """The execution fabric in front of the zygote's slots, as ``godel evolve`` runs candidates."""

    @classmethod
    def make_sandbox(cls) -> Sandbox:
        return FabricSandbox(ZygoteSandbox(slots=2, mode="fork"), 2)


class TestWasm(ContainedSandboxConformance):
    """Needs the ``wasm`` extra; without it these fail rather than skip (the first run compiles the module, ~20-30 s,
    once per machine)."""

    native = False  # WASI preview 1: no signals, no processes, no native extensions

    @classmethod
    def make_sandbox(cls) -> Sandbox:
        return WasmSandbox(slots=2)


class TestUnsafeSubprocess(SandboxConformance):
    """Contains nothing (``trusted`` is True): the contract only."""

    @classmethod
    def make_sandbox(cls) -> Sandbox:
        return SubprocessSandbox()
