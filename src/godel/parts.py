"""The composition root: a run's parts (archive, sandbox, executor, proposer, selector, guard) built from its
configuration, and the engine or worker made of them.

Every command that runs candidates builds its parts here and closes them here (:meth:`Parts.close`), so no caller
has to know which part owns which resource.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from godel._storage import DEFAULT_STORAGE, storage_url
from godel.archive import Archive, open_archive
from godel.engine import DEFAULT_STAGE_PRECHECKS, Engine, Precheck, Worker, WorkerConfig
from godel.errors import ConfigError, GodelError
from godel.executor import Executor, LocalExecutor, make_executor
from godel.guard import AuditKeyCreated, Checkpointer, Guard, load_audit_key, make_guard
from godel.llm import SharedPool
from godel.precheck import compiles, parses
from godel.progress import Progress
from godel.propose import MixProposer, MutationProposer, Proposer
from godel.sandbox import FabricSandbox, Sandbox, make_sandbox
from godel.select import Selector, make_selector
from godel.task import Task

__all__ = ["DEFAULT_STORAGE", "Parts", "build_parts", "make_proposer", "storage_url", "worker_proposer"]


def make_proposer(task: Task, notes: list[str], pool: SharedPool | None = None) -> Proposer:
    """The configured proposer; ``mix`` falls back to mutations alone (and says so) when no model can load.
    ``pool`` is the run's model pool, shared with the guard (default: one of its own)."""
    cfg = task.config.proposer
    mutate = MutationProposer(cfg)
    if cfg.kind == "mutate":
        return mutate
    try:
        from godel.propose import LLMProposer

        llm = LLMProposer((pool or SharedPool(task.config.llm))(), cfg)
    except GodelError as exc:
        if cfg.kind == "llm":
            raise
        notes.append(f"no language model available ({exc}); proposing with local mutations only")
        return mutate
    if cfg.kind == "llm":
        return llm
    return MixProposer([(llm, cfg.llm_share), (mutate, 1.0 - cfg.llm_share)])


def worker_proposer(task: Task) -> Proposer:
    """The task's proposer as an executor's worker builds it (module-level so that it pickles by reference)."""
    return make_proposer(task, [])


