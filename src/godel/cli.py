"""The ``godel`` command line.

Every read command takes ``--json`` and then prints exactly one JSON document on stdout. Errors print one line on
stderr naming the cause and the fix; the exit code is non-zero for user errors (2) and internal failures (1).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from godel._cliutil import emit_json, pick_run
from godel.archive import open_archive
from godel.archive._base import Archive
from godel.candidate import Candidate, Program, Status, unified_diff
from godel.engine import Engine
from godel.errors import ArchiveError, GodelError, UnknownCandidate
from godel.parts import Parts, build_parts, storage_url
from godel.progress import Progress, RunSummary
from godel.redact import redact
from godel.task import Task, load_task

__all__ = ["app", "main"]

app = typer.Typer(
    name="godel",
    help="Self-improving code: an LLM or local mutator proposes edits, a sandbox runs them, an archive keeps them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

StorageOpt = Annotated[
    str | None, typer.Option("--storage", help="archive URL (default: $GODEL_STORAGE or sqlite:///godel.db)")
]
RunOpt = Annotated[str | None, typer.Option("--run", help="run id or name (default: the latest run)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document")]


def _open_existing(storage: str | None) -> Archive:
    url = storage_url(storage)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            raise ArchiveError(
                f"no archive at {path}",
                hint="run `godel evolve TASK` first, or pass --storage / set GODEL_STORAGE",
            )
    return open_archive(url)


def _fmt(score: float | None) -> str:
    return "—" if score is None else f"{score:.6g}"


# -- init ---------------------------------------------------------------------------------------------------------


@app.command()
def init(directory: Annotated[Path, typer.Argument(help="folder to create")]) -> None:
    """Scaffold a task: a program with EVOLVE-BLOCK markers, an evaluator and a commented godel.toml."""
    if directory.exists() and any(directory.iterdir()):
        raise GodelError(f"{directory} exists and is not empty", hint="pick a new folder name")
    directory.mkdir(parents=True, exist_ok=True)
    src = resources.files("godel") / "templates" / "init"
    for name in ("initial_program.py", "evaluator.py", "godel.toml"):
        (directory / name).write_text((src / name).read_text())
    out.print(f"created task in {directory}: initial_program.py, evaluator.py, godel.toml")
    out.print(f"next: godel evolve {directory}")


# -- evolve -------------------------------------------------------------------------------------------------------


class _Display:
    """Live progress: iteration, best score, valid-proposal rate, evaluations/s."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.live: Live | None = None
        self._last = 0.0

    def __enter__(self) -> _Display:
        if self.enabled:
            self.live = Live(self._render(None), console=err, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def _render(self, p: Progress | None) -> Table:
        t = Table.grid(padding=(0, 2))
        if p is None:
            t.add_row("[bold]godel[/] evaluating the seed program...")
            return t
        t.add_row(
            f"[bold]{p.run_name}[/]",
            f"iteration {p.iteration}/{p.total}",
            f"best {_fmt(p.best_score)} (seed {_fmt(p.seed_score)})",
            f"valid {p.valid_rate:.0%}",
            f"{p.evals_per_second:.1f} eval/s",
            f"ok {p.ok} failed {p.failed} rejected {p.rejected}"
            + (f" awaiting {p.awaiting}" if p.awaiting else ""),
        )
        if p.last_reason:
            t.add_row("[dim]last failure[/]", f"[dim]{redact(p.last_reason)[:100]}[/]")
        return t

    def update(self, p: Progress) -> None:
        now = time.monotonic()
        if self.live is not None and (now - self._last > 0.1 or p.done == p.total):
            self._last = now
            self.live.update(self._render(p))


def _overrides(
    iterations: int | None,
    seed: int | None,
    parallel: int | None,
    proposer: str | None,
    selector: str | None,
    sandbox: str | None,
    allow_unsafe: bool,
) -> dict[str, dict[str, Any]]:
    extra: dict[str, dict[str, Any]] = {
        "run": {"iterations": iterations, "seed": seed, "parallel": parallel},
        "proposer": {"kind": proposer},
        "selector": {"name": selector},
        "sandbox": {"backend": sandbox},
    }
    if allow_unsafe:
        extra["sandbox"]["allow_unsafe"] = True
    return extra


@app.command()
def evolve(
    task_dir: Annotated[Path, typer.Argument(metavar="TASK", help="task folder")],
    storage: StorageOpt = None,
    iterations: Annotated[int | None, typer.Option(help="proposals after the seed")] = None,
    proposer: Annotated[str | None, typer.Option(help="llm | mutate | mix")] = None,
    selector: Annotated[
        str | None, typer.Option(help="dgm | fitness | tournament | greedy | best-of-n")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="random seed (runs with the same seed are reproducible)")
    ] = None,
    parallel: Annotated[int | None, typer.Option(help="candidates in flight")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue the task's latest run")] = False,
    name: Annotated[str | None, typer.Option(help="run name (default: the task name)")] = None,
    sandbox: Annotated[
        str | None, typer.Option(help="auto | zygote | exec | wasm | unsafe-subprocess")
    ] = None,
    allow_unsafe: Annotated[
        bool, typer.Option("--allow-unsafe", help="permit running candidates WITHOUT containment")
    ] = False,
    executor: Annotated[str | None, typer.Option(help="where evaluations run: local | ray")] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local one)")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a config key: section.key=value")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Evolve the task's program: select, propose, guard, evaluate in the sandbox, archive — until a budget ends."""
    task = load_task(
        task_dir,
        set_ or (),
        _overrides(iterations, seed, parallel, proposer, selector, sandbox, allow_unsafe),
    )
    parts, parts_kw = _runner_parts(task, storage, executor, ray_address)
    display = _Display(enabled=not as_json and err.is_terminal)
    engine = Engine(task, parts.archive, **parts_kw, on_progress=display.update)
    try:
        with display:
            summary = engine.run(resume=resume, name=name)
    except KeyboardInterrupt:
        err.print("\ninterrupted: everything evaluated so far is stored; continue with --resume")
        raise typer.Exit(130) from None
    finally:
        if (
            parts_kw["executor"] is not None
        ):  # a local executor wraps parts.sandbox, which parts.close() closes
            engine.executor.close()
        parts.close()
    _print_summary(summary, as_json, storage_url(storage, task.config))
    if summary.stopped == "infrastructure":
        err.print(
            f"[red]stopped: evaluations could not run ({summary.progress.last_reason}); "
            "nothing was lost — continue with --resume once `godel doctor` is happy[/]"
        )
        raise typer.Exit(1)
    if summary.progress.proposals > 0 and summary.progress.ok == 0:
        err.print(
            "[red]no proposal produced a valid, evaluated candidate: check `godel status` for the reasons[/]"
        )
        raise typer.Exit(1)


