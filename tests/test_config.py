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


# -- fuzz: any structure, any value, from the file or the command line: an error naming the field, never a crash ----

import json as _json  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from godel.config import Config  # noqa: E402
from godel.errors import GodelError  # noqa: E402

_SECTIONS = [*Config.model_fields, "bogus"]
_KEYS = st.sampled_from(
    ["iterations", "parallel", "seed", "name", "metric", "backend", "models", "kind", "x", "lambda"]
)
_SCALARS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20),
)
_VALUES = st.recursive(_SCALARS, lambda v: st.lists(v, max_size=3), max_leaves=5)


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return (
            repr(v)
            if not (isinstance(v, float) and v in (float("inf"), float("-inf")))
            else ("inf" if v > 0 else "-inf")
        )
    if isinstance(v, str):
        return _json.dumps(v)
    assert isinstance(v, list)
    return "[" + ", ".join(_toml_value(x) for x in v) + "]"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    doc=st.dictionaries(
        st.sampled_from(_SECTIONS),
        st.one_of(_VALUES, st.dictionaries(_KEYS, _VALUES, max_size=4)),
        max_size=4,
    ),
    sets=st.lists(st.tuples(st.sampled_from(_SECTIONS), _KEYS, _SCALARS), max_size=3),
)
def test_any_toml_and_any_override_fails_cleanly(
    tmp_path: _Path, doc: dict[str, object], sets: list[tuple[str, str, object]]
) -> None:
    lines = []
    for section, value in doc.items():
        if isinstance(value, dict):
            lines.append(f"[{section}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in value.items())
        else:
            lines.insert(0, f"{section} = {_toml_value(value)}")
    (tmp_path / "godel.toml").write_text("\n".join(lines) + "\n")
    overrides = [f"{s}.{k}={_toml_value(v)}" for s, k, v in sets]
    try:
        load_config(tmp_path, overrides, {"run": {"iterations": None}})
    except GodelError as exc:
        assert exc.user_error and str(exc).strip() and "\n" not in exc.message