@dataclass
class Parts:
    task: Task
    archive: Archive
    sandbox: Sandbox
    executor: Executor
    proposer: Proposer
    selector_factory: Callable[[], Selector]
    guard: Guard | None
    checkpointer: Checkpointer | None = None
    prechecks: tuple[Precheck, ...] | None = None  # None: every default precheck
    notes: list[str] = field(default_factory=list)  # things the user should know (fallbacks taken)
    _closed: bool = False

    def engine(
        self,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> Engine:
        return Engine(
            self.task,
            self.archive,
            proposer=self.proposer,
            selector_factory=self.selector_factory,
            sandbox=self.sandbox,
            guard=self.guard,
            executor=self.executor,
            on_progress=on_progress,
            on_event=on_event,
            checkpointer=self.checkpointer,
            prechecks=self.prechecks,
        )

    def worker(self, config: WorkerConfig) -> Worker:
        return Worker(
            self.task,
            self.archive,
            proposer=self.proposer,
            selector_factory=self.selector_factory,
            sandbox=self.sandbox,
            guard=self.guard,
            executor=self.executor,
            worker=config,
            checkpointer=self.checkpointer,
            prechecks=self.prechecks,
        )

    def close(self) -> None:
        """Close the executor, the sandbox and the archive, once."""
        if self._closed:
            return
        self._closed = True
        try:
            self.executor.close()  # the local executor closes the sandbox it wraps
        finally:
            try:
                self.sandbox.close()
            finally:
                self.archive.close()

    def __enter__(self) -> Parts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_parts(
    task: Task,
    storage: str | None = None,
    *,
    sandbox: Sandbox | None = None,
    proposals: bool = True,
    executor: str | None = None,
    ray_address: str | None = None,
) -> Parts:
    """Everything a run needs. ``proposals=False`` (``godel try``) skips loading a language model; ``executor`` and
    ``ray_address`` (the command line's) win over ``[run]``."""
    notes: list[str] = list(
        task.notes
    )  # what loading the task found worth saying (fitness key, requirements)
    url = storage_url(storage, task.config)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if sandbox is not None:
        box = sandbox
    else:
        slots = task.config.run.parallel
        # The execution fabric schedules jobs over the slots (priorities, infrastructure retries, KPIs).
        box = FabricSandbox(make_sandbox(task.config.sandbox, slots=slots), slots)
    closers: list[Callable[[], None]] = [box.close]
    try:
        archive = open_archive(url)
        closers.append(archive.close)
        # One model pool for the run, built on first use: the proposer's and the guard's model-judged rules' calls
        # share its caps, cache and circuit breakers.
        pool = SharedPool(task.config.llm)
        proposer: Proposer = (
            make_proposer(task, notes, pool) if proposals else MutationProposer(task.config.proposer)
        )
        guard = make_guard(task.config.guard, task, llm=pool) if task.config.guard.enabled else None
        checkpointer = _checkpointer(task, archive, notes)
        runner = _executor(task, box, executor, ray_address)
        if task.config.run.remote_proposals:
            remote = runner.proposer()
            if remote is None:
                runner.close()
                raise GodelError(
                    f"run.remote_proposals needs an executor that can propose; {runner.name!r} cannot",
                    hint="use --executor ray, or set run.remote_proposals = false",
                )
            proposer = remote
    except BaseException:
        for close in reversed(closers):
            close()
        raise
    selector_cfg = task.config.selector
    return Parts(
        task=task,
        archive=archive,
        sandbox=box,
        executor=runner,
        proposer=proposer,
        selector_factory=lambda: make_selector(selector_cfg, archive),
        guard=guard,
        checkpointer=checkpointer,
        prechecks=_prechecks(task),
        notes=notes,
    )


def _prechecks(task: Task) -> tuple[Precheck, ...] | None:
    """The wasm sandbox runs CPython 3.12, which parses what this interpreter (3.11) may not: there the syntax is
    the sandbox's to judge, and only the checks that do not re-parse the program stay."""
    if task.config.sandbox.backend != "wasm":
        return None
    return tuple(c for c in DEFAULT_STAGE_PRECHECKS if c not in (parses, compiles))


def _checkpointer(task: Task, archive: Archive, notes: list[str]) -> Checkpointer:
    """What signs the run's audit trail; a key created on first use is said (where it is, what to do with it)."""
    cfg = task.config.guard
    key_path = _path(cfg.audit_key_file)
    if key_path is not None and key_path.resolve().is_relative_to(task.root):
        raise ConfigError(
            f"guard.audit_key_file {cfg.audit_key_file} is inside the task folder, whose files go into the sandbox",
            hint="keep the audit key outside the task folder (the default ~/.config/godel/audit-key.pem is)",
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AuditKeyCreated)
        key = load_audit_key(path=key_path)
    notes.extend(str(w.message) for w in caught if issubclass(w.category, AuditKeyCreated))
    return Checkpointer(archive, key, every=cfg.checkpoint_every, log=_path(cfg.checkpoint_log))


def _path(value: str | None) -> Path | None:
    """A path setting: ``~`` expanded, relative to the working directory (like --storage)."""
    return Path(value).expanduser() if value is not None else None


def _executor(task: Task, box: Sandbox, name: str | None, address: str | None) -> Executor:
    name = name or task.config.run.executor
    address = address or task.config.run.ray_address
    if name == "local" and address is None:
        return LocalExecutor(task, box)
    factory = worker_proposer if task.config.run.remote_proposals else None
    return make_executor(
        name, task, task.config.sandbox, task.config.run.parallel, address=address, proposer_factory=factory
    )
