"""``godel status --json`` on a SQLite archive without SQLAlchemy: a handful of narrow queries through the standard
library's ``sqlite3``, read-only.

Anything that polls the status (a script, a dashboard, a monitoring loop) pays a CLI start-up per call; SQLAlchemy's
import alone is ~0.2 s of CPU, more than these queries take on a run of 10,000 candidates. The document is the one
the archive's own methods give (``runs``, ``stats``, ``best``, the seed, the last failures); the tests compare the
two. Whenever this path is not sure to give the same answer (not a plain SQLite file URL, a schema revision other
than head, an unknown run, any SQLite error), it returns None and the caller takes the full path, which also
words the errors.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from godel.archive._base import HEAD_REVISION
from godel.candidate import Status

__all__ = ["quick_status"]

_SUMMARY = "id, run_id, iteration, parent_id, generation, status, score, reason, failure_stage, proposer, model, flags"


def _file(url: str) -> Path | None:
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            rest = url.removeprefix(prefix)
            if not rest or rest == ":memory:" or "?" in rest:
                return None
            path = Path(rest).expanduser()
            return path if path.is_absolute() else Path.cwd() / path
    return None


def _summary(row: tuple[Any, ...]) -> dict[str, Any]:
    keys = [k.strip() for k in _SUMMARY.split(",")]
    doc = dict(zip(keys, row, strict=True))
    doc["flags"] = list(json.loads(doc["flags"]))
    return doc


def quick_status(url: str, run: str | None) -> dict[str, Any] | None:
    """The status document of ``run`` (id or name; None: the latest) in the SQLite archive at ``url``, its
    ``storage`` first; None when only the full archive can answer (see the module's doc)."""
    path = _file(url)
    if path is None or not path.is_file():
        return None
    try:
        con = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        return _status(con, f"sqlite+pysqlite:///{path}", run)
    except (sqlite3.Error, ValueError, TypeError, KeyError):
        return None  # an archive this path does not understand: the full one will (or will say why not)
    finally:
        con.close()


def _status(con: sqlite3.Connection, storage: str, run: str | None) -> dict[str, Any] | None:
    con.execute("BEGIN")  # one snapshot for every query below, as a writer may be adding candidates
    revision = con.execute("SELECT version_num FROM alembic_version").fetchall()
    if revision != [(HEAD_REVISION,)]:
        return None
    runs = con.execute("SELECT id, name, task, status, meta FROM runs ORDER BY id").fetchall()
    if run is None:
        chosen = runs[-1] if runs else None
    elif run.isdecimal():
        chosen = next((r for r in runs if r[0] == int(run)), None)
    else:
        chosen = next((r for r in runs if r[1] == run), None)
    if chosen is None:
        return None
    rid, meta = chosen[0], json.loads(chosen[4])
    counts = {s.value: 0 for s in Status}
    flagged = tokens = 0
    cost = 0.0
    for status, n, f, t, c in con.execute(
        "SELECT status, count(*), sum(flagged), sum(tokens_in + tokens_out), sum(cost) FROM candidates "
        "WHERE run_id = ? GROUP BY status",
        (rid,),
    ):
        counts[str(status)] = int(n)
        flagged += int(f or 0)
        tokens += int(t or 0)
        cost += float(c or 0.0)
    seed = con.execute(
        "SELECT score FROM candidates WHERE run_id = ? ORDER BY iteration LIMIT 1", (rid,)
    ).fetchone()
    best = None
    accepted = meta.get("best")
    if isinstance(accepted, dict) and isinstance(accepted.get("id"), int):
        best = con.execute(
            f"SELECT {_SUMMARY} FROM candidates WHERE id = ? AND run_id = ? AND status = ? AND flagged = 0",
            (accepted["id"], rid, Status.OK.value),
        ).fetchone()
    if best is None:
        best = con.execute(
            f"SELECT {_SUMMARY} FROM candidates WHERE run_id = ? AND status = ? AND score IS NOT NULL "
            "AND flagged = 0 ORDER BY score DESC, iteration LIMIT 1",
            (rid, Status.OK.value),
        ).fetchone()
    failures = con.execute(
        "SELECT id, iteration, failure_stage, reason FROM candidates WHERE run_id = ? AND status IN (?, ?) "
        "ORDER BY iteration DESC LIMIT 5",
        (rid, Status.FAILED.value, Status.REJECTED.value),
    ).fetchall()
    return {
        "storage": storage,
        "runs": [{"id": r[0], "name": r[1], "task": r[2], "status": r[3]} for r in runs],
        "run": {"id": rid, "name": chosen[1], "task": chosen[2], "status": chosen[3], "meta": meta},
        "counts": counts,
        "total": sum(counts.values()),
        "flagged": flagged,
        "tokens": tokens,
        "cost": cost,
        "seed_score": seed[0] if seed else None,
        "best": _summary(best) if best is not None else None,
        "noise": meta.get("noise"),
        "recent_failures": [
            {"id": i, "iteration": it, "stage": stage, "reason": reason}
            for i, it, stage, reason in reversed(failures)
        ],
        "warm_start": meta.get("warm_start"),
    }
