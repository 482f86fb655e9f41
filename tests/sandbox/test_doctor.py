from __future__ import annotations

import pytest

from godel.errors import SandboxError
from godel.sandbox import LEVELS, SandboxConfig, SubprocessSandbox, ZygoteSandbox, make_sandbox, probe


def test_probe_reports_features_and_level() -> None:
    features = probe()
    for key in (
        "namespaces",
        "cgroup",
        "landlock_abi",
        "seccomp",
        "no_new_privs",
        "uid_drop",
        "level",
        "backend",
    ):
        assert key in features
    assert features["level"] in LEVELS
    # This project's machines and CI: root, cgroup v1 memory+pids, Landlock, seccomp.
    assert features["level"] == "full", features
    assert features["backend"] == "zygote"
    assert features["missing"] == []


def test_auto_picks_zygote() -> None:
    box = make_sandbox(SandboxConfig(backend="auto"), slots=1)
    try:
        assert isinstance(box, ZygoteSandbox) and box.name == "zygote"
    finally:
        box.close()


def test_exec_backend() -> None:
    box = make_sandbox(SandboxConfig(backend="exec"), slots=1)
    try:
        assert box.name == "exec" and not box.trusted
    finally:
        box.close()


def test_unsafe_needs_the_flag() -> None:
    with pytest.raises(SandboxError, match="allow-unsafe"):
        make_sandbox(SandboxConfig(backend="unsafe-subprocess"), slots=1)
    with pytest.warns(RuntimeWarning, match="WITHOUT a sandbox"):
        box = make_sandbox(SandboxConfig(backend="unsafe-subprocess", allow_unsafe=True), slots=1)
    assert isinstance(box, SubprocessSandbox) and box.trusted


def test_wasm_is_built_or_refused_clearly() -> None:
    try:
        box = make_sandbox(SandboxConfig(backend="wasm"), slots=1)
    except SandboxError as exc:
        assert "wasm" in str(exc)
    else:
        assert box.name == "wasm"
        box.close()
