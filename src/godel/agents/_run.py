"""A self-improvement run as a configuration of the pipeline: the agent folder is the program, the benchmark is the
executor, the agent (its parent, or the seed in the ablation) is the proposer, plus the agent's constitution and
the prechecks that keep benchmark knowledge out of an agent."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from godel.agents._bench import EVALUATOR, AgentBenchmark
from godel.agents._broker import AGENT_API, Broker, agent_api_source
from godel.agents._humaneval import Problem, Split, load_problems, make_split
from godel.agents._propose import ProgramAgentProposer, SelfModifyProposer
from godel.candidate import Program
from godel.config import find_config_file, load_config
from godel.engine import DEFAULT_STAGE_PRECHECKS, Precheck
from godel.errors import TaskError
from godel.llm import Pool, make_llm
from godel.parts import Parts, build_parts
from godel.propose import MixProposer, MutationProposer, Proposer
from godel.sandbox import FabricSandbox, Limits, Sandbox, make_sandbox
from godel.task import Task

__all__ = [
    "SEED_AGENT",
    "agent_parts",
    "benchmark_knowledge",
    "evolve_parts",
    "load_agent",
    "run_split",
    "seed_agent_dir",
]

SEED_AGENT = "seed-agent"


def seed_agent_dir() -> Path:
    """godel's seed coding agent (a folder of the installed package)."""
    return Path(str(resources.files("godel") / "templates" / "agent"))


