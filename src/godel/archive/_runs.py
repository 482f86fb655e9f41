"""Runs: create, read, list, update."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc

from godel.archive._base import RunInfo
from godel.archive._codec import dumps, run_info, run_info_from
from godel.archive._connection import SQLConnection
from godel.archive._schema import runs as R
from godel.errors import ArchiveError, UnknownRun

__all__ = ["RUN_STATUSES", "RunStore"]

RUN_STATUSES = ("running", "stopped", "finished", "failed")


class RunStore(SQLConnection):
    """The runs of an :class:`~godel.archive.SQLArchive`."""

    def create_run(
        self, name: str, task: str, config: Mapping[str, Any], meta: Mapping[str, Any] | None = None
    ) -> RunInfo:
        if not name:
            raise ArchiveError("a run needs a non-empty name", hint="pass a name, e.g. the task name")
        now = time.time()
        values = {
            "name": name,
            "task": task,
            "status": "running",
            "config": dumps(dict(config), f"config of run {name!r}"),
            "meta": dumps(dict(meta or {}), f"meta of run {name!r}"),
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self._write("creating a run") as conn:
                rid = conn.execute(sa.insert(R).returning(R.c.id), values).scalar_one()
        except sa.exc.IntegrityError as exc:
            raise ArchiveError(
                f"a run named {name!r} already exists in {self._where}",
                hint="choose another name, or resume that run",
            ) from exc
        return run_info_from(rid, values)

    def get_run(self, run: int | str) -> RunInfo:
        with self._read("reading a run") as conn:
            row = None
            if isinstance(run, int) and not isinstance(run, bool):
                row = conn.execute(sa.select(R).where(R.c.id == run)).first()
            else:
                row = conn.execute(sa.select(R).where(R.c.name == str(run))).first()
                if row is None and str(run).isdecimal():  # isdigit would pass "¹", which int() refuses
                    row = conn.execute(sa.select(R).where(R.c.id == int(str(run)))).first()
        if row is None:
            raise UnknownRun(
                f"no run {run!r} in the archive {self._where}", hint="`godel status --json` lists the runs"
            )
        return run_info(row)

    def runs(self) -> list[RunInfo]:
        with self._read("listing runs") as conn:
            return [run_info(r) for r in conn.execute(sa.select(R).order_by(R.c.id))]

    def latest_run(self, task: str | None = None) -> RunInfo | None:
        stmt = sa.select(R).order_by(R.c.id.desc()).limit(1)
        if task is not None:
            stmt = stmt.where(R.c.task == task)
        with self._read("reading the latest run") as conn:
            row = conn.execute(stmt).first()
        return None if row is None else run_info(row)

    def update_run(
        self, run_id: int, *, status: str | None = None, meta: Mapping[str, Any] | None = None
    ) -> None:
        """Set the status and/or merge ``meta`` into the run's meta (keys given replace keys stored)."""
        if status is not None and status not in RUN_STATUSES:
            raise ArchiveError(f"unknown run status {status!r}", hint=f"use one of {', '.join(RUN_STATUSES)}")
        with self._write("updating a run") as conn:
            row = conn.execute(
                sa.select(R.c.meta).where(R.c.id == run_id).with_for_update(key_share=True)
            ).first()
            if row is None:
                raise UnknownRun(
                    f"no run with id {run_id} in the archive", hint="`godel status --json` lists the runs"
                )
            values: dict[str, Any] = {"updated_at": time.time()}
            if status is not None:
                values["status"] = status
            if meta:
                merged = json.loads(row.meta)
                merged.update(meta)
                values["meta"] = dumps(merged, f"meta of run {run_id}")
            conn.execute(sa.update(R).where(R.c.id == run_id).values(values))
