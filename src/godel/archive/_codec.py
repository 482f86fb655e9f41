"""How runs and candidates are written to and read from their rows: compressed code and details, compact JSON."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from godel.archive._base import RunInfo
from godel.candidate import Candidate, Program, Status
from godel.errors import ArchiveError

__all__ = [
    "STATUS",
    "decode_candidate",
    "dumps",
    "encode_candidate",
    "flagged",
    "run_info",
    "run_info_from",
    "status_of",
    "text",
    "unzip_text",
    "zip_text",
]

STATUS = {s.value: s for s in Status}
_ZLEVEL = 6


def zip_text(text: str) -> bytes:
    return zlib.compress(text.encode(), _ZLEVEL)


def unzip_text(blob: bytes) -> str:
    return zlib.decompress(blob).decode()


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps builds one per call


def dumps(value: Any, what: str) -> str:
    if not value and isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise ArchiveError(
            f"{what} is not JSON-serialisable: {exc}",
            hint="store only str/int/float/bool/None, lists and dicts with string keys",
        ) from exc


def text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; a crash message may contain one. Everything else is kept as given.
    return None if value is None else value.replace("\x00", "\ufffd")


def flagged(cand: Candidate) -> bool:
    return bool(cand.flags) and cand.verdict.get("cleared") is not True


def status_of(value: Status | str) -> Status:
    try:
        return STATUS[str(value.value if isinstance(value, Status) else value)]
    except KeyError:
        raise ArchiveError(
            f"unknown candidate status {value!r}", hint=f"use one of {', '.join(STATUS)}"
        ) from None


def encode_candidate(cand: Candidate, now: float) -> dict[str, Any]:
    status = status_of(cand.status)
    what = f"candidate (run {cand.run_id}, iteration {cand.iteration})"
    if status in (Status.FAILED, Status.REJECTED):
        if cand.score is not None:
            raise ArchiveError(
                f"{what} is {status.value} but carries score {cand.score}",
                hint="failed and rejected candidates are never scored: set score to None and give a reason",
            )
        if not cand.reason:
            raise ArchiveError(
                f"{what} is {status.value} without a reason", hint="set Candidate.reason to why it failed"
            )
    if cand.created_at <= 0:
        cand.created_at = now
    if cand.updated_at <= 0:
        cand.updated_at = cand.created_at
    detail = {
        "prompt": cand.prompt,
        "edit": cand.edit,
        "artifacts": cand.artifacts,
        "evaluation": cand.evaluation,
    }
    return {
        "run_id": cand.run_id,
        "iteration": cand.iteration,
        "parent_id": cand.parent_id,
        "generation": cand.generation,
        "status": status.value,
        "score": cand.score,
        "flagged": flagged(cand),
        "digest": cand.program.digest(),
        "code": zip_text(cand.program.to_json()),
        "diff": None if cand.diff is None else zip_text(cand.diff),
        "detail": zip_text(dumps(detail, f"{what}: prompt/edit/artifacts/evaluation")),
        "metrics": dumps(cand.metrics, f"{what}: metrics"),
        "verdict": dumps(cand.verdict, f"{what}: verdict"),
        "flags": dumps(list(cand.flags), f"{what}: flags"),
        "timings": dumps(cand.timings, f"{what}: timings"),
        "reason": text(cand.reason),
        "failure_stage": text(cand.failure_stage),
        "proposer": text(cand.proposer),
        "model": text(cand.model),
        "tokens_in": cand.tokens_in,
        "tokens_out": cand.tokens_out,
        "cost": cand.cost,
        "created_at": cand.created_at,
        "updated_at": cand.updated_at,
    }


def decode_candidate(row: sa.Row[Any]) -> Candidate:
    detail = json.loads(unzip_text(row.detail))
    return Candidate(
        id=row.id,
        run_id=row.run_id,
        iteration=row.iteration,
        program=Program.from_json(unzip_text(row.code)),
        parent_id=row.parent_id,
        generation=row.generation,
        status=STATUS[row.status],
        score=row.score,
        metrics=json.loads(row.metrics),
        artifacts=detail["artifacts"],
        reason=row.reason,
        failure_stage=row.failure_stage,
        proposer=row.proposer,
        model=row.model,
        prompt=detail["prompt"],
        edit=detail["edit"],
        diff=None if row.diff is None else unzip_text(row.diff),
        tokens_in=row.tokens_in,
        tokens_out=row.tokens_out,
        cost=row.cost,
        verdict=json.loads(row.verdict),
        flags=json.loads(row.flags),
        evaluation=detail["evaluation"],
        timings=json.loads(row.timings),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def run_info(row: sa.Row[Any]) -> RunInfo:
    return RunInfo(
        id=row.id,
        name=row.name,
        task=row.task,
        config=json.loads(row.config),
        status=row.status,
        meta=json.loads(row.meta),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def run_info_from(rid: int, v: Mapping[str, Any]) -> RunInfo:
    return RunInfo(
        id=rid,
        name=v["name"],
        task=v["task"],
        config=json.loads(v["config"]),
        status=v["status"],
        meta=json.loads(v["meta"]),
        created_at=v["created_at"],
        updated_at=v["updated_at"],
    )
