"""What every command module shares: the consoles, the common options, opening an archive, JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from godel._storage import storage_url
from godel.errors import ArchiveError, UnknownCandidate
from godel.redact import redact_obj

# The archive (SQLAlchemy) is imported when a command opens one, not when the CLI starts: `godel --help` never does.
if TYPE_CHECKING:
    from godel.archive import Archive, RunInfo
    from godel.candidate import Candidate

__all__ = [
    "JsonOpt",
    "RunOpt",
    "StorageOpt",
    "candidate_doc",
    "emit_json",
    "err",
    "fmt",
    "get_candidate",
    "open_existing",
    "out",
    "pick_run",
]

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

StorageOpt = Annotated[
    str | None, typer.Option("--storage", help="archive URL (default: $GODEL_STORAGE or sqlite:///godel.db)")
]
RunOpt = Annotated[str | None, typer.Option("--run", help="run id or name (default: the latest run)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document")]


def emit_json(doc: Any) -> None:
    """The one JSON document a ``--json`` command prints, secrets redacted."""
    sys.stdout.write(json.dumps(redact_obj(doc), indent=2, default=str) + "\n")


def pick_run(archive: Archive, run: str | None) -> RunInfo:
    """The run named by ``--run`` (id or name), else the newest; raises UnknownRun / ArchiveError."""
    if run is not None:
        return archive.get_run(int(run) if run.isdecimal() else run)
    latest = archive.latest_run()
    if latest is None:
        raise ArchiveError(f"the archive {archive.url} holds no runs", hint="run `godel evolve TASK` first")
    return latest


def open_existing(storage: str | None) -> Archive:
    """The archive a read command looks at; a SQLite file that does not exist is an error, not a new archive."""
    from godel.archive import open_archive

    url = storage_url(storage)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            raise ArchiveError(
                f"no archive at {path}",
                hint="run `godel evolve TASK` first, or pass --storage / set GODEL_STORAGE",
            )
    return open_archive(url)


def fmt(score: float | None) -> str:
    return "—" if score is None else f"{score:.6g}"


def get_candidate(archive: Archive, cid: str, storage: str | None) -> Candidate:
    """The candidate ``cid`` names; an unknown one is an error whose hint repeats the user's ``--storage``."""
    where = f" --storage {storage}" if storage else ""
    if not cid.isdecimal():
        raise UnknownCandidate(
            f"candidate id must be a number, got {cid!r}", hint=f"`godel list{where}` lists candidate ids"
        )
    try:
        return archive.get_candidate(int(cid))
    except UnknownCandidate as exc:
        raise UnknownCandidate(exc.message, hint=f"`godel list{where}` lists candidate ids") from exc


def candidate_doc(c: Candidate) -> dict[str, Any]:
    d = c.summary()
    d["metrics"] = dict(c.metrics)
    d["verdict"] = dict(c.verdict)
    d["artifacts"] = {k: v[-500:] for k, v in c.artifacts.items()}
    return d
