"""The ``godel`` command line.

Every read command takes ``--json`` and then prints exactly one JSON document on stdout. Errors print one line on
stderr naming the cause and the fix. The exit code is part of the interface: 0 done, 1 no valid candidate or the
infrastructure was down, 2 a user error (bad task, configuration, argument), 3 a broken audit trail, 130
interrupted.

The commands live in the modules of this package (``_run``: init/evolve/worker/try; ``_read``: status/best/show/
lineage; ``_guard``, ``_events``, ``_dashboard``: the guard's, the event stream's and the dashboard's); building a
run's parts is :mod:`godel.parts`' job, never a command's.
"""

from __future__ import annotations

import sys

import click
import typer

# isort: off
from godel.cli import _run  # its commands come first in --help
from godel.cli import _read

# isort: on
from godel.cli._app import app
from godel.cli._common import err, open_existing
from godel.errors import GodelError
from godel.redact import redact

__all__ = ["app", "main"]

_COMMAND_MODULES = (_run, _read)  # imported for the commands they add to ``app``


def _register_extensions() -> None:
    """Commands written as ``register(app, open_archive)`` functions (so tests can mount them on an app of their
    own)."""
    from godel.cli._dashboard import register as register_dashboard
    from godel.cli._events import register as register_events
    from godel.cli._guard import register as register_guard
    from godel.cli._sandbox import register as register_sandbox

    register_guard(app, open_existing)
    register_sandbox(app)
    register_events(app, open_existing)
    register_dashboard(app, open_existing)


def main() -> None:
    _register_extensions()
    try:
        code = app(standalone_mode=False)
    except GodelError as exc:
        err.print(f"[red]error:[/] {redact(str(exc))}", markup=True, highlight=False)
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
