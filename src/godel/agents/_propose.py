"""The self-improvement step: the parent agent reads its own source and its failures on the development split,
diagnoses, and rewrites its own files; what it returns is its child.

With ``agent.self_modify = false`` (the DGM paper's ablation) the seed agent makes every child instead, from the
parent's source and failures: the proposer of children then never improves.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from godel.agents._bench import problem_results
from godel.agents._broker import Broker
from godel.agents._humaneval import Problem
from godel.candidate import Program, Proposal
from godel.config import AgentConfig
from godel.errors import SandboxError
from godel.llm import PoolError
from godel.propose import ProposalContext, Proposer

__all__ = ["ProgramAgentProposer", "SelfModifyProposer"]

_MAX_FILE_BYTES = 200_000


class SelfModifyProposer(Proposer):
    """Children written by an agent (the parent itself, or the seed) through the broker."""

    name = "self"

    def __init__(
        self, broker: Broker, problems: Mapping[str, Problem], config: AgentConfig, seed_agent: Program
    ) -> None:
        self.broker = broker
        self.problems = problems
        self.config = config
        self.seed_agent = seed_agent

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        parent = ctx.parent
        writer = parent.program if self.config.self_modify else self.seed_agent
        failures = []
        for r in problem_results(parent.artifacts):
            if r.get("passed") or r.get("task_id") not in self.problems:
                continue
            failures.append(
                {
                    "prompt": self.problems[str(r["task_id"])].prompt,
                    "solution": str(r.get("solution", ""))[:2000],
                    "error": str(r.get("error", ""))[:500],
                }
            )
            if len(failures) >= self.config.failures_shown:
                break
        payload: dict[str, Any] = {
            "score": parent.score,
            "files": dict(parent.program.files),
            "failures": failures,
            "feedback": list(ctx.feedback),
        }
        try:
            run = self.broker.run(
                writer,
                "improve",
                payload,
                calls=self.config.improve_calls,
                seed=rng.randrange(1 << 31),
                label=f"improve {parent.id}",
            )
        except PoolError as exc:
            return Proposal(
                None, self.name, error=f"no model could answer: {exc.message}", meta={"infra": True}
            )
        except SandboxError as exc:
            return Proposal(None, self.name, error=f"the sandbox failed: {exc.message}", meta={"infra": True})
        tokens_in = sum(c.tokens_in for c in run.calls)
        tokens_out = sum(c.tokens_out for c in run.calls)
        model = run.calls[0].model if run.calls else None

        def proposal(program: Program | None, error: str | None, edit: str = "") -> Proposal:
            return Proposal(
                program,
                self.name,
                error=error,
                edit=edit,
                model=model,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost=run.cost,
                seconds=run.seconds,
                meta=meta,
            )

        meta: dict[str, Any] = {
            "writer": "parent" if self.config.self_modify else "seed",
            "calls": [c.to_dict() for c in run.calls],
            "notes": list(run.notes)[:50],
        }
        if run.budget_exhausted:
            meta["budget_exhausted"] = True
        if not run.ok:
            return proposal(None, run.error)
        child, error, diagnosis = _child(parent.program, run.value)
        meta["diagnosis"] = diagnosis
        if child is None:
            return proposal(None, error)
        return proposal(child, None, f"diagnosis: {diagnosis}")


def _child(parent: Program, value: Any) -> tuple[Program | None, str | None, str]:
    if not isinstance(value, dict):
        return None, f"improve returned {type(value).__name__}, not {{'diagnosis', 'files'}}", ""
    diagnosis = str(value.get("diagnosis", ""))[:1000]
    files = value.get("files")
    if not isinstance(files, dict) or not files:
        return None, "improve returned no files", diagnosis
    new = dict(parent.files)
    for path, text in files.items():
        if not isinstance(path, str) or not isinstance(text, str):
            return None, "improve returned a file that is not path -> text", diagnosis
        if len(text.encode()) > _MAX_FILE_BYTES:
            return None, f"improve wrote {path} larger than {_MAX_FILE_BYTES} bytes", diagnosis
        if text == "":
            new.pop(path, None)  # an empty text deletes the file
        else:
            new[path] = text
    child = Program(new)
    if child == parent:
        return None, "improve returned the parent unchanged", diagnosis
    return child, None, diagnosis


class ProgramAgentProposer(Proposer):
    """A coding agent (a self-improvement run's, say) proposing children of an ordinary task's program through its
    ``edit`` entry point, brokered like any agent call (``godel evolve TASK --agent DIR``)."""

    def __init__(self, broker: Broker, agent: Program, *, calls: int = 4, name: str = "agent") -> None:
        self.broker = broker
        self.agent = agent
        self.calls = calls
        self.name = name

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        parent = ctx.parent
        payload = {
            "files": dict(parent.program.files),
            "path": parent.program.main_path,
            "score": parent.score,
            "feedback": list(ctx.feedback),
        }
        try:
            run = self.broker.run(
                self.agent,
                "edit",
                payload,
                calls=self.calls,
                seed=rng.randrange(1 << 31),
                label=f"edit {parent.id}",
            )
        except PoolError as exc:
            return Proposal(
                None, self.name, error=f"no model could answer: {exc.message}", meta={"infra": True}
            )
        meta: dict[str, Any] = {"calls": [c.to_dict() for c in run.calls]}
        if run.budget_exhausted:
            meta["budget_exhausted"] = True
        common: dict[str, Any] = {
            "model": run.calls[0].model if run.calls else None,
            "tokens_in": sum(c.tokens_in for c in run.calls),
            "tokens_out": sum(c.tokens_out for c in run.calls),
            "cost": run.cost,
            "seconds": run.seconds,
            "meta": meta,
        }
        if not run.ok:
            return Proposal(None, self.name, error=run.error, **common)
        child, error, diagnosis = _child(parent.program, run.value)
        meta["diagnosis"] = diagnosis
        if child is None:
            return Proposal(None, self.name, error=error, **common)
        return Proposal(child, self.name, edit=f"agent: {diagnosis}", **common)
