"""The approval queue against a real SQLite archive: list, approve, clear, reject, time out; all audited."""

from __future__ import annotations

import pytest

from godel.archive import Archive
from godel.candidate import Candidate, Program, Status
from godel.errors import GuardError
from godel.guard import approve, expire, list_queue, load_constitution, reject, verify_archive
from godel.guard._constitution import Constitution

PROG = Program.single("p.py", "x = 1\n")


def _setup(archive: Archive) -> tuple[int, dict[str, int]]:
    run = archive.create_run("r", "t", {})
    seed = Candidate(run_id=run.id, iteration=0, program=PROG, status=Status.OK, score=0.1, created_at=100.0)
    ids = {"seed": archive.add_candidate(seed)}
    waiting = Candidate(
        run_id=run.id, iteration=1, program=Program.single("p.py", "x = 2\n"), parent_id=ids["seed"],
        status=Status.AWAITING_APPROVAL, verdict={"decision": "require_approval", "reasons": ["[file-writes] opens a file"]},
        diff="-x = 1\n+x = 2\n", created_at=200.0, updated_at=200.0,
    )  # fmt: skip
    ids["waiting"] = archive.add_candidate(waiting)
    flagged = Candidate(
        run_id=run.id, iteration=2, program=Program.single("p.py", "x = 3\n"), parent_id=ids["seed"],
        status=Status.OK, score=0.99, flags=["score-jump: ..."], created_at=300.0, updated_at=300.0,
    )  # fmt: skip
    ids["flagged"] = archive.add_candidate(flagged)
    return run.id, ids


def test_queue_approve_clear(archive: Archive) -> None:
    rid, ids = _setup(archive)
    q = list_queue(archive, rid)
    assert [(i.candidate.id, i.kind) for i in q] == [
        (ids["waiting"], "approval"),
        (ids["flagged"], "flagged"),
    ]
    assert q[0].to_dict()["reasons"] == ["[file-writes] opens a file"] and q[0].to_dict()["diff"]
    best = archive.best(rid)
    assert best is not None and best.id == ids["seed"]  # flagged candidate not promoted
    c = approve(archive, ids["waiting"], "human:alice")
    assert c.status == Status.PENDING and c.verdict["approved"]["by"] == "human:alice"
    approve(archive, ids["flagged"], "human:alice")
    best = archive.best(rid)
    assert best is not None and best.id == ids["flagged"]  # cleared: may now be best
    assert list_queue(archive, rid) == []
    with pytest.raises(GuardError, match="not waiting"):
        approve(archive, ids["seed"], "human:alice")
    evs = [e for e in archive.events(rid) if e.kind == "approval"]
    assert [e.actor for e in evs] == ["human:alice", "human:alice"]
    assert verify_archive(archive, rid).ok


def test_reject(archive: Archive) -> None:
    rid, ids = _setup(archive)
    with pytest.raises(GuardError, match="needs a reason"):
        reject(archive, ids["flagged"], "  ", "human:bob")
    c = reject(archive, ids["flagged"], "reads the answers", "human:bob")
    assert c.status == Status.REJECTED and c.score is None and "reads the answers" in (c.reason or "")
    assert archive.get_candidate(ids["flagged"]).evaluation["score_before_rejection"] == 0.99
    reject(archive, ids["waiting"], "no", "human:bob")
    assert list_queue(archive, rid) == []
    assert [e.payload["kind"] for e in archive.events(rid) if e.kind == "rejection"] == [
        "flagged",
        "approval",
    ]


def test_expire_follows_the_constitution(archive: Archive) -> None:
    rid, ids = _setup(archive)
    base = load_constitution(None).constitution
    c = Constitution.model_validate(
        {**base.model_dump(), "approval": {"timeout_seconds": 50, "on_timeout": "reject"}}
    )
    assert expire(archive, rid, c, now=220.0) == []
    assert expire(archive, rid, c, now=1000.0) == [(ids["waiting"], "rejected")]  # flagged ones are kept
    assert archive.get_candidate(ids["waiting"]).status == Status.REJECTED
    assert [i.candidate.id for i in list_queue(archive, rid)] == [ids["flagged"]]
    c2 = Constitution.model_validate(
        {
            **base.model_dump(),
            "approval": {"timeout_seconds": 50, "on_timeout": "approve", "flagged_on_timeout": "reject"},
        }
    )
    assert expire(archive, rid, c2, now=1000.0) == [(ids["flagged"], "rejected")]
    ev = [e for e in archive.events(rid) if e.kind == "rejection"]
    assert all(e.actor == "guard:timeout" for e in ev)


def test_expire_approve_on_timeout(archive: Archive) -> None:
    rid, ids = _setup(archive)
    base = load_constitution(None).constitution
    c = Constitution.model_validate(
        {**base.model_dump(), "approval": {"timeout_seconds": 50, "on_timeout": "approve"}}
    )
    assert expire(archive, rid, c, now=1000.0) == [(ids["waiting"], "approved")]
    assert archive.get_candidate(ids["waiting"]).status == Status.PENDING
