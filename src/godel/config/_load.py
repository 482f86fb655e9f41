"""Reading ``godel.toml`` (or ``godel.yaml``) and command-line overrides into a validated :class:`Config`.

Unknown keys and bad values fail at start with a message that names the field and the fix.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from godel.config._model import Strict
from godel.config._run import Config
from godel.errors import ConfigError

__all__ = ["CONFIG_NAMES", "apply_overrides", "find_config_file", "load_config", "reference_markdown"]

CONFIG_NAMES = ("godel.toml", "godel.yaml", "godel.yml")


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
    # The file alone first, so that what is wrong in it is blamed on it, and what the command line adds on that.
    _validate(data, source)
    given = bool(overrides) or any(
        isinstance(v, Mapping) and any(x is not None for x in v.values()) for v in (extra or {}).values()
    )
    data = apply_overrides(data, overrides)
    for section, values in (extra or {}).items():
        if isinstance(values, Mapping):
            merged = dict(data.get(section, {}))
            merged.update({k: v for k, v in values.items() if v is not None})
            data[section] = merged
    return _validate(data, "the command line (--set and options)" if given else source)


def _validate(data: Mapping[str, Any], source: str) -> Config:
    for section, value in data.items():
        if section in Config.model_fields and not isinstance(value, Mapping):
            raise ConfigError(
                f"invalid configuration in {source}: [{section}] must be a table of settings, "
                f"got {type(value).__name__} {value!r}"[:300],
                hint=f"write it as a section: [{section}] followed by key = value lines (`godel init` shows one)",
            )
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
