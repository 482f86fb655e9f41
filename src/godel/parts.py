"""Building a run's parts (archive, sandbox, proposer, selector, guard) from its configuration."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from godel.archive import open_archive
from godel.archive._base import Archive
from godel.config import Config
from godel.errors import GodelError
from godel.guard._base import Guard
from godel.propose import Proposer
from godel.sandbox._base import Sandbox
from godel.select._base import Selector
from godel.task import Task

__all__ = ["DEFAULT_STORAGE", "Parts", "build_parts", "make_proposer", "storage_url"]

DEFAULT_STORAGE = "sqlite:///godel.db"


def storage_url(explicit: str | None = None, config: Config | None = None) -> str:
    """``--storage``, else ``run.storage`` from the task, else ``$GODEL_STORAGE``, else ./godel.db."""
    if explicit:
        return explicit
    if config is not None and config.run.storage:
        return config.run.storage
    return os.environ.get("GODEL_STORAGE", DEFAULT_STORAGE)


@dataclass
class Parts:
    archive: Archive
    sandbox: Sandbox
    proposer: Proposer
    selector_factory: Callable[[], Selector]
    guard: Guard | None
    notes: list[str] = field(default_factory=list)  # things the user should know (fallbacks taken)

    def close(self) -> None:
        self.sandbox.close()
        self.archive.close()


def make_proposer(task: Task, notes: list[str]) -> Proposer:
    """The configured proposer; ``mix`` falls back to mutations alone (and says so) when no model can load."""
    from godel.propose import MixProposer, MutationProposer

    cfg = task.config.proposer
    mutate = MutationProposer(cfg)
    if cfg.kind == "mutate":
        return mutate
    try:
        from godel.llm import make_llm
        from godel.propose import LLMProposer

        llm = LLMProposer(make_llm(task.config.llm), cfg)
    except GodelError as exc:
        if cfg.kind == "llm":
            raise
        notes.append(f"no language model available ({exc}); proposing with local mutations only")
        return mutate
    if cfg.kind == "llm":
        return llm
    return MixProposer([(llm, cfg.llm_share), (mutate, 1.0 - cfg.llm_share)])


def build_parts(
    task: Task, storage: str | None = None, *, sandbox: Sandbox | None = None, proposals: bool = True
) -> Parts:
    """Everything a run needs. ``proposals=False`` (``godel try``) skips loading a language model."""
    from godel.guard import make_guard
    from godel.sandbox import make_sandbox
    from godel.select import make_selector

    notes: list[str] = []
    url = storage_url(storage, task.config)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if sandbox is not None:
        box = sandbox
    else:
        from godel.sandbox import FabricSandbox

        slots = task.config.run.parallel
        # The execution fabric schedules jobs over the slots (priorities, infrastructure retries, KPIs).
        box = FabricSandbox(make_sandbox(task.config.sandbox, slots=slots), slots)
    try:
        archive = open_archive(url)
        if proposals:
            proposer = make_proposer(task, notes)
        else:
            from godel.propose import MutationProposer

            proposer = MutationProposer(task.config.proposer)
        guard = make_guard(task.config.guard, task) if task.config.guard.enabled else None
    except BaseException:
        box.close()
        raise
    selector_cfg = task.config.selector
    return Parts(
        archive=archive,
        sandbox=box,
        proposer=proposer,
        selector_factory=lambda: make_selector(selector_cfg),
        guard=guard,
        notes=notes,
    )
