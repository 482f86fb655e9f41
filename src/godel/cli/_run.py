"""The commands that run candidates: ``godel init | evolve | worker | try``."""

from __future__ import annotations

import os
import sys
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from godel.cli._app import app
from godel.cli._common import JsonOpt, StorageOpt, candidate_doc, emit_json, err, fmt, out, pick_run
from godel.errors import GodelError, UnknownRun, UsageError
from godel.redact import redact

# The engine, the parts and the task loader are imported by the commands that run, not here: `godel --help` and
# the read commands load this module too, and these imports are most of a second.
if TYPE_CHECKING:
    from rich.live import Live
    from rich.text import Text

    from godel.candidate import Program
    from godel.engine import Engine
    from godel.parts import Parts
    from godel.progress import Progress, RunSummary
    from godel.task import Task

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


def _warm_plan(engine: Engine, source: str, tiers: str, size: int | None) -> dict[str, Any]:
    from godel.learn import TIERS, plan_warm_start

    names = [t.strip().upper() for t in tiers.split(",") if t.strip()]
    bad = [t for t in names if t not in {x.value for x in TIERS}]
    if bad or not names:
        raise UsageError(
            f"--warm-tiers {tiers!r}: unknown tier {', '.join(bad) or '(none given)'}",
            hint="use EXCELLENT, GOOD, FAIR and/or POOR, comma-separated",
        )
    try:
        run = pick_run(engine.archive, source.strip())
    except UnknownRun as exc:
        raise UsageError(
            f"--warm-start {source}: no such run in {engine.archive.url}",
            hint="name a run (or its id) of the same archive: `godel status --run NAME --storage URL` shows one",
        ) from exc
    limit = size if size is not None else max(1, min(8, engine.task.config.run.iterations // 4))
    # The engine's own duplicate rule, so the plan never admits two programs the run would call the same code.
    plan = plan_warm_start(engine.archive, run, limit=limit, tiers=names, same_code=engine.stages.same_code)
    counts = ", ".join(f"{k} {v}" for k, v in plan.counts.items())
    err.print(
        f"warm start from run {plan.run_name}: {len(plan.candidate_ids)} candidate(s) of tiers {'+'.join(names)} "
        f"re-evaluated first (its tiers: {counts})",
        markup=False,
    )
    return plan.to_dict()


# -- evolve -------------------------------------------------------------------------------------------------------


def _progress_lines(p: Progress, width: int) -> list[str]:
    """What the progress display says, as short lines that fit ``width`` columns (80 at least is assumed)."""
    elapsed = time.monotonic() - p.started
    rate = p.done / elapsed if elapsed > 0 else 0.0
    eta = f", ETA {(p.total - p.done) / rate:.0f} s" if rate > 0 and p.done < p.total else ""
    lines = [
        f"{p.run_name}: proposal {p.done}/{p.total}, best {fmt(p.best_score)} (seed {fmt(p.seed_score)})",
        f"ok {p.ok}, failed {p.failed}, rejected {p.rejected}"
        + (f", awaiting {p.awaiting}" if p.awaiting else "")
        + f"; {rate:.2f} proposals/s{eta}",
    ]
    if p.last_reason:
        lines.append(f"last failure: {redact(p.last_reason)}")
    return [line if len(line) <= width else line[: max(10, width - 1)] + "…" for line in lines]


class _Display:
    """Progress while a run goes: a live panel on a terminal; on anything else (a file, a pipe) one plain line at a
    steady interval (``GODEL_PROGRESS_SECONDS``, default 10), so a redirected run is never silent."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.live: Live | None = None
        self._last = 0.0
        self._interval = float(os.environ.get("GODEL_PROGRESS_SECONDS", "10") or 10)
        self._latest: Progress | None = None
        self._last_done = -1  # the last count printed as a plain line

    def __enter__(self) -> _Display:
        if self.quiet:
            return self
        if err.is_terminal:
            from rich.live import Live

            self.live = Live(self._render(None), console=err, refresh_per_second=4, transient=False)
            self.live.__enter__()
        else:
            self._plain("godel: evaluating the seed program (and measuring the evaluator's noise)...")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
        elif not self.quiet and self._latest is not None and self._latest.done != self._last_done:
            self._plain("; ".join(_progress_lines(self._latest, 10_000)[:2]))

    def _render(self, p: Progress | None) -> Text:
        from rich.text import Text

        if p is None:
            return Text("godel: evaluating the seed program (and measuring the evaluator's noise)...")
        width = max(40, err.size.width - 1)
        text = Text()
        for i, line in enumerate(_progress_lines(p, width)):
            text.append(("\n" if i else "") + line, style="dim" if line.startswith("last failure") else "")
        text.no_wrap = True
        return text

    def _plain(self, line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def update(self, p: Progress) -> None:
        self._latest = p
        now = time.monotonic()
        if self.live is not None:
            if now - self._last > 0.1 or p.done == p.total:
                self._last = now
                self.live.update(self._render(p))
        elif not self.quiet and (now - self._last >= self._interval or p.done == p.total):
            self._last = now
            self._last_done = p.done
            self._plain("; ".join(_progress_lines(p, 10_000)[:2]))


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
    proposer: Annotated[
        str | None, typer.Option(help="llm | mutate | mix; with --mode tests: ghostwriter | model | dir")
    ] = None,
    selector: Annotated[
        str | None,
        typer.Option(help="dgm | fitness | tournament | greedy | best-of-n | islands | map-elites"),
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
    warm_start: Annotated[
        str | None,
        typer.Option(
            "--warm-start",
            metavar="RUN",
            help="start from an earlier run (name or id, same archive): its best tiers are re-evaluated first",
        ),
    ] = None,
    warm_tiers: Annotated[
        str,
        typer.Option(
            help="with --warm-start: the tiers admitted, comma-separated (EXCELLENT,GOOD,FAIR,POOR)"
        ),
    ] = "EXCELLENT,GOOD",
    warm_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="with --warm-start: at most this many candidates (default: a quarter of the budget, 8 at most)",
        ),
    ] = None,
    agent: Annotated[
        Path | None,
        typer.Option(
            "--agent",
            metavar="DIR",
            help="propose with a coding agent (e.g. one `godel self-improve --export` wrote), brokered",
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            help="program: evolve TASK's program | tests: evolve the tests of the project TASK ([tests] stage A/B)"
        ),
    ] = "program",
    as_json: JsonOpt = False,
) -> None:
    """Evolve the task's program: select, propose, guard, evaluate in the sandbox, archive — until a budget ends."""
    from godel.parts import storage_url
    from godel.task import load_task

    if mode not in ("program", "tests"):
        raise UsageError(f"--mode {mode!r}: unknown", hint="use program or tests")
    if mode == "tests":
        from godel.testkit import load_project, testkit_parts

        extra = _overrides(iterations, seed, parallel, None, selector, sandbox, allow_unsafe)
        if proposer is not None:
            extra["tests"] = {"proposer": proposer}
        task = load_project(task_dir, set_ or (), extra)
        parts = testkit_parts(task, storage)
        for note in parts.notes:
            err.print(f"[yellow]note:[/] {note}", markup=True)
    else:
        task = load_task(
            task_dir,
            set_ or (),
            _overrides(iterations, seed, parallel, proposer, selector, sandbox, allow_unsafe),
        )
        parts = _built(task, storage, executor, ray_address, agent)
    display = _Display(quiet=as_json)
    with parts:
        engine = parts.engine(on_progress=display.update)
        warm = _warm_plan(engine, warm_start, warm_tiers, warm_size) if warm_start else None
        try:
            with display:
                summary = engine.run(resume=resume, name=name, warm_start=warm)
        except KeyboardInterrupt:
            err.print("\ninterrupted: everything evaluated so far is stored; continue with --resume")
            raise typer.Exit(130) from None
    conclude(summary, as_json, storage_url(storage, task.config))


def conclude(summary: RunSummary, as_json: bool, url: str) -> None:
    """Print a finished run's summary and end with its exit code: 1 when the run stopped on broken
    infrastructure, a lost lease or an unreachable model, or when no proposal produced a valid candidate."""
    _print_summary(summary, as_json, url)
    if summary.stopped == "lease lost":
        err.print(
            "stopped: another process took this run over (this one stalled longer than its lease); it drives the "
            "run now",
            style="red",
            markup=False,
        )
        raise typer.Exit(1)
    if summary.stopped == "model endpoint":
        err.print(
            f"stopped: the model endpoint was unreachable ({summary.reason}); nothing was lost — check "
            "[[llm.models]] and the server, then continue with --resume",
            style="red",
            markup=False,
        )
        raise typer.Exit(1)
    if summary.stopped == "infrastructure":
        err.print(
            f"stopped: evaluations could not run ({summary.reason or summary.progress.last_reason}); nothing was "
            "lost — continue with --resume once `godel doctor` is happy",
            style="red",
            markup=False,
        )
        raise typer.Exit(1)
    if summary.progress.proposals > 0 and summary.progress.ok == 0:
        err.print(
            f"no proposal produced a valid, evaluated candidate: `godel list --storage {url}` shows why each failed",
            style="red",
            markup=False,
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
    self_improve: Annotated[
        bool,
        typer.Option("--self-improve", help="TASK is an agent folder: join a `godel self-improve` run"),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Work on a run together with other workers sharing the archive (PostgreSQL for several machines)."""
    from godel.engine import WorkerConfig
    from godel.parts import storage_url
    from godel.task import load_task

    extra = _overrides(iterations, None, parallel, proposer, None, sandbox, allow_unsafe)
    if self_improve:
        from godel.agents import agent_parts, load_agent

        task = load_agent(task_dir, set_ or (), extra)
        parts = agent_parts(task, storage)
        for note in parts.notes:
            err.print(f"[yellow]note:[/] {note}")
    else:
        task = load_task(task_dir, set_ or (), extra)
        parts = _built(task, storage, executor, ray_address)
    with parts:
        runner = parts.worker(WorkerConfig(worker_id=worker_id or "", stale_after=stale_after))
        try:
            summary = runner.work(run)
        except KeyboardInterrupt:
            err.print("\ninterrupted: this worker's pending candidates will be taken over by the others")
            raise typer.Exit(130) from None
    _print_summary(summary, as_json, storage_url(storage, task.config))


def _built(
    task: Task, storage: str | None, executor: str | None, ray_address: str | None, agent: Path | None = None
) -> Parts:
    """The parts of a run, after printing the notes and the unsafe warning the user must see."""
    if agent is not None:
        from godel.agents import evolve_parts

        parts = evolve_parts(task, agent, storage, executor=executor, ray_address=ray_address)
    else:
        from godel.parts import build_parts

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
        f"{p.done} proposals + seed — {p.ok} ok, {p.failed} failed, {p.rejected} rejected"
        + (f", {p.awaiting} awaiting approval" if p.awaiting else "")
    )
    failed_evaluation = p.valid_proposals - p.ok - p.rejected - p.awaiting
    out.print(
        f"best score {fmt(doc['best_score'])} (candidate {doc['best_id']}) vs seed {fmt(doc['seed_score'])}; "
        f"{p.valid_proposals} of {p.proposals} proposals produced a program "
        f"({max(0, failed_evaluation)} of those failed evaluation); {p.evals_per_second:.1f} evaluations/s"
    )
    if summary.noise:
        from godel.noise import Noise

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
    from godel.parts import build_parts
    from godel.task import load_task

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