@app.command()
def worker(
    task_dir: Annotated[
        Path, typer.Argument(metavar="TASK", help="task folder (the same files on every machine)")
    ],
    storage: StorageOpt = None,
    run: Annotated[
        str | None, typer.Option("--run", help="run to join (default: the task's latest run)")
    ] = None,
    iterations: Annotated[
        int | None, typer.Option(help="the run's iteration budget, shared by all workers")
    ] = None,
    proposer: Annotated[str | None, typer.Option(help="llm | mutate | mix")] = None,
    parallel: Annotated[int | None, typer.Option(help="candidates in flight in this worker")] = None,
    worker_id: Annotated[
        str | None, typer.Option("--id", help="worker name (default: host:pid:random)")
    ] = None,
    stale_after: Annotated[
        float, typer.Option(help="seconds without heartbeat before a claim is taken over")
    ] = 30.0,
    executor: Annotated[str | None, typer.Option(help="where evaluations run: local | ray")] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local one)")
    ] = None,
    sandbox: Annotated[
        str | None, typer.Option(help="auto | zygote | exec | wasm | unsafe-subprocess")
    ] = None,
    allow_unsafe: Annotated[bool, typer.Option("--allow-unsafe")] = False,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a config key: section.key=value")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Work on a run together with other workers sharing the archive (PostgreSQL for several machines)."""
    from godel.engine import Worker, WorkerConfig

    task = load_task(
        task_dir, set_ or (), _overrides(iterations, None, parallel, proposer, None, sandbox, allow_unsafe)
    )
    parts, parts_kw = _runner_parts(task, storage, executor, ray_address)
    runner = Worker(
        task,
        parts.archive,
        **parts_kw,
        worker=WorkerConfig(worker_id=worker_id or "", stale_after=stale_after),
    )
    try:
        summary = runner.work(run)
    except KeyboardInterrupt:
        err.print("\ninterrupted: this worker's pending candidates will be taken over by the others")
        raise typer.Exit(130) from None
    finally:
        if (
            parts_kw["executor"] is not None
        ):  # a local executor wraps parts.sandbox, which parts.close() closes
            runner.executor.close()
        parts.close()
    _print_summary(summary, as_json, storage_url(storage, task.config))


