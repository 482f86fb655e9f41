"""``godel tests events | candidates``: what godel's pytest plugin recorded, and which modules to test first."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from godel.cli._common import emit_json
from godel.errors import UsageError

__all__ = ["register"]

JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document")]


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def register(app: typer.Typer) -> None:
    tests_app = typer.Typer(
        help="Test suites: failures godel's pytest plugin recorded, modules to test first.",
        no_args_is_help=True,
    )
    app.add_typer(tests_app, name="tests")

    @tests_app.command("events")
    def events_cmd(
        path: Annotated[
            Path | None,
            typer.Option("--path", help="events file (default: $GODEL_EVENTS, else reports/events.ndjson)"),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Failures grouped by signature: how often, first and last seen, and the command that re-runs one."""
        # Imported here: the plugin's package is not needed by every other command at start.
        from godel.pytest_plugin import DEFAULT_EVENTS, ENV_EVENTS, group_events, read_events

        given = path is not None
        where = path or Path(os.environ.get(ENV_EVENTS) or DEFAULT_EVENTS)
        if not where.exists():
            if given:
                raise UsageError(f"no events file at {where}", hint="pass --path to the file pytest wrote")
            # No file is what a suite without failures leaves: the plugin writes on the first failure only.
            doc = {"path": str(where), "events": 0, "malformed": 0, "groups": []}
            if as_json:
                emit_json(doc)
            else:
                typer.echo(f"no failures recorded ({where} does not exist yet)")
            return
        log = read_events(where)
        groups = group_events(log.events)
        if log.malformed:
            typer.echo(f"warning: {log.malformed} line(s) of {where} are not events; skipped", err=True)
        if as_json:
            emit_json(
                {
                    "path": str(where),
                    "events": len(log.events),
                    "malformed": log.malformed,
                    "groups": [g.to_dict() for g in groups],
                }
            )
            return
        typer.echo(f"{len(log.events)} failure event(s) in {where}, {len(groups)} signature(s)")
        for g in groups:
            typer.echo(
                f"{g.count:>5}x {g.signature}  {g.test_id}  [{g.error_class}] {_one_line(g.message, 90)}\n"
                f"       first {g.first_seen}  last {g.last_seen}\n"
                f"       {g.repro_cmd}"
            )

    @tests_app.command("candidates")
    def candidates_cmd(
        path: Annotated[Path, typer.Argument(help="the project's folder (inside a git work tree)")] = Path(
            "."
        ),
        as_json: JsonOpt = False,
        top: Annotated[int, typer.Option("--top", help="how many modules to list")] = 10,
        since: Annotated[
            str, typer.Option("--since", help="churn window, any git date ('90 days ago', '2026-01-01')")
        ] = "90 days ago",
        data_file: Annotated[
            Path | None,
            typer.Option(
                "--data-file", help="coverage.py data to use (default PATH/.coverage, run if missing)"
            ),
        ] = None,
        rerun: Annotated[
            bool, typer.Option("--rerun", help="run the suite under coverage even if data exists")
        ] = False,
        pytest_args: Annotated[
            str,
            typer.Option("--pytest-args", help="arguments for the coverage run's pytest, one shell string"),
        ] = "",
        timeout: Annotated[float, typer.Option("--timeout", help="seconds the coverage run may take")] = 1800,
    ) -> None:
        """Modules ranked by (1 - coverage) x churn, the churn normalised by the most-changed module's.

        Coverage is coverage.py's data at PATH/.coverage; without it the suite runs first under coverage.

        Churn is the lines added and deleted per file by `git log --numstat --since`. Test files are not ranked.
        """
        from godel.pytest_plugin import find_candidates

        if timeout <= 0:
            raise UsageError(f"--timeout must be positive, got {timeout:g}", hint="e.g. --timeout 600")
        try:
            args = shlex.split(pytest_args)
        except ValueError as exc:
            raise UsageError(
                f"--pytest-args does not parse: {exc}", hint="quote it as a shell would"
            ) from exc
        if not path.is_dir():
            raise UsageError(f"no folder {path}", hint="pass the project's folder")

        def announce(root: Path) -> None:
            if not as_json:
                typer.echo(f"running the suite under coverage in {root} ...", err=True)

        report = find_candidates(
            path, since=since, top=top, data_file=data_file, rerun=rerun, pytest_args=args, timeout=timeout,
            on_run=announce,
        )  # fmt: skip
        if as_json:
            emit_json(report.to_dict())
            return
        exit_note = f" (pytest exit {report.pytest_exit})" if report.pytest_exit is not None else ""
        typer.echo(
            f"{report.modules} module(s) under {report.root}; coverage from {report.data_file}"
            f"{' (just measured' + exit_note + ')' if report.ran_coverage else ''}; churn since {report.since}"
        )
        if not any(c.churn for c in report.candidates):
            typer.echo("no module changed in the window: every score is 0 (widen --since)")
        typer.echo(f"{'score':>6} {'coverage':>8} {'lines':>6} {'churn':>6}  file")
        for c in report.candidates:
            typer.echo(f"{c.score:6.3f} {c.coverage:8.1%} {c.lines:6d} {c.churn:6d}  {c.file}")
        for rel, reason in report.skipped:
            typer.echo(f"skipped {rel}: {reason}", err=True)
        sys.stdout.flush()