def load_agent(
    agent_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> Task:
    """The agent folder as a task: its Python files are the program; ``godel.toml`` and ``constitution.yaml``
    there (else the seed agent's) configure and govern the run."""
    root = Path(agent_dir).resolve() if agent_dir is not None else seed_agent_dir()
    if not root.is_dir():
        raise TaskError(
            f"agent folder {agent_dir} does not exist", hint="pass a folder, or omit it for the seed"
        )
    config_root = root if find_config_file(root) is not None else seed_agent_dir()
    config = load_config(config_root, overrides, extra)
    if config.guard.constitution is None and not (root / "constitution.yaml").is_file():
        # An agent folder without its own constitution gets the agent constitution, not the one for programs.
        config = config.model_copy(
            update={
                "guard": config.guard.model_copy(
                    update={"constitution": str(seed_agent_dir() / "constitution.yaml")}
                )
            }
        )
    files = {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*.py"))
        if "__pycache__" not in p.parts
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }
    if "agent.py" not in files:
        raise TaskError(
            f"no agent.py in {root}", hint="an agent folder needs agent.py with solve() and improve()"
        )
    problems = _entry_points(files["agent.py"])
    if problems:
        raise TaskError(f"{root / 'agent.py'}: {problems}", hint="define solve(task) and improve(context)")
    files[AGENT_API] = agent_api_source()  # godel's own: the one the sandbox runs, fixed for every child
    fixed = frozenset({*config.task.fixed, AGENT_API})
    return Task(
        root=root,
        name=config.task.name or root.name,
        config=config,
        program=Program(files),
        mode="folder",
        program_path=".",
        evaluator_path=EVALUATOR,
        stages=tuple(f"stage{i + 1}" for i in range(len(config.agent.stage_sizes))),
        fixed=fixed,
    )


def _entry_points(source: str, required: Sequence[str] = ("solve", "improve")) -> str | None:
    """What keeps ``source`` from defining the ``required`` top-level functions (None: nothing)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    missing = [n for n in required if n not in names]
    return f"missing {', '.join(missing)}" if missing else None


def run_split(task: Task, problems: Mapping[str, Problem]) -> Split:
    cfg = task.config.agent
    return make_split(list(problems), cfg.dev_fraction, cfg.split_seed)


def benchmark_knowledge(problems: Mapping[str, Problem]) -> Precheck:
    """A precheck refusing children whose new text names the benchmark (its package, ids, data file) or several
    of its problems' function names: hard-coded answers and peeking at the hidden split start that way."""
    entry_points = {p.entry_point for p in problems.values() if len(p.entry_point) >= 6}
    word = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
    markers = ("humaneval", "human_eval", "canonical_solution", "__godel_broker__")

    def check(task: Task, parent: Program, child: Program) -> str | None:
        for path, text in child.files.items():
            old = parent.files.get(path, "")
            if text == old:
                continue
            low, old_low = text.lower(), old.lower()
            for m in markers:
                if m in low and m not in old_low:
                    return f"{path} names the benchmark ({m!r}): an agent may not know its benchmark's data"
            added = set(word.findall(text)) - set(word.findall(old))
            named = sorted(added & entry_points)
            if len(named) >= 2:
                return (
                    f"{path} names {len(named)} of the benchmark's functions ({', '.join(named[:4])}): "
                    "hard-coded answers"
                )
        return None

    return check


def agent_parts(
    task: Task,
    storage: str | None = None,
    *,
    sandbox: Sandbox | None = None,
    pool: Pool | None = None,
    problems: Mapping[str, Problem] | None = None,
) -> Parts:
    """The parts of a self-improvement run of ``task`` (from :func:`load_agent`)."""
    problems = dict(problems if problems is not None else load_problems())
    split = run_split(task, problems)
    slots = max(2, task.config.run.parallel)  # one for the agent's steps, one for scoring its answers
    box = sandbox or FabricSandbox(make_sandbox(task.config.sandbox, slots=slots), slots)
    try:
        models = pool if pool is not None else make_llm(task.config.llm)
    except BaseException:
        box.close()
        raise
    cfg = task.config.agent
    broker = _broker(task, box, models, cfg.max_tokens)
    bench = AgentBenchmark(problems, split, broker, box, cfg, seed=task.config.run.seed)
    parts = build_parts(task, storage, sandbox=box, proposals=False)
    # The local executor build_parts made is replaced (it holds nothing but the sandbox, which the benchmark
    # owns now); so is the proposer.
    parts.executor = bench
    parts.proposer = _proposer(task, broker, problems)
    parts.prechecks = (*DEFAULT_STAGE_PRECHECKS, benchmark_knowledge(problems))
    parts.notes.append(
        f"HumanEval split (seed {split.seed}): {len(split.dev)} development problems, {len(split.test)} held out"
    )
    return parts


def _broker(task: Task, sandbox: Sandbox, pool: Pool, max_tokens: int) -> Broker:
    """A broker running the agent's steps with the task's sandbox limits and ``agent.solve_seconds`` a step."""
    sb = task.config.sandbox
    limits = Limits(
        wall_seconds=task.config.agent.solve_seconds,
        memory_mb=sb.memory_mb,
        max_processes=sb.max_processes,
        output_bytes=sb.output_bytes,
        disk_mb=sb.disk_mb,
    )
    return Broker(sandbox, pool, limits=limits, max_tokens=max_tokens)


def _proposer(task: Task, broker: Broker, problems: Mapping[str, Problem]) -> Proposer:
    cfg = task.config.proposer
    agent = SelfModifyProposer(broker, problems, task.config.agent, task.program)
    if cfg.kind == "llm":
        return agent
    mutate = MutationProposer(cfg)
    if cfg.kind == "mutate":
        return mutate
    return MixProposer([(agent, cfg.llm_share), (mutate, 1.0 - cfg.llm_share)])


def evolve_parts(
    task: Task,
    agent_dir: str | Path,
    storage: str | None = None,
    *,
    executor: str | None = None,
    ray_address: str | None = None,
    pool: Pool | None = None,
) -> Parts:
    """The parts of an ordinary ``godel evolve`` run of ``task`` whose proposer is a coding agent (an exported
    self-improvement result, say): the agent's ``edit`` entry point writes every child, through the broker, with the
    task's model pool and sandbox."""
    agent = load_agent(agent_dir)
    if _entry_points(agent.program.files["agent.py"], ("edit",)) is not None:
        raise TaskError(
            f"the agent in {agent_dir} has no edit(context) entry point",
            hint="only agents that can edit another program can propose for `godel evolve` (godel's seed can)",
        )
    parts = build_parts(task, storage, proposals=False, executor=executor, ray_address=ray_address)
    try:
        models = pool if pool is not None else make_llm(task.config.llm)
    except BaseException:
        parts.close()
        raise
    cfg = task.config.agent
    broker = _broker(task, parts.sandbox, models, max(cfg.max_tokens, 2048))
    parts.proposer = ProgramAgentProposer(broker, agent.program, calls=cfg.improve_calls)
    parts.notes.append(f"proposals by the agent in {agent.root} (its edit entry point, brokered)")
    return parts
