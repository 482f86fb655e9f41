"""The read commands: ``godel status | list | best | show | lineage``, and the archive check of ``godel doctor
--archive``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from godel._storage import storage_url
from godel.cli._app import app
from godel.cli._common import (
    JsonOpt,
    RunOpt,
    StorageOpt,
    candidate_doc,
    emit_json,
    fmt,
    get_candidate,
    open_existing,
    out,
    pick_run,
)
from godel.errors import GodelError, UsageError
from godel.redact import redact

# The candidate model, the guard and the archive are imported inside the commands: every invocation of the CLI
# (`godel --help` too) loads this module.

__all__ = ["archive_doctor"]


@app.command()
def status(
    storage: StorageOpt = None,
    run: RunOpt = None,
    tiers: Annotated[
        bool,
        typer.Option("--tiers", help="grade the run's candidates into quality tiers (reads every score)"),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Runs in the archive and the state of one (counts, best score, recent failures, warm start, tiers)."""
    if as_json and not tiers:
        # What a poller asks for, answered from a SQLite file without loading the archive (see quick_status);
        # None when only the full archive can (another database, an older schema, an error to word).
        from godel.archive import quick_status

        quick = quick_status(storage_url(storage), run)
        if quick is not None:
            emit_json(quick)
            return
    from godel.candidate import Status

    archive = open_existing(storage)
    try:
        info = pick_run(archive, run)
        totals = archive.stats(info.id)
        counts = dict(totals.counts)
        best = archive.best(info.id)
        seed = archive.candidates(info.id, limit=1)
        # Only the last five failures are decoded (the counts say how many there are): a long run has thousands.
        failed = counts.get(Status.FAILED.value, 0) + counts.get(Status.REJECTED.value, 0)
        failures = [
            {"id": c.id, "iteration": c.iteration, "stage": c.failure_stage, "reason": c.reason}
            for c in archive.candidates(
                info.id, status=[Status.FAILED, Status.REJECTED], limit=5, offset=max(0, failed - 5)
            )
        ]
        doc: dict[str, Any] = {
            "storage": archive.url,
            "runs": [
                {"id": r.id, "name": r.name, "task": r.task, "status": r.status} for r in archive.runs()
            ],
            "run": {
                "id": info.id,
                "name": info.name,
                "task": info.task,
                "status": info.status,
                "meta": info.meta,
            },
            "counts": counts,
            "total": totals.total,
            "flagged": totals.flagged,
            "tokens": totals.tokens,
            "cost": totals.cost,
            "seed_score": seed[0].score if seed else None,
            "best": best.summary() if best else None,
            "noise": info.meta.get("noise"),
            "recent_failures": failures,
            "warm_start": info.meta.get("warm_start"),
        }
        if tiers:
            from godel.learn import grade, tier_counts

            graded = grade(archive.candidates(info.id, status=Status.OK))
            doc["tiers"] = tier_counts(graded)
    finally:
        archive.close()
    if as_json:
        emit_json(doc)
        return
    out.print(f"archive {doc['storage']}: {len(doc['runs'])} run(s)")
    out.print(f"run [bold]{info.name}[/] (id {info.id}, task {info.task}, {info.status})")
    proposals = max(0, totals.total - 1)
    out.print(f"  {proposals} proposals + seed: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    out.print(
        f"  seed score {fmt(doc['seed_score'])}; best {fmt(best.score if best else None)}"
        + (f" (candidate {best.id})" if best else "")
    )
    if isinstance(doc["noise"], dict):
        from godel.noise import Noise

        out.print(f"  evaluator noise: {Noise.from_dict(doc['noise']).describe()}")
    warm = doc["warm_start"]
    if isinstance(warm, dict):
        out.print(
            f"  warm start from run {warm.get('run_name')}: {len(warm.get('candidates', []))} candidate(s) of "
            + "+".join(warm.get("tiers", []))
            + " (source tiers: "
            + ", ".join(f"{k} {v}" for k, v in dict(warm.get("counts", {})).items())
            + ")",
            markup=False,
        )
    if "tiers" in doc:
        out.print("  tiers: " + ", ".join(f"{k} {v}" for k, v in doc["tiers"].items()), markup=False)
    for f in failures:
        out.print(redact(f"  #{f['id']} {f['stage']}: {f['reason']}"[:160]))


