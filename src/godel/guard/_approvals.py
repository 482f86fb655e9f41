"""The approval queue: supervised and flagged candidates wait here for a human; every action is an audit event."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from godel.candidate import Candidate, Status
from godel.errors import GuardError
from godel.guard._constitution import Constitution

if TYPE_CHECKING:
    from godel.archive import Archive

__all__ = ["QueueItem", "approve", "expire", "list_queue", "reject"]


@dataclass(frozen=True)
class QueueItem:
    candidate: Candidate
    kind: str  # "approval" (supervised operation, not run yet) | "flagged" (evaluated, kept out of best)
    waiting_since: float

    def to_dict(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "id": c.id,
            "run_id": c.run_id,
            "iteration": c.iteration,
            "parent_id": c.parent_id,
            "kind": self.kind,
            "status": c.status.value,
            "score": c.score,
            "waiting_since": self.waiting_since,
            "reasons": list(c.verdict.get("reasons", [])),
            "rules": list(c.verdict.get("rules", [])),
            "flags": list(c.flags),
            "diff": c.diff or "",
        }


def _pending_flagged(c: Candidate) -> bool:
    return c.status == Status.OK and bool(c.flags) and not c.verdict.get("cleared")


def list_queue(archive: Archive, run_id: int) -> list[QueueItem]:
    """Candidates of ``run_id`` a human must decide on, oldest first."""
    items: list[QueueItem] = []
    for c in archive.candidates(run_id, status=[Status.AWAITING_APPROVAL, Status.OK]):
        if c.status == Status.AWAITING_APPROVAL:
            items.append(QueueItem(c, "approval", c.created_at or c.updated_at))
        elif _pending_flagged(c):
            items.append(QueueItem(c, "flagged", c.updated_at or c.created_at))
    items.sort(key=lambda i: (i.waiting_since, i.candidate.iteration))
    return items


def approve(archive: Archive, cid: int, actor: str) -> Candidate:
    """Approve a supervised candidate (it goes back to PENDING and is evaluated) or clear a flagged one."""
    c = archive.get_candidate(cid)
    now = time.time()
    if c.status == Status.AWAITING_APPROVAL:
        c.status, c.reason = Status.PENDING, None
        c.verdict = {**c.verdict, "approved": {"by": actor, "at": now}}
        what = "approved"
    elif _pending_flagged(c):
        c.verdict = {**c.verdict, "cleared": True, "cleared_by": actor, "cleared_at": now}
        what = "cleared"
    else:
        raise GuardError(
            f"candidate {cid} is not waiting for a decision (status {c.status.value}, flags {c.flags or 'none'})",
            hint="`godel review` lists the candidates that are",
        )
    c.updated_at = now
    archive.update_candidate(c)
    archive.add_event(
        c.run_id, "approval", {"candidate": cid, "decision": what, "flags": list(c.flags)}, actor=actor
    )
    if what == "cleared":
        _promote_if_better(archive, c, actor)
    return c


def _promote_if_better(archive: Archive, c: Candidate, actor: str) -> None:
    """A flagged candidate never went through acceptance (the flag stopped it first). Cleared by a human, it becomes
    the run's best when its score, the mean of what was measured of it, is above the accepted best's: a human's
    decision, recorded as such, not a noise test (there is no sandbox here to race it)."""
    if c.score is None or c.id is None:
        return
    current = archive.best(c.run_id)
    if current is not None and current.id != c.id and current.score is not None and c.score <= current.score:
        return
    noise = c.evaluation.get("noise", {}) if isinstance(c.evaluation.get("noise"), dict) else {}
    archive.update_run(
        c.run_id,
        meta={
            "best": {
                "id": c.id,
                "iteration": c.iteration,
                "mean": c.score,
                "n": noise.get("n", 1),
                "by": actor,
            }
        },
    )
    archive.add_event(
        c.run_id,
        "best",
        {
            "candidate": c.id,
            "previous": current.id if current is not None else None,
            "score": c.score,
            "previous_score": current.score if current is not None else None,
            "decision": {
                "accepted": True,
                "reason": f"cleared of its flags by {actor}: promoted on its score",
            },
        },
        actor=actor,
    )


def reject(archive: Archive, cid: int, why: str, actor: str) -> Candidate:
    """Reject a supervised or flagged candidate; it is never run (or never promoted) and keeps ``why``."""
    if not why.strip():
        raise GuardError("a rejection needs a reason", hint="pass --why TEXT")
    c = archive.get_candidate(cid)
    if c.status != Status.AWAITING_APPROVAL and not _pending_flagged(c):
        raise GuardError(
            f"candidate {cid} is not waiting for a decision (status {c.status.value})",
            hint="`godel review` lists the candidates that are",
        )
    now = time.time()
    kind = "flagged" if c.status == Status.OK else "approval"
    if c.score is not None:
        c.evaluation = {**c.evaluation, "score_before_rejection": c.score}
    c.status, c.score = Status.REJECTED, None
    c.reason = f"rejected by {actor}: {why}"
    c.failure_stage = "guard"
    c.verdict = {**c.verdict, "rejected": {"by": actor, "at": now, "why": why}}
    c.updated_at = now
    archive.update_candidate(c)
    archive.add_event(
        c.run_id, "rejection", {"candidate": cid, "kind": kind, "why": why, "stage": "review"}, actor=actor
    )
    return c


def expire(
    archive: Archive,
    run_id: int,
    constitution: Constitution,
    *,
    now: float | None = None,
    timeout_seconds: float | None = None,
) -> list[tuple[int, str]]:
    """Apply the constitution's approval timeout to the queue; returns (candidate id, outcome) pairs."""
    policy = constitution.approval
    timeout = timeout_seconds if timeout_seconds is not None else policy.timeout_seconds
    now = time.time() if now is None else now
    done: list[tuple[int, str]] = []
    actor = "guard:timeout"
    for item in list_queue(archive, run_id):
        if now - item.waiting_since < timeout:
            continue
        cid = item.candidate.id
        assert cid is not None
        why = f"no decision within {timeout:g} s (constitution: {constitution.name})"
        if item.kind == "approval":
            if policy.on_timeout == "approve":
                approve(archive, cid, actor)
                done.append((cid, "approved"))
            else:
                reject(archive, cid, why, actor)
                done.append((cid, "rejected"))
        elif policy.flagged_on_timeout == "reject":
            reject(archive, cid, why, actor)
            done.append((cid, "rejected"))
    return done
