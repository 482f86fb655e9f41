"""The web dashboard (``godel dashboard``) and the static HTML report (``godel report``).

:func:`create_app` builds the FastAPI app over any archive; :class:`ArchiveView` holds the read models both share;
:func:`render_report` / :func:`write_report` produce the single-file report.
"""

from __future__ import annotations

from godel.dashboard._data import ArchiveView
from godel.dashboard._report import render_report, write_report

__all__ = ["TOKEN_HEADER", "ArchiveView", "create_app", "render_report", "write_report"]


def __getattr__(name: str) -> object:
    # FastAPI is an optional dependency (the `dashboard` extra); the report works without it.
    if name in ("create_app", "TOKEN_HEADER"):
        from godel.dashboard import _app

        return getattr(_app, name)
    raise AttributeError(name)
