"""``[agent]``: the self-improvement run (``godel self-improve``): the benchmark, its split and stages, and what
the agent may spend."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from godel.config._model import Strict

__all__ = ["AgentConfig"]


class AgentConfig(Strict):
    """``[agent]``: how a coding agent is scored and how it proposes its own children."""

    benchmark: Literal["humaneval"] = Field(
        "humaneval", description="the coding benchmark the agent is scored on"
    )
    dev_fraction: float = Field(
        0.5, gt=0, lt=1, description="share of the problems the agent may learn from; the rest only report"
    )
    split_seed: int = Field(0, description="seed of the fixed development/test split (recorded with the run)")
    stage_sizes: tuple[int, ...] = Field(
        (10, 50, 0),
        description="problems evaluated by each stage, cumulative; 0 = the whole development split",
    )
    stage_thresholds: tuple[float, ...] = Field(
        (0.0, 0.0),
        description="a child goes on to the next stage only with a pass rate above this (one per stage boundary)",
    )
    calls_per_problem: int = Field(4, ge=1, le=64, description="model calls the agent may make per problem")
    improve_calls: int = Field(4, ge=1, le=64, description="model calls one self-improvement step may make")
    max_tokens: int = Field(1024, ge=16, description="cap on the reply length of any brokered call")
    solve_seconds: float = Field(60.0, gt=0, description="wall time of one agent step (one job) on a problem")
    test_seconds: float = Field(10.0, gt=0, description="wall time of running one solution against its tests")
    failures_shown: int = Field(
        5, ge=0, le=50, description="development-split failures the parent reads when it improves itself"
    )
    self_modify: bool = Field(
        True, description="false (ablation): the seed agent proposes every child instead of its parent"
    )

    @model_validator(mode="after")
    def _check(self) -> AgentConfig:
        if not self.stage_sizes or any(n < 0 for n in self.stage_sizes):
            raise ValueError(
                "agent.stage_sizes needs one or more sizes >= 0 (0 = the whole development split)"
            )
        sized = [n for n in self.stage_sizes if n]
        if sized != sorted(sized) or (0 in self.stage_sizes and self.stage_sizes[-1] != 0):
            raise ValueError("agent.stage_sizes must grow, with 0 (everything) only last")
        if len(self.stage_thresholds) < len(self.stage_sizes) - 1:
            raise ValueError("agent.stage_thresholds needs one threshold per stage boundary")
        if any(not 0 <= t < 1 for t in self.stage_thresholds):
            raise ValueError("agent.stage_thresholds are pass rates in [0, 1)")
        return self
