"""Small helpers shared by every command module (`godel.cli` and the subpackages' ``_cli`` modules)."""

from __future__ import annotations

import json
import sys
from typing import Any

from godel.archive._base import Archive, RunInfo
from godel.errors import ArchiveError
from godel.redact import redact_obj

__all__ = ["emit_json", "pick_run"]


def emit_json(doc: Any) -> None:
    """The one JSON document a ``--json`` command prints, secrets redacted."""
    sys.stdout.write(json.dumps(redact_obj(doc), indent=2, default=str) + "\n")


def pick_run(archive: Archive, run: str | None) -> RunInfo:
    """The run named by ``--run`` (id or name), else the newest; raises UnknownRun / ArchiveError."""
    if run is not None:
        return archive.get_run(int(run) if run.isdigit() else run)
    latest = archive.latest_run()
    if latest is None:
        raise ArchiveError(f"the archive {archive.url} holds no runs", hint="run `godel evolve TASK` first")
    return latest