def _runner_parts(
    task: Task, storage: str | None, executor: str | None, ray_address: str | None
) -> tuple[Parts, dict[str, Any]]:
    """The parts of a run and the Engine/Worker keyword arguments they make; prints notes and the unsafe warning."""
    parts = build_parts(task, storage)
    for note in parts.notes:
        err.print(f"[yellow]note:[/] {note}")
    if parts.sandbox.trusted:
        err.print(
            "[bold red]WARNING: candidates run WITHOUT containment (unsafe-subprocess): "
            "they can read your files and use the network.[/]"
        )
    runner_executor = _executor(executor, task, parts, ray_address)
    return parts, {
        "proposer": parts.proposer,
        "selector_factory": parts.selector_factory,
        "sandbox": parts.sandbox,
        "guard": parts.guard,
        "executor": runner_executor,
    }


def _executor(name: str | None, task: Task, parts: Parts, address: str | None) -> Any:
    """None for the local executor (the engine wraps the parts' sandbox); flags win over ``[run]``."""
    name = name or task.config.run.executor
    address = address or task.config.run.ray_address
    if name == "local" and address is None:
        return None
    from godel.executor import RemoteProposer, make_executor

    built = make_executor(name, task, task.config.sandbox, task.config.run.parallel, address=address)
    if task.config.run.remote_proposals:
        if not hasattr(built, "propose"):
            built.close()
            raise GodelError(
                f"run.remote_proposals needs an executor that can propose; {name!r} cannot",
                hint="use --executor ray, or set run.remote_proposals = false",
            )
        parts.proposer = RemoteProposer(built, getattr(parts.proposer, "name", "remote"))
    return built


def _print_summary(summary: RunSummary, as_json: bool, url: str) -> None:
    doc = summary.to_dict()
    doc["storage"] = url
    if as_json:
        emit_json(doc)
        return
    p = summary.progress
    out.print(
        f"run [bold]{summary.run_name}[/] (id {summary.run_id}) stopped on {summary.stopped}: "
        f"{p.done} candidates, {p.ok} ok, {p.failed} failed, {p.rejected} rejected"
        + (f", {p.awaiting} awaiting approval" if p.awaiting else "")
    )
    out.print(
        f"best score {_fmt(doc['best_score'])} (candidate {doc['best_id']}) vs seed {_fmt(doc['seed_score'])}; "
        f"valid proposals {p.valid_rate:.0%}; {p.evals_per_second:.1f} evaluations/s"
    )
    out.print(f"see: godel best --storage {url}   godel status --storage {url}")


# -- try ----------------------------------------------------------------------------------------------------------


