"""The web dashboard (``godel dashboard``) and the static HTML report (``godel report``).

:class:`ArchiveView` holds the read models both share; :func:`render_report` / :func:`write_report` produce the
single-file report. The web app itself is :func:`godel.dashboard.web.create_app`, in a module of its own because it
needs FastAPI (the ``dashboard`` extra) while the report does not.
"""

from __future__ import annotations

from godel.dashboard._data import ArchiveView
from godel.dashboard._report import render_report, write_report

__all__ = ["ArchiveView", "render_report", "write_report"]
