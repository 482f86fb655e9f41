"""Errors of the telemetry and dashboard commands (all user errors: the fix is on the command line)."""

from __future__ import annotations

from godel.errors import GodelError

__all__ = ["ServeError", "TelemetryError"]


class TelemetryError(GodelError):
    """Telemetry cannot do what was asked: bad option, unreadable metrics directory..."""

    user_error = True


class ServeError(TelemetryError):
    """A server (dashboard, metrics endpoint) cannot start: port in use, bad host, missing token..."""
