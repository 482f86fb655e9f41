from __future__ import annotations

from pydantic import Field

from godel._model import Strict

__all__ = ["GuardConfig"]


class GuardConfig(Strict):
    """``[guard]`` in godel.toml."""

    enabled: bool = True
    constitution: str | None = Field(None, description="path to the constitution YAML, relative to the task")
