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
        _main()
    except KeyboardInterrupt:
        sys.stderr.write("aborted\n")
        sys.exit(130)


def _main() -> None:
    import click
    import typer
    from rich.markup import escape

    from godel.cli._common import err
    from godel.errors import GodelError
    from godel.redact import redact

    app = _load()
    try:
        code = app(standalone_mode=False)
    except GodelError as exc:
        # The message is the user's text as much as ours (paths, config keys like [run]): never read as markup.
        err.print(f"[red]error:[/] {escape(redact(str(exc)))}", markup=True, highlight=False)
        sys.exit(2 if exc.user_error else 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    # Without standalone mode Click returns a command's ``typer.Exit(code)`` as the value instead of exiting.
    sys.exit(code if isinstance(code, int) else 0)
