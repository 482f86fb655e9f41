"""``godel dashboard`` and ``godel report``."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from godel.cli._common import pick_run

# Imported where used, not when the commands are registered (every invocation of the CLI registers them).
if TYPE_CHECKING:
    from godel.archive import Archive

__all__ = ["check_port", "register"]

StorageOpt = Annotated[
    str | None, typer.Option("--storage", help="archive URL (default: $GODEL_STORAGE or sqlite:///godel.db)")
]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Raise :class:`ServeError` naming the fix when ``host:port`` cannot be bound (in use, bad address)."""
    from godel.telemetry import ServeError

    if not 0 <= port <= 65535:
        raise ServeError(f"port {port} is out of range", hint="pick a port between 1024 and 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ServeError(f"cannot resolve host {host!r}: {exc}", hint="use --host 127.0.0.1") from exc
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            raise ServeError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint=f"pick another --port, or stop the process using {port}",
            ) from exc


def register(app: typer.Typer, open_archive_fn: Callable[[str | None], Archive]) -> None:
    @app.command()
    def dashboard(
        storage: StorageOpt = None,
        host: Annotated[
            str, typer.Option("--host", help="address to listen on (loopback by default)")
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="TCP port")] = 8765,
        allow_approve: Annotated[
            bool, typer.Option("--allow-approve", help="enable approve/reject (needs --token)")
        ] = False,
        token: Annotated[
            str | None,
            typer.Option(
                "--token",
                help="secret the browser must send to approve/reject",
                envvar="GODEL_DASHBOARD_TOKEN",
            ),
        ] = None,
        refresh: Annotated[float, typer.Option("--refresh", help="seconds between live refreshes")] = 2.0,
    ) -> None:
        """Serve the web dashboard over an archive (runs, score curve, lineage, diffs, review queue, /metrics).

        Read-only unless --allow-approve is given with a --token; listens on 127.0.0.1 unless --host says otherwise.
        It can watch a run another process is writing.
        """
        from godel.telemetry import ServeError

        try:
            import uvicorn

            from godel.dashboard.web import create_app
        except ImportError as exc:
            raise ServeError(
                f"the dashboard needs the `dashboard` extra ({exc})", hint="pip install 'godel[dashboard]'"
            ) from exc

        if refresh <= 0:
            raise ServeError(f"--refresh must be positive, got {refresh}", hint="e.g. --refresh 2")
        if allow_approve and not token:
            raise ServeError(
                "--allow-approve needs a token",
                hint=f"pass --token {secrets.token_urlsafe(16)} (any long random string) or set GODEL_DASHBOARD_TOKEN",
            )
        if token is not None and len(token) < 8:
            raise ServeError(
                "--token is too short (fewer than 8 characters)", hint="use a long random string"
            )
        check_port(host, port)
        archive = open_archive_fn(storage)
        try:
            loopback = _is_loopback(host)
            if not loopback:
                sys.stderr.write(
                    f"warning: the dashboard listens on {host}, reachable from other machines; "
                    "it shows code and prompts (secrets masked)\n"
                )
            web = create_app(
                archive,
                allow_approve=allow_approve,
                token=token,
                refresh_seconds=refresh,
                allowed_hosts=["127.0.0.1", "localhost", "[::1]", "::1"] if loopback else None,
            )
            shown = f"[{host}]" if ":" in host else host
            sys.stderr.write(
                f"godel dashboard on http://{shown}:{port}/ ({'approvals enabled' if allow_approve else 'read-only'})"
                " - Ctrl-C stops\n"
            )
            sys.stderr.flush()
            server = uvicorn.Server(
                uvicorn.Config(web, host=host, port=port, log_level="warning", access_log=False)
            )
            server.run()
            if not server.started:
                raise ServeError(
                    f"the dashboard could not start on {host}:{port}", hint="see the message above"
                )
        finally:
            archive.close()

    @app.command()
    def report(
        storage: StorageOpt = None,
        run: Annotated[
            str | None, typer.Option("--run", help="run id or name (default: the latest run)")
        ] = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write")] = Path("report.html"),
    ) -> None:
        """Write a single-file HTML report of a run (score curve, best program and its diff, lineage, flags, cost)."""
        from godel.dashboard import write_report

        archive = open_archive_fn(storage)
        try:
            info = pick_run(archive, run)
            path = write_report(archive, info, out)
        finally:
            archive.close()
        sys.stdout.write(f"wrote {path} ({os.path.getsize(path)} bytes) for run {info.name}\n")
