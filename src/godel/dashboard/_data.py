"""What the dashboard and the report show, computed from any :class:`~godel.archive.Archive` (read-only).

Large runs: candidate rows (a few numbers each) are loaded once into a snapshot and reused until the archive
changes (candidate count or newest event), so one page view costs a few indexed queries; the lineage is cut to the
best candidates' subtree plus a per-generation aggregate; every list is paginated. Everything returned is redacted.

One module (over 500 lines) because it is one thing: :class:`ArchiveView`, whose views all read one cached snapshot
under one lock per run; split, the views would share that cache through a back door.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from godel.archive import Archive, CandidateRow, RunInfo
from godel.candidate import Candidate, Status, unified_diff
from godel.errors import ArchiveError, UnknownCandidate
from godel.redact import redact, redact_obj
from godel.telemetry import last_event

__all__ = ["ArchiveView", "Snapshot", "clean_number"]

MAX_PAGE = 500
_MAX_CODE_CHARS = 400_000


def clean_number(x: float | None) -> float | str | None:
    """JSON has no inf/nan: they are sent as strings so the UI can still show them."""
    if x is None:
        return None
    if math.isfinite(x):
        return x
    return str(x)


@dataclass
class Snapshot:
    """Every row of a run at one moment, with the indexes the views need."""

    rows: list[CandidateRow]
    version: tuple[int, int]  # (candidate count, newest event seq)
    taken: float
    by_id: dict[int, CandidateRow] = field(init=False)
    child_count: Counter[int] = field(init=False)
    memo: dict[Any, Any] = field(init=False, default_factory=dict)  # views computed from this snapshot

    def __post_init__(self) -> None:
        self.by_id = {r.id: r for r in self.rows}
        self.child_count = Counter(r.parent_id for r in self.rows if r.parent_id is not None)

    def ancestors(self, cid: int) -> list[int]:
        """``cid`` and its ancestors, ``cid`` first."""
        out: list[int] = []
        cur: int | None = cid
        while cur is not None and cur in self.by_id and len(out) < 100_000:
            out.append(cur)
            cur = self.by_id[cur].parent_id
        return out


@dataclass
class _Totals:
    """Tokens and cost, summed by scanning candidates a page at a time (the archive has no aggregate query)."""

    seen: set[int] = field(default_factory=set)
    offset: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    by_model: dict[str, dict[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, c: Candidate) -> None:
        if c.id is None or c.id in self.seen:
            return
        self.seen.add(c.id)
        self.tokens_in += c.tokens_in
        self.tokens_out += c.tokens_out
        self.cost += c.cost
        if c.model or c.tokens_in or c.tokens_out:
            m = self.by_model.setdefault(
                c.model or c.proposer, {"calls": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0}
            )
            m["calls"] += 1
            m["tokens_in"] += c.tokens_in
            m["tokens_out"] += c.tokens_out
            m["cost"] += c.cost


def _finite(x: float | None) -> float:
    return x if x is not None and math.isfinite(x) else -math.inf


def _row_doc(r: CandidateRow, children: int | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": r.id,
        "iteration": r.iteration,
        "parent_id": r.parent_id,
        "generation": r.generation,
        "status": r.status.value,
        "score": clean_number(r.score),
        "flagged": r.flagged,
    }
    if children is not None:
        d["children"] = children
    return d


def _page(limit: int, offset: int) -> tuple[int, int]:
    if limit < 1 or offset < 0:
        raise ArchiveError(f"bad page: limit={limit}, offset={offset}", hint="limit >= 1 and offset >= 0")
    return min(limit, MAX_PAGE), offset


class ArchiveView:
    """Read models over one archive; thread-safe (the web server calls it from a pool)."""

    def __init__(self, archive: Archive, *, recheck_seconds: float = 1.0) -> None:
        self.archive = archive
        self.recheck_seconds = recheck_seconds
        self._snaps: dict[int, Snapshot] = {}
        self._totals: dict[int, _Totals] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()
        self._busy: set[tuple[str, int]] = set()
        self._load_seconds: dict[int, float] = {}
        self._bg_error: str | None = None
        self.warmed = threading.Event()  # set once warm() has loaded the newest run's views

    def _lock(self, run_id: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(run_id, threading.Lock())

    # -- runs ---------------------------------------------------------------------------------------------------

    def run(self, run: int | str) -> RunInfo:
        if isinstance(run, str) and run.isdecimal():
            return self.archive.get_run(int(run))
        return self.archive.get_run(run)

    def runs(self) -> list[dict[str, Any]]:
        out = []
        for r in sorted(self.archive.runs(), key=lambda r: r.id, reverse=True):
            out.append(
                {
                    "id": r.id,
                    "name": redact(r.name),
                    "task": redact(r.task),
                    "status": r.status,
                    "created_at": r.created_at,
                    "updated_at": r.updated_at,
                    "candidates": self.archive.count(r.id),
                }
            )
        return out

    # -- snapshot -----------------------------------------------------------------------------------------------

    def _version(self, run_id: int, hint: int) -> tuple[int, int]:
        ev = last_event(self.archive, run_id, hint=hint)
        return self.archive.count(run_id), ev.seq if ev is not None else 0

    def snapshot(self, run_id: int) -> Snapshot:
        """The run's rows. Only the first read of a run waits for them; afterwards a stale snapshot is served while
        a background thread re-reads the rows if the archive changed (candidate count or newest event)."""
        snap = self._snaps.get(run_id)
        if snap is None:
            with self._lock(run_id):
                snap = self._snaps.get(run_id)
                if snap is None:
                    snap = self._load(run_id, None)
            return snap
        # Re-reading 100,000 rows takes about a second: on big runs, check less often than on small ones.
        if time.monotonic() - snap.taken >= max(
            self.recheck_seconds, 3 * self._load_seconds.get(run_id, 0.0)
        ):
            self._background(("snap", run_id), lambda: self._refresh(run_id))
        return snap

    def _load(self, run_id: int, old: Snapshot | None) -> Snapshot:
        t0 = time.monotonic()
        version = self._version(run_id, old.version[1] if old is not None else 0)
        if old is not None and version == old.version:
            old.taken = time.monotonic()
            return old
        snap = Snapshot(self.archive.rows(run_id), version, t0)
        self._load_seconds[run_id] = time.monotonic() - t0
        snap.taken = time.monotonic()
        self._snaps[run_id] = snap
        return snap

    def _refresh(self, run_id: int) -> None:
        with self._lock(run_id):
            self._load(run_id, self._snaps.get(run_id))

    def _background(self, key: tuple[str, int], fn: Callable[[], object]) -> None:
        with self._guard:
            if key in self._busy:
                return
            self._busy.add(key)

        def work() -> None:
            try:
                fn()
            except Exception as exc:  # a background refresh must not die silently: the next view shows it
                self._bg_error = f"background refresh failed: {redact(str(exc))}"
            finally:
                with self._guard:
                    self._busy.discard(key)

        threading.Thread(target=work, name=f"godel-dashboard-{key[0]}", daemon=True).start()

    def warm(self, run_id: int | None = None) -> None:
        """Load a run's rows (the newest run by default) and start summing its tokens, in the background."""

        def work() -> None:
            rid = run_id
            if rid is None:
                latest = self.archive.latest_run()
                if latest is None:
                    self.warmed.set()
                    return
                rid = latest.id
            try:
                self.snapshot(rid)
                self._default_views(rid)
            finally:
                self.warmed.set()
            self._scan_totals(rid)

        self._background(("warm", run_id or 0), work)

    def _default_views(self, run_id: int) -> None:
        self.scores(run_id)
        self.lineage(run_id)
        self.review_rows(run_id)

    def invalidate(self, run_id: int) -> None:
        """Forget the run's snapshot (after this process changed the run)."""
        with self._lock(run_id):
            self._snaps.pop(run_id, None)

    # -- views --------------------------------------------------------------------------------------------------

    def summary(self, run_id: int) -> dict[str, Any]:
        info = self.archive.get_run(run_id)
        snap = self._snaps.get(run_id)
        if snap is None:
            # Cold start on a big run: answer from the archive's aggregate queries (milliseconds) and load the
            # rows in the background for the charts and the lineage.
            self._background(("snap", run_id), lambda: self._refresh(run_id))
            return self._quick_summary(info)
        snap = self.snapshot(run_id)
        base = self._base_summary(snap)
        totals = self._totals.get(run_id) or _Totals()
        if len(totals.seen) < len(snap.rows):
            self._background(("totals", run_id), lambda: self._scan_totals(run_id))
        ev = last_event(self.archive, run_id, hint=snap.version[1])
        return {
            "run": self._run_doc(info),
            **base,
            "tokens_in": totals.tokens_in,
            "tokens_out": totals.tokens_out,
            "cost": totals.cost,
            "by_model": redact_obj(totals.by_model),
            "tokens_complete": len(totals.seen) >= len(snap.rows),
            "last_event": (
                {"seq": ev.seq, "kind": ev.kind, "created_at": ev.created_at} if ev is not None else None
            ),
            "warning": self._bg_error,
        }

    @staticmethod
    def _run_doc(info: RunInfo) -> dict[str, Any]:
        return {
            "id": info.id,
            "name": redact(info.name),
            "task": redact(info.task),
            "status": info.status,
            "created_at": info.created_at,
            "updated_at": info.updated_at,
            "meta": redact_obj(info.meta),
        }

    def _quick_summary(self, info: RunInfo) -> dict[str, Any]:
        totals = self.archive.stats(info.id)
        best = self.archive.best(info.id)
        first = self.archive.candidates(info.id, limit=1)
        seed = first[0] if first and first[0].iteration == 0 else None
        ev = last_event(self.archive, info.id)

        def doc(c: Candidate | None) -> dict[str, Any] | None:
            if c is None or c.id is None:
                return None
            return _row_doc(
                CandidateRow(c.id, c.iteration, c.parent_id, c.generation, c.status, c.score, bool(c.flags))
            )

        return {
            "run": self._run_doc(info),
            "version": "loading",
            "total": totals.total,
            "counts": dict(totals.counts),
            "flagged": totals.flagged,
            "generations": None,
            "best": doc(best),
            "seed": doc(seed),
            "tokens_in": totals.tokens,
            "tokens_out": 0,
            "cost": totals.cost,
            "by_model": {},
            "tokens_complete": True,
            "last_event": (
                {"seq": ev.seq, "kind": ev.kind, "created_at": ev.created_at} if ev is not None else None
            ),
            "warning": self._bg_error,
        }

    @staticmethod
    def _base_summary(snap: Snapshot) -> dict[str, Any]:
        got: dict[str, Any] | None = snap.memo.get("summary")
        if got is None:
            counts = Counter(r.status.value for r in snap.rows)
            ok = [r for r in snap.rows if r.status == Status.OK and r.score is not None and not r.flagged]
            best = max(ok, key=lambda r: (r.score, -r.iteration), default=None)
            seed = next((r for r in snap.rows if r.iteration == 0), None)
            got = snap.memo["summary"] = {
                "version": f"{snap.version[0]}:{snap.version[1]}",
                "total": len(snap.rows),
                "counts": {s.value: counts.get(s.value, 0) for s in Status},
                "flagged": sum(1 for r in snap.rows if r.flagged),
                "generations": max((r.generation for r in snap.rows), default=0),
                "best": _row_doc(best) if best is not None else None,
                "seed": _row_doc(seed) if seed is not None else None,
            }
        return got

    def stats(self, run_id: int) -> tuple[dict[str, int], float | None]:
        """Candidates by status and the best unflagged score, from the cached rows (for /metrics)."""
        base = self._base_summary(self.snapshot(run_id))
        best = base["best"]["score"] if base["best"] is not None else None
        return dict(base["counts"]), best if isinstance(best, float) else None

    def flagged_count(self, run_id: int) -> int:
        snap = self.snapshot(run_id)
        n: int | None = snap.memo.get("flagged")
        if n is None:
            n = snap.memo["flagged"] = sum(1 for r in snap.rows if r.flagged)
        return n

    def _scan_totals(self, run_id: int, pause: float = 0.03) -> _Totals:
        """Sum tokens and cost over the run's candidates, a page at a time (the archive has no aggregate query)."""
        with self._guard:
            t = self._totals.setdefault(run_id, _Totals())
        with t.lock:
            while True:
                # Re-read a little behind the offset: candidates of concurrent workers land slightly out of order.
                start = max(0, t.offset - 64)
                page = self.archive.candidates(run_id, limit=200, offset=start)
                for c in page:
                    t.add(c)
                t.offset = start + len(page)
                if len(page) < 200:
                    return t
                if pause:
                    time.sleep(pause)  # leave the CPU to page views

    def totals(self, run_id: int) -> _Totals:
        """Tokens and cost over every candidate (a full scan; the report uses it)."""
        return self._scan_totals(run_id, pause=0.0)

    def scores(self, run_id: int, max_points: int = 1500) -> dict[str, Any]:
        """Score over iterations: every OK score (bucketed to ``max_points``) and the running best."""
        snap = self.snapshot(run_id)
        key = ("scores", max_points)
        if key in snap.memo:
            return dict(snap.memo[key])
        ok = [
            r for r in snap.rows if r.status == Status.OK and r.score is not None and math.isfinite(r.score)
        ]
        best_line: list[list[float]] = []
        best: float | None = None
        for r in ok:
            if not r.flagged and (best is None or (r.score is not None and r.score > best)):
                best = r.score
                best_line.append([r.iteration, r.score, r.id])  # type: ignore[list-item]
        points: list[CandidateRow]
        sampled = len(ok) > max_points
        if sampled:
            # Keep each bucket's highest and lowest so the cloud's envelope survives the down-sampling.
            per = math.ceil(len(ok) / max(1, max_points // 2))
            points = []
            for i in range(0, len(ok), per):
                chunk = ok[i : i + per]
                hi = max(chunk, key=lambda r: r.score or 0.0)
                lo = min(chunk, key=lambda r: r.score or 0.0)
                points.extend([lo, hi] if lo.iteration < hi.iteration else [hi, lo])
        else:
            points = ok
        last_it = snap.rows[-1].iteration if snap.rows else 0
        doc = {
            "points": [[r.iteration, r.score, r.id, r.flagged] for r in points],
            "best": best_line,
            "ok": len(ok),
            "sampled": sampled,
            "last_iteration": last_it,
        }
        snap.memo[key] = doc
        return dict(doc)

    def lineage(self, run_id: int, limit: int = 1500, focus: int | None = None) -> dict[str, Any]:
        """The lineage tree: whole when it has at most ``limit`` nodes, else the subtree of the best candidates
        (plus those waiting for review and, with ``focus``, that candidate's ancestors and first children)."""
        limit = max(10, min(limit, 5000))
        snap = self.snapshot(run_id)
        key = ("lineage", limit, focus)
        if key in snap.memo:
            return dict(snap.memo[key])
        gens: dict[int, Counter[str]] = {}
        gen_best: dict[int, float] = {}
        for r in snap.rows:
            g = gens.get(r.generation)
            if g is None:
                g = gens[r.generation] = Counter()
            g[r.status.value] += 1
            if r.status == Status.OK and r.score is not None and not r.flagged and math.isfinite(r.score):
                gen_best[r.generation] = max(gen_best.get(r.generation, -math.inf), r.score)
        generations = [
            {"generation": g, "count": sum(c.values()), **dict(c), "best": gen_best.get(g)}
            for g, c in sorted(gens.items())
        ]
        if len(snap.rows) <= limit and focus is None:
            chosen = [r.id for r in snap.rows]
            mode = "full"
        else:
            mode = "top"
            picked: dict[int, None] = {}

            def take(cid: int) -> bool:
                # A node enters only with all its missing ancestors, and only if they all fit: the tree shown is
                # always closed under parents (a truncated chain would show orphans).
                chain: list[int] = []
                for a in snap.ancestors(cid):
                    if a in picked:
                        break
                    chain.append(a)
                if len(picked) + len(chain) > limit:
                    return False
                for a in reversed(chain):
                    picked[a] = None
                return len(picked) < limit

            if focus is not None:
                if focus not in snap.by_id:
                    raise UnknownCandidate(
                        f"candidate {focus} is not in run {run_id}", hint="pick a node of this run"
                    )
                take(focus)
                kids = [r.id for r in snap.rows if r.parent_id == focus][:200]
                for k in kids:
                    picked[k] = None
            seed = next((r for r in snap.rows if r.iteration == 0), None)
            if seed is not None:
                picked[seed.id] = None
            review = [r for r in snap.rows if r.status == Status.AWAITING_APPROVAL or r.flagged]
            for r in review[: limit // 10]:
                take(r.id)
            ranked = self._ranked(snap)
            for r in ranked:
                if not take(r.id):
                    break
            chosen = list(picked)
            chosen.sort(key=lambda cid: snap.by_id[cid].iteration)
        nodes = [_row_doc(snap.by_id[cid], snap.child_count.get(cid, 0)) for cid in chosen]
        doc = snap.memo[key] = {
            "mode": mode,
            "total": len(snap.rows),
            "shown": len(nodes),
            "nodes": nodes,
            "generations": [
                redact_obj({k: clean_number(v) if isinstance(v, float) else v for k, v in g.items()})
                for g in generations
            ],
        }
        return dict(doc)

    @staticmethod
    def _ranked(snap: Snapshot) -> list[CandidateRow]:
        """OK candidates, best score first (earliest wins ties); computed once per snapshot."""
        got: list[CandidateRow] | None = snap.memo.get("ranked")
        if got is None:
            scored = [r for r in snap.rows if r.status == Status.OK and r.score is not None]
            got = sorted(scored, key=lambda r: (-_finite(r.score), r.iteration))
            snap.memo["ranked"] = got
        return got

    def review_rows(self, run_id: int) -> list[CandidateRow]:
        snap = self.snapshot(run_id)
        got: list[CandidateRow] | None = snap.memo.get("review")
        if got is None:
            got = [r for r in snap.rows if r.status == Status.AWAITING_APPROVAL]
            got += [r for r in snap.rows if r.status == Status.OK and r.flagged]
            snap.memo["review"] = got
        return got

    def candidates(
        self,
        run_id: int,
        *,
        status: str | None = None,
        flagged: bool | None = None,
        sort: str = "iteration",
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        limit, offset = _page(limit, offset)
        snap = self.snapshot(run_id)
        rows: Sequence[CandidateRow] = snap.rows
        if status is not None:
            wanted = {s.strip() for s in status.split(",") if s.strip()}
            bad = wanted - {s.value for s in Status}
            if bad:
                raise ArchiveError(
                    f"unknown status {sorted(bad)}", hint=f"one of {[s.value for s in Status]}"
                )
            rows = [r for r in rows if r.status.value in wanted]
        if flagged is not None:
            rows = [r for r in rows if r.flagged == flagged]
        if sort == "score":
            if status is None and flagged is None:
                ranked = self._ranked(snap)
                rest = snap.memo.get("unranked")
                if rest is None:
                    rest = snap.memo["unranked"] = [
                        r for r in snap.rows if not (r.status == Status.OK and r.score is not None)
                    ]
                rows = ranked + rest
            else:
                rows = sorted(rows, key=lambda r: (r.score is None, -_finite(r.score), r.iteration))
        elif sort != "iteration":
            raise ArchiveError(f"unknown sort {sort!r}", hint="iteration or score")
        page = rows[offset : offset + limit]
        return {
            "items": [_row_doc(r, snap.child_count.get(r.id, 0)) for r in page],
            "total": len(rows),
            "limit": limit,
            "offset": offset,
        }

    def review(self, run_id: int, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """Candidates a human must decide on: awaiting approval, or evaluated with uncleared hacking flags."""
        limit, offset = _page(limit, offset)
        rows = self.review_rows(run_id)
        page = rows[offset : offset + limit]
        awaiting = [r for r in page if r.status == Status.AWAITING_APPROVAL]
        loaded: dict[int, Candidate] = {}
        if awaiting:
            # One query for the supervised ones (they lead the queue); flagged ones are rare, read one by one.
            first = sum(1 for r in rows[:offset] if r.status == Status.AWAITING_APPROVAL)
            for c in self.archive.candidates(
                run_id, status=Status.AWAITING_APPROVAL, limit=len(awaiting), offset=first
            ):
                if c.id is not None:
                    loaded[c.id] = c
        items = []
        for r in page:
            c = loaded.get(r.id) or self.archive.get_candidate(r.id)
            items.append(
                redact_obj(
                    {
                        **_row_doc(r),
                        "kind": "approval" if r.status == Status.AWAITING_APPROVAL else "flagged",
                        "reason": c.reason,
                        "flags": list(c.flags),
                        "reasons": list(c.verdict.get("reasons", [])),
                        "proposer": c.proposer,
                    }
                )
            )
        return {"items": items, "total": len(rows), "limit": limit, "offset": offset}

    def candidate(self, cid: int) -> dict[str, Any]:
        """One candidate with its code, diff against its parent, metrics, verdict, evaluation and errors."""
        c = self.archive.get_candidate(cid)
        diff = c.diff
        if diff is None and c.parent_id is not None:
            diff = unified_diff(self.archive.get_candidate(c.parent_id).program, c.program)
        doc = c.to_dict()
        doc["score"] = clean_number(c.score)
        doc["metrics"] = {k: clean_number(v) for k, v in c.metrics.items()}
        doc["diff"] = diff or ""
        files = {}
        for path, text in c.program.files.items():
            files[path] = (
                text if len(text) <= _MAX_CODE_CHARS else text[:_MAX_CODE_CHARS] + "\n[... truncated]\n"
            )
        doc["files"] = files
        snap = self._snaps.get(c.run_id)
        if snap is not None and cid in snap.by_id:
            doc["children"] = snap.child_count.get(cid, 0)
            doc["ancestors"] = snap.ancestors(cid)[1:]
        return dict(redact_obj(doc))

    def events(self, run_id: int, *, since: int = 0, limit: int = 100) -> dict[str, Any]:
        limit, since = _page(limit, since)
        from godel.telemetry import event_record

        evs = self.archive.events(run_id, since_seq=since, limit=limit)
        return {"items": [event_record(e) for e in evs], "since": since, "limit": limit}
