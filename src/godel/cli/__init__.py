"""The ``godel`` command line.

Every read command takes ``--json`` and then prints exactly one JSON document on stdout. Errors print one line on
stderr naming the cause and the fix. The exit code is part of the interface: 0 done, 1 no valid candidate or the
infrastructure was down, 2 a user error (bad task, configuration, argument), 3 a broken audit trail, 130
interrupted.

The commands live in the modules of this package (``_run``: init/evolve/worker/try; ``_read``: status/best/show/
lineage; ``_guard``, ``_events``, ``_dashboard``: the guard's, the event stream's and the dashboard's; ``_tests``:
``godel tests``, over the pytest plugin's records); building a
run's parts is :mod:`godel.parts`' job, never a command's.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["app", "main"]

# Imported by main(), not here: the console script imports this package first, and a Ctrl-C that lands while the
# commands load must still end with exit code 130 and one line, not a traceback.
_COMMAND_MODULES = ("_run", "_agent", "_read")  # in this order: the run commands come first in --help
_EXTENSIONS = (
    "_guard",
    "_sandbox",
    "_events",
    "_dashboard",
    "_tests",
)  # register(app[, open_archive]) functions
_NO_ARCHIVE = frozenset({"_sandbox", "_tests"})  # their commands never open an archive


_loaded: list[Any] = []


def _load() -> Any:
    """The Typer app with every command on it (registered once)."""
    if _loaded:
        return _loaded[0]
    from godel.cli._app import app
    from godel.cli._common import open_existing

    for name in _COMMAND_MODULES:
        importlib.import_module(f"godel.cli.{name}")
    for name in _EXTENSIONS:
        register = importlib.import_module(f"godel.cli.{name}").register
        if name in _NO_ARCHIVE:
            register(app)
        else:
            register(app, open_existing)
    _loaded.append(app)
    return app


def __getattr__(name: str) -> Any:
    # ``godel.cli.app``: the app with its commands (for tools that want the Click/Typer object).
    if name == "app":
        return _load()
    raise AttributeError(f"module 'godel.cli' has no attribute {name!r}")


def main() -> None:
    try:
        if not _status_json(sys.argv[1:]):
            _main()
    except KeyboardInterrupt:
        sys.stderr.write("aborted\n")
        sys.exit(130)


def _status_json(args: list[str]) -> bool:
    """``godel status --json [--storage URL] [--run RUN]`` answered without Typer, when the archive is a SQLite
    file :func:`godel.archive.quick_status` can read; False (nothing printed) for anything else.

    What a poller (a script, a dashboard, a monitoring loop) calls every few seconds: Typer's parameter handling
    alone (it builds Pydantic validators for every option) costs ~0.2 s of CPU per call, three times the answer.
    Any other spelling, option or outcome goes through the full command, which prints the same document.
    """
    if not args or args[0] != "status" or "--json" not in args:
        return False
    values: dict[str, str | None] = {"--storage": None, "--run": None}
    rest = [a for a in args[1:] if a != "--json"]
    if len(args) - len(rest) != 2:  # --json given twice: Click's business
        return False
    while rest:
        flag, sep, value = rest.pop(0).partition("=")
        if flag not in values or values[flag] is not None:
            return False
        if not sep:
            if not rest:
                return False
            value = rest.pop(0)
        if not value or value.startswith("-"):
            return False
        values[flag] = value
    import json

    from godel._storage import storage_url
    from godel.archive import quick_status
    from godel.redact import redact_obj

    doc = quick_status(storage_url(values["--storage"]), values["--run"])
    if doc is None:
        return False
    # As emit_json prints it (godel.cli._common), without importing the console machinery it lives beside.
    sys.stdout.write(json.dumps(redact_obj(doc), indent=2, default=str) + "\n")
    return True


def _main() -> None:
    import typer

    try:
        # Typer 0.2x carries its own copy of Click and raises that copy's exceptions: catching the `click`
        # package's class missed every usage error (a bad option printed a traceback), and importing it cost
        # ~0.1 s of start-up besides.
        from typer._click.exceptions import ClickException
    except ImportError:  # a Typer that uses the click package
        from click import ClickException  # type: ignore[assignment]
    from godel.cli._common import err
    from godel.errors import GodelError
    from godel.redact import redact

    app = _load()
    try:
        code = app(standalone_mode=False)
    except GodelError as exc:
        from rich.markup import escape  # only to print an error: ~20 ms of every start-up otherwise

        # The message is the user's text as much as ours (paths, config keys like [run]): never read as markup.
        err.print(f"[red]error:[/] {escape(redact(str(exc)))}", markup=True, highlight=False)
        sys.exit(2 if exc.user_error else 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    # Without standalone mode Click returns a command's ``typer.Exit(code)`` as the value instead of exiting.
    sys.exit(code if isinstance(code, int) else 0)