@app.command("list")
def list_(
    storage: StorageOpt = None,
    run: RunOpt = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="only candidates with this status: ok | failed | rejected | pending | awaiting_approval"
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, the latest")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The candidates of a run, latest last: id, iteration, status, score, proposer and why it failed."""
    from godel.candidate import Status

    wanted: Status | None = None
    if status is not None:
        try:
            wanted = Status(status)
        except ValueError:
            raise UsageError(
                f"--status {status!r} is not a candidate status",
                hint="use one of " + ", ".join(s.value for s in Status),
            ) from None
    archive = open_existing(storage)
    try:
        info = pick_run(archive, run)
        total = archive.count(info.id, wanted)
        cands = archive.candidates(info.id, status=wanted, offset=max(0, total - limit), limit=limit)
    finally:
        archive.close()
    rows = [
        {
            "id": c.id,
            "iteration": c.iteration,
            "parent_id": c.parent_id,
            "status": c.status.value,
            "score": c.score,
            "proposer": c.proposer,
            "flags": list(c.flags),
            "reason": c.reason,
        }
        for c in cands
    ]
    if as_json:
        emit_json({"run": info.name, "total": total, "candidates": rows})
        return
    out.print(
        f"run {info.name}: {len(rows)} of {total} candidate(s)" + (f" with status {status}" if status else "")
    )
    for c in cands:
        line = f"  #{c.id:<6} it {c.iteration:<5} {c.status.value:<17} {fmt(c.score):>10}  {c.proposer}"
        if c.flags:
            line += f"  flagged: {'; '.join(c.flags)}"
        elif c.reason:
            line += f"  {c.reason}"
        out.print(redact(line)[:200], markup=False, highlight=False)


@app.command()
def best(
    storage: StorageOpt = None,
    run: RunOpt = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="write the best program here")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The best candidate of a run (flagged candidates excluded until a human clears them)."""
    archive = open_existing(storage)
    try:
        info = pick_run(archive, run)
        cand = archive.best(info.id)
    finally:
        archive.close()
    if cand is None:
        raise GodelError(f"run {info.name} has no successfully evaluated candidate yet")
    patch = _patch_files(cand)
    if out_file is not None and patch is not None:
        # A test-evolution run: the result is a patch on the user's tree, only the files it changed.
        _write_patch(cand, patch, out_file, archive_url=info.name)
    elif out_file is not None:
        if len(cand.program.files) == 1:
            out_file.write_text(next(iter(cand.program.files.values())))
        else:
            for rel, text in cand.program.files.items():
                target = out_file / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    if as_json:
        emit_json(candidate_doc(cand) | {"files": dict(cand.program.files), "out": str(out_file or "")})
        return
    out.print(
        f"best of run {info.name}: candidate {cand.id} (iteration {cand.iteration}) score {fmt(cand.score)}"
    )
    out.print("  " + ", ".join(f"{k}={v:.6g}" for k, v in cand.metrics.items()))
    if out_file is not None:
        out.print(
            f"written to {out_file}" + (f" ({len(patch)} changed file(s) and changes.patch)" if patch else "")
        )
    else:
        for rel, text in cand.program.files.items():
            out.print(f"[dim]--- {rel}[/]")
            out.print(text, markup=False, highlight=False)


def _patch_files(cand: Any) -> list[str] | None:
    """The files a test-evolution candidate changed against the user's tree (None: another kind of run)."""
    import json

    raw = cand.artifacts.get("changed_files")
    if raw is None or "gates" not in cand.artifacts:
        return None
    files = json.loads(raw)
    return [str(f) for f in files] if isinstance(files, list) else None


def _write_patch(cand: Any, paths: list[str], target: Path, archive_url: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for rel in paths:
        if rel in cand.program.files:
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(cand.program.files[rel])
    (target / "changes.patch").write_text(cand.diff or "")


def _print_gates(raw: str) -> None:
    import json

    try:
        gates = json.loads(raw)
    except ValueError:
        out.print(redact(raw), markup=False, highlight=False)
        return
    for g in gates if isinstance(gates, list) else []:
        mark = "pass" if g.get("passed") else "FAIL"
        out.print(redact(f"  {mark:<4} {g.get('name')}: {g.get('measured')}"), markup=False, highlight=False)


@app.command()
def show(
    candidate_id: Annotated[str, typer.Argument(metavar="ID")],
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One candidate: code, diff against its parent, metrics, verdict, errors."""
    from godel.candidate import unified_diff

    archive = open_existing(storage)
    try:
        cand = get_candidate(archive, candidate_id, storage)
        parent = archive.get_candidate(cand.parent_id) if cand.parent_id is not None else None
    finally:
        archive.close()
    diff = (
        cand.diff if cand.diff is not None else unified_diff(parent.program if parent else None, cand.program)
    )
    if as_json:
        doc = cand.to_dict()
        doc["diff"] = diff
        emit_json(doc)
        return
    out.print(
        f"candidate {cand.id} (run {cand.run_id}, iteration {cand.iteration}, generation {cand.generation}) "
        f"parent {cand.parent_id}: [bold]{cand.status.value}[/] score {fmt(cand.score)}"
    )
    out.print(f"proposer {cand.proposer}" + (f" model {cand.model}" if cand.model else ""))
    if cand.reason:
        out.print(redact(f"reason: {cand.reason}"), markup=False)
    if cand.metrics:
        out.print("metrics: " + ", ".join(f"{k}={v:.6g}" for k, v in cand.metrics.items()))
    if cand.verdict:
        out.print(f"guard: {cand.verdict.get('decision')} {'; '.join(cand.verdict.get('reasons', []))}")
    if cand.flags:
        out.print(f"flags: {', '.join(cand.flags)}")
    for key, text in cand.artifacts.items():
        out.print(f"[dim]--- artifact {key}[/]")
        if key == "gates":
            _print_gates(text)
            continue
        out.print(redact(text), markup=False, highlight=False)
    out.print("[dim]--- diff against parent[/]")
    out.print(diff or "(no change)", markup=False, highlight=False)
    out.print("[dim]--- code[/]")
    for rel, text in cand.program.files.items():
        out.print(f"[dim]{rel}[/]")
        out.print(text, markup=False, highlight=False)


@app.command()
def lineage(
    candidate_id: Annotated[str, typer.Argument(metavar="ID")],
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The chain of ancestors from the seed to a candidate, with scores."""
    archive = open_existing(storage)
    try:
        chain = archive.lineage(get_candidate(archive, candidate_id, storage).id or 0)
    finally:
        archive.close()
    docs = [c.summary() for c in chain]
    if as_json:
        emit_json({"lineage": docs})
        return
    for depth, c in enumerate(chain):
        out.print(f"{'  ' * depth}#{c.id} it{c.iteration} {c.proposer} {c.status.value} score {fmt(c.score)}")


def archive_doctor(
    storage: str,
    *,
    public_keys: list[Path] | None = None,
    checkpoints: Path | None = None,
    as_json: bool = False,
) -> None:
    """``godel doctor --archive URL``: the full check of an archive. SQLite's ``integrity_check`` (every page and
    index) or a read-through of every PostgreSQL table, then the audit trail of every run (chains, signed
    checkpoints, candidate rows against their events). Exit code 3 when either finds a problem."""
    from godel.cli._guard import report_trail, trusted_keys
    from godel.guard import check_archive, read_log

    keys = trusted_keys(public_keys)
    witness = read_log(checkpoints).checkpoints if checkpoints is not None else []
    archive = open_existing(storage)
    try:
        report = check_archive(archive, keys, witness=witness)
    finally:
        archive.close()
    report_trail(report, as_json)
