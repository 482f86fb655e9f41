"""godel's own suite runs with godel's plugin, and the plugin stays cheap to load in anyone's suite."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest

from godel.pytest_plugin import PLUGIN_NAME, SessionPlugin
from tests.helpers import ROOT


def test_this_suite_runs_with_the_plugin(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin(PLUGIN_NAME)
    assert isinstance(plugin, SessionPlugin), (
        "godel's pytest plugin is not loaded: install godel (`./dev test` does, pip install -e .) so pytest finds "
        "its pytest11 entry point, or pass -p godel.pytest_plugin when running from a source tree"
    )
    # The suite's loopback servers, Ray and PostgreSQL work with the network off the machine blocked.
    assert plugin.guarded or plugin.settings.allow_net


def test_the_entry_point_is_declared() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    assert declared == {"godel": "godel.pytest_plugin"}  # `-p no:godel` names it


def test_loading_the_plugin_loads_nothing_heavy() -> None:
    code = "import sys, json, godel.pytest_plugin; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(proc.stdout))
    heavy = {
        "pytest",
        "numpy",
        "sqlalchemy",
        "pydantic",
        "typer",
        "rich",
        "coverage",
        "time_machine",
        "torch",
    }
    assert not loaded & heavy
    assert not {
        m
        for m in loaded
        if m.startswith("godel.") and m.split(".")[1] not in ("pytest_plugin", "errors", "redact")
    }