@app.command("try")
def try_(
    task_dir: Annotated[Path, typer.Argument(metavar="TASK", help="task folder")],
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="programs to evaluate")],
    storage: StorageOpt = None,
    sandbox: Annotated[str | None, typer.Option(help="sandbox backend")] = None,
    allow_unsafe: Annotated[bool, typer.Option("--allow-unsafe")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate given programs as children of the seed through the full pipeline and print their results."""
    task = load_task(task_dir, set_ or (), _overrides(None, None, None, None, None, sandbox, allow_unsafe))
    programs: list[tuple[str, Program]] = []
    for f in files:
        if not f.is_file():
            raise GodelError(f"{f} is not a file", hint="pass the path of a program to evaluate")
        if task.mode == "folder":
            raise GodelError(
                "`godel try` takes single files; this task evolves a folder", hint="try a single-file task"
            )
        programs.append((str(f), task.program.replace(task.program.main_path, f.read_text())))
    parts = build_parts(task, storage, proposals=False)
    try:
        engine = Engine(
            task,
            parts.archive,
            proposer=parts.proposer,
            selector_factory=parts.selector_factory,
            sandbox=parts.sandbox,
            guard=parts.guard,
        )
        results = engine.try_programs(programs)
    finally:
        parts.close()
    docs = [_candidate_doc(c) | {"file": name} for name, c in results]
    if as_json:
        emit_json({"candidates": docs})
        return
    for d in docs:
        line = f"{d['file']}: candidate {d['id']} {d['status']}"
        line += f" score {_fmt(d['score'])}" if d["status"] == "ok" else f" — {d['reason']}"
        out.print(redact(line))
        verdict = d.get("verdict") or {}
        if verdict:
            out.print(f"  guard: {verdict.get('decision')} {'; '.join(verdict.get('reasons', []))}")
        if d.get("flags"):
            out.print(f"  flags: {', '.join(d['flags'])}")


def _candidate_doc(c: Candidate) -> dict[str, Any]:
    d = c.summary()
    d["metrics"] = dict(c.metrics)
    d["verdict"] = dict(c.verdict)
    d["artifacts"] = {k: v[-500:] for k, v in c.artifacts.items()}
    return d


# -- read commands ------------------------------------------------------------------------------------------------


@app.command()
def status(storage: StorageOpt = None, run: RunOpt = None, as_json: JsonOpt = False) -> None:
    """Runs in the archive and the state of one (counts, best score, recent failures)."""
    archive = _open_existing(storage)
    try:
        info = pick_run(archive, run)
        totals = archive.stats(info.id)
        counts = dict(totals.counts)
        best = archive.best(info.id)
        seed = archive.candidates(info.id, limit=1)
        failures = [
            {"id": c.id, "iteration": c.iteration, "stage": c.failure_stage, "reason": c.reason}
            for c in archive.candidates(info.id, status=[Status.FAILED, Status.REJECTED])[-5:]
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
            "recent_failures": failures,
        }
    finally:
        archive.close()
    if as_json:
        emit_json(doc)
        return
    out.print(f"archive {doc['storage']}: {len(doc['runs'])} run(s)")
    out.print(f"run [bold]{info.name}[/] (id {info.id}, task {info.task}, {info.status})")
    out.print("  " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    out.print(
        f"  seed score {_fmt(doc['seed_score'])}; best {_fmt(best.score if best else None)}"
        + (f" (candidate {best.id})" if best else "")
    )
    for f in failures:
        out.print(redact(f"  #{f['id']} {f['stage']}: {f['reason']}"[:160]))


@app.command()
def best(
    storage: StorageOpt = None,
    run: RunOpt = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="write the best program here")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The best candidate of a run (flagged candidates excluded until a human clears them)."""
    archive = _open_existing(storage)
    try:
        info = pick_run(archive, run)
        cand = archive.best(info.id)
    finally:
        archive.close()
    if cand is None:
        raise GodelError(f"run {info.name} has no successfully evaluated candidate yet")
    if out_file is not None:
        if len(cand.program.files) == 1:
            out_file.write_text(next(iter(cand.program.files.values())))
        else:
            for rel, text in cand.program.files.items():
                target = out_file / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    if as_json:
        emit_json(_candidate_doc(cand) | {"files": dict(cand.program.files), "out": str(out_file or "")})
        return
    out.print(
        f"best of run {info.name}: candidate {cand.id} (iteration {cand.iteration}) score {_fmt(cand.score)}"
    )
    out.print("  " + ", ".join(f"{k}={v:.6g}" for k, v in cand.metrics.items()))
    if out_file is not None:
        out.print(f"written to {out_file}")
    else:
        for rel, text in cand.program.files.items():
            out.print(f"[dim]--- {rel}[/]")
            out.print(text, markup=False, highlight=False)


def _get(archive: Archive, cid: str) -> Candidate:
    if not cid.isdigit():
        raise UnknownCandidate(f"candidate id must be a number, got {cid!r}")
    return archive.get_candidate(int(cid))


@app.command()
def show(
    candidate_id: Annotated[str, typer.Argument(metavar="ID")],
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One candidate: code, diff against its parent, metrics, verdict, errors."""
    archive = _open_existing(storage)
    try:
        cand = _get(archive, candidate_id)
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
        f"parent {cand.parent_id}: [bold]{cand.status.value}[/] score {_fmt(cand.score)}"
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
    archive = _open_existing(storage)
    try:
        chain = archive.lineage(_get(archive, candidate_id).id or 0)
    finally:
        archive.close()
    docs = [c.summary() for c in chain]
    if as_json:
        emit_json({"lineage": docs})
        return
    for depth, c in enumerate(chain):
        out.print(
            f"{'  ' * depth}#{c.id} it{c.iteration} {c.proposer} {c.status.value} score {_fmt(c.score)}"
        )


# -- entry point --------------------------------------------------------------------------------------------------


def _register_extensions() -> None:
    """Commands owned by subpackages (guard, sandbox, telemetry...) register themselves here."""
    from godel.dashboard._cli import register as register_dashboard
    from godel.guard._cli import register as register_guard
    from godel.sandbox._cli import register as register_sandbox
    from godel.telemetry._cli import register as register_events

    register_guard(app, _open_existing)
    register_sandbox(app)
    register_events(app, _open_existing)
    register_dashboard(app, _open_existing)


def main() -> None:
    _register_extensions()
    try:
        app(standalone_mode=False)
    except GodelError as exc:
        err.print(f"[red]error:[/] {redact(str(exc))}", markup=True, highlight=False)
        sys.exit(2 if exc.user_error else 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
