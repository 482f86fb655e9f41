from __future__ import annotations

from pathlib import Path

import pytest

from godel.config import apply_overrides, load_config
from godel.errors import ConfigError


def test_defaults_without_file(tmp_path: Path) -> None:
    cfg = load_config(tmp_path)
    assert cfg.task.metric == "combined_score"
    assert cfg.selector.name == "dgm"
    assert cfg.selector.lambda_ == 10.0


def test_unknown_key_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "godel.toml").write_text("[run]\niteratons = 5\n")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path)
    assert "run.iteratons" in str(exc.value)
    assert "unknown key" in str(exc.value)


def test_bad_value_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "godel.toml").write_text("[run]\niterations = -1\n")
    with pytest.raises(ConfigError, match=r"run\.iterations"):
        load_config(tmp_path)


def test_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "godel.toml").write_text("[run\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(tmp_path)


def test_yaml_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "godel.yaml").write_text("run:\n  iterations: 7\nselector:\n  lambda: 3\n")
    cfg = load_config(
        tmp_path, ["run.seed=4", "proposer.kind=mutate"], {"run": {"parallel": 3, "seed": None}}
    )
    assert cfg.run.iterations == 7
    assert cfg.run.seed == 4
    assert cfg.run.parallel == 3
    assert cfg.selector.lambda_ == 3
    assert cfg.proposer.kind == "mutate"


def test_override_syntax() -> None:
    assert apply_overrides({}, ["a.b=1", "a.c='x'", "d.e=true"]) == {
        "a": {"b": 1, "c": "x"},
        "d": {"e": True},
    }
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        apply_overrides({}, ["nonsense"])
