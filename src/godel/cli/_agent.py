"""``godel self-improve``: a coding agent that rewrites itself, scored on HumanEval (docs/self-improve.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from godel.cli._app import app
from godel.cli._common import JsonOpt, StorageOpt, emit_json, err, open_existing, out, pick_run
from godel.cli._run import _Display, _overrides, conclude
from godel.errors import GodelError, UsageError

if TYPE_CHECKING:  # the command imports its heavy parts when it runs: `godel --help` stays fast
    from godel.parts import Parts
    from godel.task import Task


@app.command("self-improve")
def self_improve(
    agent_dir: Annotated[
        Path | None,
        typer.Argument(metavar="AGENT_DIR", help="the agent folder (default: godel's seed agent)"),
    ] = None,
    storage: StorageOpt = None,
    iterations: Annotated[int | None, typer.Option(help="self-improvement steps after the seed")] = None,
    proposer: Annotated[
        str | None, typer.Option(help="llm (the agent writes its child) | mutate | mix")
    ] = None,
    selector: Annotated[
        str | None, typer.Option(help="dgm (default) | greedy (no open-ended exploration) | ...")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="random seed")] = None,
    self_modify: Annotated[
        bool,
        typer.Option(
            "--self-modify/--no-self-modify",
            help="--no-self-modify (ablation): the seed agent writes every child",
        ),
    ] = True,
    resume: Annotated[bool, typer.Option("--resume", help="continue the agent's latest run")] = False,
    name: Annotated[str | None, typer.Option(help="run name (default: the agent's name)")] = None,
    sandbox: Annotated[str | None, typer.Option(help="auto | zygote | exec | unsafe-subprocess")] = None,
    allow_unsafe: Annotated[
        bool, typer.Option("--allow-unsafe", help="permit running agents WITHOUT containment")
    ] = False,
    report: Annotated[
        bool,
        typer.Option("--report", help="after the run: pass@1 of the seed and the best on the held-out split"),
    ] = False,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export", metavar="DIR", help="write the best agent of the latest run to DIR and stop"
        ),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a config key: section.key=value")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Let a coding agent improve itself: it is scored on HumanEval's development split in the sandbox, rewrites its
    own source from its failures, and the archive of agents is searched open-endedly (Darwin Gödel Machine)."""
    from godel.agents import agent_parts, load_agent
    from godel.parts import storage_url

    extra = _overrides(iterations, seed, None, proposer, selector, sandbox, allow_unsafe)
    if not self_modify:
        extra["agent"] = {"self_modify": False}
    task = load_agent(agent_dir, set_ or (), extra)
    if export is not None:
        _export(task, storage, export, as_json)
        return
    parts = agent_parts(task, storage)
    for note in parts.notes:
        err.print(f"[yellow]note:[/] {note}")
    if parts.sandbox.trusted:
        err.print("[bold red]WARNING: agents run WITHOUT containment (unsafe-subprocess).[/]")
    display = _Display(quiet=as_json)
    with parts:
        engine = parts.engine(on_progress=display.update)
        try:
            with display:
                summary = engine.run(resume=resume, name=name)
        except KeyboardInterrupt:
            err.print("\ninterrupted: everything evaluated so far is stored; continue with --resume")
            raise typer.Exit(130) from None
        held_out = _held_out(parts, summary.run_id) if report else None
    url = storage_url(storage, task.config)
    if held_out is not None:
        if as_json:
            emit_json(summary.to_dict() | {"storage": url, "held_out": held_out})
            _exit_code(summary)
            return
        for who, doc in held_out.items():
            lo, hi = doc["interval"]
            out.print(
                f"held-out pass@1 of the {who} agent (candidate {doc['candidate']}): {doc['passed']}/{doc['total']}"
                f" = {doc['rate']:.3f} (95% CI {lo:.3f}-{hi:.3f})"
            )
    conclude(summary, as_json, url)


def _exit_code(summary: Any) -> None:
    """The run's exit code without printing its summary a second time."""
    if summary.stopped in ("lease lost", "model endpoint", "infrastructure") or (
        summary.progress.proposals > 0 and summary.progress.ok == 0
    ):
        raise typer.Exit(1)


def _held_out(parts: Parts, run_id: int) -> dict[str, Any]:
    """Pass@1 of the seed and of the best agent on the split no agent ever saw."""
    from godel.agents import AgentBenchmark, wilson

    bench = parts.executor
    assert isinstance(bench, AgentBenchmark)
    first = parts.archive.candidates(run_id, limit=1)
    cands = {"seed": first[0] if first else None, "best": parts.archive.best(run_id)}
    doc: dict[str, Any] = {}
    for who, cand in cands.items():
        if cand is None:
            continue
        rep = bench.report(cand.program, label=f"held-out {who}")
        doc[who] = {
            "candidate": cand.id,
            "passed": rep.passed,
            "total": rep.total,
            "rate": rep.rate,
            "interval": list(wilson(rep.passed, rep.total)),
        }
    return doc


def _export(task: Task, storage: str | None, target: Path, as_json: bool) -> None:
    archive = open_existing(storage or task.config.run.storage)
    try:
        info = pick_run(archive, None)
        cand = archive.best(info.id)
    finally:
        archive.close()
    if cand is None:
        raise GodelError(f"run {info.name} has no successfully evaluated agent yet")
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"--export {target}: the folder is not empty", hint="give a new or empty folder")
    for rel, text in cand.program.files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if as_json:
        emit_json({"run": info.name, "candidate": cand.id, "score": cand.score, "out": str(target)})
        return
    out.print(
        f"wrote agent {cand.id} (run {info.name}, pass rate {cand.score}) to {target}: "
        f"`godel self-improve {target}` starts from it"
    )
