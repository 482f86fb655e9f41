"""``[sandbox]``: which backend runs candidates, and its limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from godel.config._model import Strict

__all__ = ["SandboxConfig"]


class SandboxConfig(Strict):
    """``[sandbox]`` in godel.toml."""

    backend: Literal["auto", "zygote", "exec", "wasm", "unsafe-subprocess"] = Field(
        "auto", description="auto: zygote when `godel doctor` finds the isolation it needs, else refuse"
    )
    allow_unsafe: bool = Field(False, description="permit running candidates without containment")
    memory_mb: int = Field(1024, ge=16, description="total memory of everything a candidate starts, MB")
    max_processes: int = Field(32, ge=1, description="processes and threads a candidate may have at once")
    output_bytes: int = Field(1_000_000, ge=1024, description="stdout + stderr cap")
    disk_mb: int = Field(64, ge=1, description="scratch space (tmpfs) per candidate, MB")
