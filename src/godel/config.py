"""Typed, validated run configuration.

Read from the task's ``godel.toml`` (or ``godel.yaml``), then overridden by the command line. Unknown keys and bad
values fail at start with a message that names the field and the fix (:func:`load_config`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from godel._model import Strict
from godel.errors import ConfigError
from godel.guard._config import GuardConfig
from godel.llm._config import LLMConfig, ModelConfig
from godel.sandbox._config import SandboxConfig

__all__ = [
    "Config",
    "EvaluatorConfig",
    "GuardConfig",
    "LLMConfig",
    "ModelConfig",
    "ProposerConfig",
    "RunConfig",
    "SandboxConfig",
    "SelectorConfig",
    "TaskConfig",
    "apply_overrides",
    "load_config",
]

CONFIG_NAMES = ("godel.toml", "godel.yaml", "godel.yml")


class TaskConfig(Strict):
    """``[task]``: where the program and evaluator are, and what fitness is."""

    name: str | None = Field(None, description="default: the task folder's name")
    program: str | None = Field(
        None, description="file with EVOLVE-BLOCKs, or a folder; default initial_program.py"
    )
    evaluator: str = Field("evaluator.py", description="file with evaluate(program_path) -> dict")
    fixed: tuple[str, ...] = Field((), description="files of a folder program that must not change")
    metric: str = Field("combined_score", description="the fitness key (mean of all metrics when absent)")
    maximize: bool = Field(True, description="false: lower metric is better")


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
    reject_duplicates: bool = Field(
        True, description="reject a proposal whose code equals an earlier candidate's"
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


class SelectorConfig(Strict):
    """``[selector]``: parent selection."""

    name: Literal["dgm", "fitness", "tournament", "greedy", "best-of-n"] = Field(
        "dgm", description="dgm: p ~ sigmoid(lambda*(score-alpha)) / (1+children); best-of-n: always the seed"
    )
    lambda_: float = Field(10.0, gt=0, alias="lambda", description="DGM sigmoid steepness")
    alpha: float = Field(0.5, description="DGM sigmoid midpoint (on normalised scores)")
    normalize: Literal["auto", "none", "mad"] = Field(
        "auto", description="auto: median/MAD normalisation when scores leave [0, 1]"
    )
    tournament_size: int = Field(3, ge=1, description="entrants per tournament")
    temperature: float = Field(1.0, gt=0, description="fitness-proportional softmax temperature")


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

    @model_validator(mode="after")
    def _check(self) -> Config:
        if self.evaluator.stage_timeouts and any(t <= 0 for t in self.evaluator.stage_timeouts):
            raise ValueError("evaluator.stage_timeouts must all be > 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def _format_validation(exc: ValidationError, source: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; `godel init` writes a commented example)"
        parts.append(f"{loc}: {msg}")
    return f"invalid configuration in {source}: " + "; ".join(parts)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        if path.suffix == ".toml":
            with path.open("rb") as fh:
                data: Any = tomllib.load(fh)
        else:
            data = yaml.safe_load(path.read_text()) or {}
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"cannot parse {path}: {exc}", hint="fix the syntax error at the position shown"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must contain a table of sections, got {type(data).__name__}")
    return data


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as TOML, else taken as strings)."""
    out: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"override {item!r} is not of the form section.key=value", hint="e.g. run.seed=3"
            )
        key, _, raw = item.partition("=")
        path = key.strip().split(".")
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
            node = child
        node[path[-1]] = _parse_value(raw.strip())
    return out


def find_config_file(task_dir: Path) -> Path | None:
    for name in CONFIG_NAMES:
        p = task_dir / name
        if p.is_file():
            return p
    return None


def load_config(
    task_dir: Path | None = None, overrides: Sequence[str] = (), extra: Mapping[str, Any] | None = None
) -> Config:
    """Load ``godel.toml``/``godel.yaml`` from ``task_dir`` (defaults when absent), then apply overrides.

    ``extra`` is a nested mapping of values from dedicated CLI flags, applied last.
    """
    data: dict[str, Any] = {}
    source = "defaults"
    if task_dir is not None:
        path = find_config_file(task_dir)
        if path is not None:
            data = _read_file(path)
            source = str(path)
    data = apply_overrides(data, overrides)
    for section, values in (extra or {}).items():
        if isinstance(values, Mapping):
            merged = dict(data.get(section, {}))
            merged.update({k: v for k, v in values.items() if v is not None})
            data[section] = merged
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, source)) from exc


def reference_markdown() -> str:
    """A Markdown table of every configuration key with its default and meaning (docs/config.md embeds it)."""
    import json

    lines: list[str] = []

    def walk(model: type[Strict], prefix: str) -> None:
        for name, info in model.model_fields.items():
            key = info.alias or name
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, Strict):
                lines.extend(["", f"### `[{key}]`", "", "| key | default | meaning |", "| --- | --- | --- |"])
                walk(ann, key)
                continue
            args = getattr(ann, "__args__", ())
            if args and isinstance(args[0], type) and issubclass(args[0], Strict):
                nested.append((f"{prefix}.{key}", args[0]))
            try:
                default = json.dumps(info.default)
            except TypeError:
                default = repr(info.default)
            desc = (info.description or "").replace("|", "\\|")
            lines.append(f"| `{prefix}.{key}` | `{default}` | {desc} |")

    nested: list[tuple[str, type[Strict]]] = []
    walk(Config, "")
    for key, model in nested:
        lines.extend(
            ["", f"### `[[{key}]]` (each entry)", "", "| key | default | meaning |", "| --- | --- | --- |"]
        )
        walk(model, key)
    return "\n".join(lines).strip() + "\n"
