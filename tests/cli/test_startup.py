"""What every invocation of the CLI pays before it does anything: loading the commands imports none of the heavy
parts (issue 14: `godel --help` and the read commands within 0.3 s), and a usage error is one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = (
    "sqlalchemy",
    "alembic",
    "openai",
    "numpy",
    "cryptography",
    "godel.engine",
    "godel.guard",
    "godel.sandbox",
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    return env


def test_loading_the_commands_imports_none_of_the_heavy_parts() -> None:
    code = (
        f"import sys, godel.cli; godel.cli._load(); print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_lists_the_commands_without_loading_them() -> None:
    code = (
        "import sys, runpy; sys.argv = ['godel', '--help']\n"
        "try:\n    runpy.run_module('godel', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True)
    assert "evolve" in out.stdout and "status" in out.stdout
    assert out.stdout.rstrip().endswith("LOADED")


def test_a_bad_option_is_one_line_and_exit_2() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "godel", "status", "--no-such-option"],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "No such option: --no-such-option" in out.stderr and "Traceback" not in out.stderr


def test_status_json_answers_without_typer_and_prints_what_the_command_prints(tmp_path: Path) -> None:
    from godel.archive import SQLArchive
    from godel.archive.testing import make_candidate
    from godel.candidate import Status

    url = f"sqlite:///{tmp_path}/a.db"
    with SQLArchive(url) as a:
        run = a.create_run("only", "task", {})
        a.add_candidates([make_candidate(run.id, i, status=Status.OK, score=i / 10) for i in range(5)])
    probe = (
        "import sys, godel.cli as c; args = sys.argv[1:]; handled = c._status_json(args); "
        "print('TYPER' if 'typer' in sys.modules else 'NO-TYPER', handled, file=sys.stderr)"
    )
    fast = subprocess.run(
        [sys.executable, "-c", probe, "status", "--run=only", "--json", "--storage", url],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert fast.stderr.split() == ["NO-TYPER", "True"]
    # The same command through Typer (--tiers is not one the shortcut takes) prints the same document plus tiers.
    full = subprocess.run(
        [sys.executable, "-m", "godel", "status", "--json", "--tiers", "--run", "only", "--storage", url],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    doc = json.loads(full.stdout)
    doc.pop("tiers")
    assert json.loads(fast.stdout) == doc
    for args in (
        ["status", "--json", "--tiers"],
        ["status", "--json", "--json"],
        ["status", "--run", "--json"],
    ):
        refused = subprocess.run(
            [sys.executable, "-c", probe, *args], env=_env(), capture_output=True, text=True, check=True
        )
        assert refused.stderr.split()[-1] == "False" and refused.stdout == ""
