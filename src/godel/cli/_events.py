"""``godel events``: the run's event stream as NDJSON (``--json``) or one readable line per event."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from godel.cli._common import pick_run

# Imported by the command, not when it is registered (every invocation of the CLI registers it).
if TYPE_CHECKING:
    from godel.archive import Archive

__all__ = ["register"]


def register(app: typer.Typer, open_archive_fn: Callable[[str | None], Archive]) -> None:
    @app.command()
    def events(
        storage: Annotated[
            str | None,
            typer.Option("--storage", help="archive URL (default: $GODEL_STORAGE or sqlite:///godel.db)"),
        ] = None,
        run: Annotated[
            str | None, typer.Option("--run", help="run id or name (default: the latest run)")
        ] = None,
        follow: Annotated[
            bool, typer.Option("--follow", "-f", help="keep printing new events (Ctrl-C stops)")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="NDJSON: one event record per line")] = False,
        since: Annotated[int, typer.Option("--since", help="only events with a larger sequence number")] = 0,
        interval: Annotated[
            float, typer.Option("--interval", help="seconds between polls with --follow")
        ] = 1.0,
        until_end: Annotated[
            bool, typer.Option("--until-end", help="with --follow: stop after the run's run_end event")
        ] = False,
    ) -> None:
        """Print the run's events (proposal, verdict, evaluation, failure, rejection, approval, run_end...).

        These are the archive's hash-chained records, secrets masked. With --follow, new events another process
        appends are printed as they arrive.
        """
        from godel.telemetry import TelemetryError, event_line, event_record, follow_events, iter_events

        if interval <= 0:
            raise TelemetryError(f"--interval must be positive, got {interval}", hint="e.g. --interval 0.5")
        archive = open_archive_fn(storage)
        try:
            info = pick_run(archive, run)
            stream = (
                follow_events(archive, info.id, since, interval=interval, until_end=until_end)
                if follow
                else iter_events(archive, info.id, since)
            )
            try:
                for ev in stream:
                    line = json.dumps(event_record(ev), default=str) if as_json else event_line(ev)
                    sys.stdout.write(line + "\n")
                    sys.stdout.flush()
            except BrokenPipeError:  # `godel events | head`: the reader left, which is not an error
                sys.stderr.close()
        finally:
            archive.close()
