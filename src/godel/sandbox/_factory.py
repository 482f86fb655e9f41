"""Building a sandbox from ``[sandbox]`` settings: the one module that knows every backend.

``auto`` takes the zygote when :func:`~godel.sandbox._doctor.probe` finds the minimum isolation level, else refuses
(or, with ``allow_unsafe``, runs unsafe-subprocess and says so loudly). A named backend is built as asked, with the
same refusal for ``zygote``/``exec`` on a machine that cannot contain them.
"""

from __future__ import annotations

import warnings

from godel.config import SandboxConfig
from godel.errors import SandboxError
from godel.sandbox._base import Sandbox
from godel.sandbox._doctor import probe, refusal
from godel.sandbox._subprocess import SubprocessSandbox
from godel.sandbox._zygote import ZygoteSandbox

__all__ = ["BACKENDS", "choose_backend", "make_sandbox"]

BACKENDS = ("auto", "zygote", "exec", "wasm", "unsafe-subprocess")


def _unsafe(config: SandboxConfig) -> Sandbox:
    if not config.allow_unsafe:
        raise SandboxError(
            "unsafe-subprocess runs candidates without containment and needs an explicit opt-in",
            hint="pass --allow-unsafe or set sandbox.allow_unsafe = true",
        )
    warnings.warn(
        "godel is running candidate code WITHOUT a sandbox (unsafe-subprocess): it can read your files, keys "
        "and network",
        RuntimeWarning,
        stacklevel=3,
    )
    return SubprocessSandbox()


def _wasm(slots: int) -> Sandbox:
    # Imported here: wasmtime comes with the optional ``wasm`` extra, and only this backend needs it.
    try:
        from godel.sandbox._wasm import WasmSandbox
    except ImportError as exc:
        raise SandboxError(
            f"the wasm backend is not available: {type(exc).__name__}: {exc}",
            hint="pip install 'godel[wasm]' (wasmtime and the CPython WASI build), or choose backend 'zygote'",
        ) from exc
    return WasmSandbox(slots=slots)


def choose_backend(config: SandboxConfig, slots: int = 2) -> Sandbox:
    """``backend = "auto"``: the zygote when this machine reaches the minimum level, else refuse (or run
    unsafe-subprocess when ``allow_unsafe`` is set)."""
    features = probe()
    if features["level"] != "none":
        return ZygoteSandbox(slots, "fork")
    if config.allow_unsafe:
        return _unsafe(config)
    raise refusal(features)


def make_sandbox(config: SandboxConfig, slots: int = 2) -> Sandbox:
    """Build the sandbox named by ``config.backend`` with ``slots`` parallel slots."""
    name = config.backend
    if name == "auto":
        return choose_backend(config, slots)
    if name == "unsafe-subprocess":
        return _unsafe(config)
    if name in ("zygote", "exec"):
        features = probe()
        if features["level"] == "none":
            raise refusal(features)
        return ZygoteSandbox(slots, "fork" if name == "zygote" else "exec")
    if name == "wasm":
        return _wasm(slots)
    raise SandboxError(f"unknown sandbox backend {name!r}", hint=f"use one of {', '.join(BACKENDS)}")
