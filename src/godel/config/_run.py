"""The run configuration: one model per section of ``godel.toml``."""

from __future__ import annotations

from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import Field, field_validator, model_validator

from godel.config._agent import AgentConfig
from godel.config._guard import GuardConfig
from godel.config._learn import LearnConfig
from godel.config._llm import LLMConfig
from godel.config._model import Strict
from godel.config._sandbox import SandboxConfig
from godel.config._tests import TestsConfig

__all__ = [
    "Config",
    "EvaluatorConfig",
    "ProposerConfig",
    "RunConfig",
    "SelectorConfig",
    "TaskConfig",
    "noise_samples",
]


class TaskConfig(Strict):
    """``[task]``: where the program and evaluator are, and what fitness is."""

    name: str | None = Field(None, description="default: the task folder's name")
    program: str | None = Field(
        None, description="file with EVOLVE-BLOCKs, or a folder; default initial_program.py"
    )
    evaluator: str = Field("evaluator.py", description="file with evaluate(program_path) -> dict")
    fixed: tuple[str, ...] = Field((), description="files of a folder program that must not change")
    metric: str = Field(
        "combined_score",
        description="the fitness key (when absent: the mean of all metrics, and godel says so)",
    )
    maximize: bool = Field(True, description="false: lower metric is better")
    requires: tuple[str, ...] = Field(
        (),
        description='packages the evaluator needs, e.g. ["scipy>=1.10"]; checked at start, with requirements.txt',
    )

    @field_validator("requires")
    @classmethod
    def _requirements(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                Requirement(item)
            except InvalidRequirement as exc:
                raise ValueError(f"{item!r} is not a requirement like 'scipy>=1.10': {exc}") from exc
        return value


class RunConfig(Strict):
    """``[run]``: budgets, parallelism, reproducibility."""

    iterations: int = Field(40, ge=0, description="number of proposals after the seed")
    seed: int = Field(0, description="runs with the same seed (and a deterministic proposer) are identical")
    max_wall_seconds: float | None = Field(None, gt=0, description="stop proposing after this long")
    max_tokens: int | None = Field(None, gt=0, description="stop proposing after this many LLM tokens")
    max_cost: float | None = Field(None, gt=0, description="stop proposing after this LLM cost (USD)")
    parallel: int = Field(2, ge=1, le=256, description="candidates in flight: M evaluations at once")
    proposals_in_flight: int | None = Field(
        None, ge=1, description="N proposals (model calls) at once, at most `parallel`; default: parallel"
    )
    noise_samples: int | None = Field(
        None,
        ge=0,
        le=50,
        description="extra evaluations of the seed at the start that measure the evaluator's noise; "
        "default: from the budget (iterations // 10, between 2 and 5); 0: none (every difference counts)",
    )
    acceptance_sigma: float = Field(
        2.0, gt=0, description="a candidate becomes best only this many standard errors above the best"
    )
    acceptance_threshold: float = Field(
        0.0, ge=0, description="and only with at least this relative gain over the best (0.01: 1%)"
    )
    race_evaluations: int = Field(
        4,
        ge=0,
        le=100,
        description="extra evaluations a near-tie may spend (both sides, side by side) to decide",
    )
    reject_duplicates: bool = Field(
        True, description="reject a proposal whose code equals an earlier candidate's"
    )
    same_code: Literal["syntax", "text"] = Field(
        "syntax",
        description="syntax: programs with the same syntax tree are the same code (whitespace, comments and "
        "formatting do not make a new candidate); text: only identical text is (for evaluators that score the source)",
    )
    storage: str | None = Field(
        None, description="archive URL; default sqlite:///godel.db in the working directory"
    )
    executor: Literal["local", "ray"] = Field("local", description="where evaluations run")
    remote_proposals: bool = Field(
        False, description="with executor = ray: generate proposals on the Ray workers too"
    )
    ray_address: str | None = Field(
        None, description="Ray cluster to join (auto, host:port); default: start a local one"
    )


def noise_samples(run: RunConfig) -> int:
    """How many extra evaluations of the seed measure the noise: the setting, else from the budget."""
    if run.noise_samples is not None:
        return run.noise_samples
    return max(2, min(5, run.iterations // 10))


class SelectorConfig(Strict):
    """``[selector]``: parent selection."""

    name: Literal["dgm", "fitness", "tournament", "greedy", "best-of-n", "islands", "map-elites"] = Field(
        "dgm",
        description="dgm: p ~ sigmoid(lambda*(score-alpha)) / (1+children); best-of-n: always the seed; "
        "islands: tournaments within ring-connected sub-populations; map-elites: a uniform cell's elite",
    )
    lambda_: float = Field(10.0, gt=0, alias="lambda", description="DGM sigmoid steepness")
    alpha: float = Field(0.5, description="DGM sigmoid midpoint (on normalised scores)")
    normalize: Literal["auto", "none", "mad"] = Field(
        "auto", description="auto: median/MAD normalisation when scores leave [0, 1]"
    )
    tournament_size: int = Field(3, ge=1, description="entrants per tournament")
    temperature: float = Field(1.0, gt=0, description="fitness-proportional softmax temperature")
    islands: int = Field(4, ge=1, le=64, description="islands: number of sub-populations")
    migration_interval: int = Field(
        10, ge=1, description="islands: observed candidates between migrations along the ring"
    )
    migration_rate: float = Field(
        0.1,
        gt=0,
        le=1,
        description="islands: share of an island's best sent to the next island (at least one)",
    )
    features: tuple[str, ...] = Field(
        ("code_length", "complexity"),
        min_length=1,
        max_length=3,
        description="map-elites: descriptors; code_length, complexity (syntax-tree nodes) or metric names",
    )
    feature_bin_width: float = Field(
        0.1, gt=0, description="map-elites: one bin per this relative change of a descriptor from the seed's"
    )
    feature_bins: int = Field(
        5,
        ge=1,
        le=50,
        description="map-elites: bins on each side of the seed's value (outliers share the last)",
    )


class ProposerConfig(Strict):
    """``[proposer]``: who proposes edits."""

    kind: Literal["llm", "mutate", "mix"] = Field(
        "mix", description="llm: the model; mutate: local AST mutations; mix: both, by llm_share"
    )
    llm_share: float = Field(
        0.5, ge=0, le=1, description="with kind=mix, the share of proposals the LLM makes"
    )
    edit_format: Literal["diff", "full", "auto"] = Field(
        "auto", description="diff: SEARCH/REPLACE edits; full: whole rewrites; auto: chosen per model"
    )
    inspirations: int = Field(1, ge=0, le=8, description="other good candidates shown in the prompt")
    strategies: int = Field(
        0,
        ge=0,
        le=8,
        description="earlier edits that improved similar code shown in the prompt (strategy memory)",
    )
    mutations_per_proposal: int = Field(2, ge=1, le=16, description="at most this many AST mutations at once")
    prompt_tokens: int = Field(1536, ge=256, description="token budget for the prompt")
    system_prompt: str | None = Field(
        None, description="path (relative to the task) of a system prompt template"
    )
    user_prompt: str | None = Field(None, description="path (relative to the task) of a user prompt template")


class EvaluatorConfig(Strict):
    """``[evaluator]``: cascade, repeats, timeouts."""

    timeout_seconds: float = Field(60.0, gt=0, description="per stage, unless stage_timeouts says otherwise")
    stage_timeouts: tuple[float, ...] = Field((), description="per-stage wall-clock limits, seconds")
    cascade_thresholds: tuple[float, ...] = Field(
        (), description="stage k's fitness must reach entry k to go on to stage k+1"
    )
    repeats: int = Field(1, ge=1, le=100, description="runs per stage; metrics are means, with <key>_std")
    artifact_chars: int = Field(4000, ge=0, description="artifact text kept per key")


class Config(Strict):
    task: TaskConfig = TaskConfig()
    run: RunConfig = RunConfig()
    selector: SelectorConfig = SelectorConfig()
    proposer: ProposerConfig = ProposerConfig()
    evaluator: EvaluatorConfig = EvaluatorConfig()
    sandbox: SandboxConfig = SandboxConfig()
    llm: LLMConfig = LLMConfig()
    guard: GuardConfig = GuardConfig()
    agent: AgentConfig = AgentConfig()
    learn: LearnConfig = LearnConfig()
    tests: TestsConfig = TestsConfig()

    @model_validator(mode="after")
    def _check(self) -> Config:
        if self.evaluator.stage_timeouts and any(t <= 0 for t in self.evaluator.stage_timeouts):
            raise ValueError("evaluator.stage_timeouts must all be > 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)
