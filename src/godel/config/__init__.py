"""Typed, validated configuration: the models of every ``godel.toml`` section, and loading them.

A leaf package: it imports nothing of godel's but :mod:`godel.errors`, so every other package can depend on it.
Read from the task's ``godel.toml`` (or ``godel.yaml``), then overridden by the command line; unknown keys and bad
values fail at start with a message that names the field and the fix (:func:`load_config`).
"""

from godel.config._agent import AgentConfig
from godel.config._guard import GuardConfig
from godel.config._learn import LearnConfig
from godel.config._llm import LLMConfig, ModelConfig
from godel.config._load import (
    CONFIG_NAMES,
    apply_overrides,
    find_config_file,
    load_config,
    reference_markdown,
)
from godel.config._model import Strict
from godel.config._run import (
    Config,
    EvaluatorConfig,
    ProposerConfig,
    RunConfig,
    SelectorConfig,
    TaskConfig,
    noise_samples,
)
from godel.config._sandbox import SandboxConfig
from godel.config._tests import TestsConfig

__all__ = [
    "CONFIG_NAMES",
    "AgentConfig",
    "Config",
    "EvaluatorConfig",
    "GuardConfig",
    "LLMConfig",
    "LearnConfig",
    "ModelConfig",
    "ProposerConfig",
    "RunConfig",
    "SandboxConfig",
    "SelectorConfig",
    "Strict",
    "TaskConfig",
    "TestsConfig",
    "apply_overrides",
    "find_config_file",
    "load_config",
    "noise_samples",
    "reference_markdown",
]
