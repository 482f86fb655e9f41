"""The commands that run candidates: ``godel init | evolve | worker | try``."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from godel.candidate import Program
from godel.cli._app import app
from godel.cli._common import JsonOpt, StorageOpt, candidate_doc, emit_json, err, fmt, out
from godel.engine import WorkerConfig
from godel.errors import GodelError
from godel.noise import Noise
from godel.parts import Parts, build_parts, storage_url
from godel.progress import Progress, RunSummary
from godel.redact import redact
from godel.task import Task, load_task

__all__: list[str] = []


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
            f"best {fmt(p.best_score)} (seed {fmt(p.seed_score)})",
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
    parts = _built(task, storage, executor, ray_address)
    display = _Display(enabled=not as_json and err.is_terminal)
    with parts:
        engine = parts.engine(on_progress=display.update)
        try:
            with display:
                summary = engine.run(resume=resume, name=name)
        except KeyboardInterrupt:
            err.print("\ninterrupted: everything evaluated so far is stored; continue with --resume")
            raise typer.Exit(130) from None
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
    task = load_task(
        task_dir, set_ or (), _overrides(iterations, None, parallel, proposer, None, sandbox, allow_unsafe)
    )
    parts = _built(task, storage, executor, ray_address)
    with parts:
        runner = parts.worker(WorkerConfig(worker_id=worker_id or "", stale_after=stale_after))
        try:
            summary = runner.work(run)
        except KeyboardInterrupt:
            err.print("\ninterrupted: this worker's pending candidates will be taken over by the others")
            raise typer.Exit(130) from None
    _print_summary(summary, as_json, storage_url(storage, task.config))


def _built(task: Task, storage: str | None, executor: str | None, ray_address: str | None) -> Parts:
    """The parts of a run, after printing the notes and the unsafe warning the user must see."""
    parts = build_parts(task, storage, executor=executor, ray_address=ray_address)
    for note in parts.notes:
        err.print(f"[yellow]note:[/] {note}")
    if parts.sandbox.trusted:
        err.print(
            "[bold red]WARNING: candidates run WITHOUT containment (unsafe-subprocess): "
            "they can read your files and use the network.[/]"
        )
    return parts


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
        f"best score {fmt(doc['best_score'])} (candidate {doc['best_id']}) vs seed {fmt(doc['seed_score'])}; "
        f"valid proposals {p.valid_rate:.0%}; {p.evals_per_second:.1f} evaluations/s"
    )
    if summary.noise:
        out.print(f"evaluator noise: {Noise.from_dict(summary.noise).describe()}")
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
    with build_parts(task, storage, proposals=False) as parts:
        results = parts.engine().try_programs(programs)
    docs = [candidate_doc(c) | {"file": name} for name, c in results]
    if as_json:
        emit_json({"candidates": docs})
        return
    for d in docs:
        line = f"{d['file']}: candidate {d['id']} {d['status']}"
        line += f" score {fmt(d['score'])}" if d["status"] == "ok" else f" — {d['reason']}"
        out.print(redact(line))
        verdict = d.get("verdict") or {}
        if verdict:
            out.print(f"  guard: {verdict.get('decision')} {'; '.join(verdict.get('reasons', []))}")
        if d.get("flags"):
            out.print(f"  flags: {', '.join(d['flags'])}")
