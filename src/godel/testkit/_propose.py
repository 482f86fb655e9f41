"""Proposers of a test-evolution run: Hypothesis's ghostwriter (no model; an honest baseline), the model prompted
with a module and its uncovered lines (in the manner of CoverUp), and hand-written candidates from a folder."""

from __future__ import annotations

import ast
import json
import random
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from godel.candidate import Program, Proposal
from godel.config import TestsConfig
from godel.llm import CompletionRequest, Message, Pool, PoolError
from godel.propose import Outcome, ProposalContext
from godel.sandbox import Job, Limits, Sandbox

__all__ = ["DirProposer", "GhostwriterProposer", "ModelTestProposer"]

_GHOSTWRITE = r"""
import importlib, json, os, sys
spec = json.load(open("spec.json"))
for p in spec["paths"]:
    sys.path.insert(0, os.path.abspath(os.path.join("project", p)))
from hypothesis.extra import ghostwriter
module = importlib.import_module(spec["module"])
target = getattr(module, spec["function"])
os.write(3, ghostwriter.magic(target).encode())
"""


def _module_name(path: str, paths: tuple[str, ...]) -> str:
    for root in sorted(paths, key=len, reverse=True):
        prefix = "" if root in (".", "") else root.rstrip("/") + "/"
        if path.startswith(prefix):
            rel = path[len(prefix) :].removesuffix(".py")
            return rel.removesuffix("/__init__").replace("/", ".")
    return path.removesuffix(".py").replace("/", ".")


def _functions(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]


def _weighted_module(
    rng: random.Random, missing: Mapping[str, tuple[int, ...]], files: Mapping[str, str]
) -> str | None:
    """A production module, drawn in proportion to its uncovered lines (one each at least)."""
    pool = sorted(p for p in missing if p in files)
    if not pool:
        return None
    return rng.choices(pool, weights=[len(missing[p]) + 1 for p in pool])[0]


class GhostwriterProposer:
    """Property tests for one public function of a weakly covered module, written by ``hypothesis.extra.ghostwriter``
    inside the sandbox (it imports the module, so it runs the project's code)."""

    name = "ghostwriter"
    exhausted = False

    def __init__(
        self,
        sandbox: Sandbox,
        cfg: TestsConfig,
        paths: tuple[str, ...],
        missing: Callable[[], Mapping[str, tuple[int, ...]]],
    ) -> None:
        self.sandbox, self.cfg, self.paths, self.missing = sandbox, cfg, paths, missing

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        files = dict(ctx.parent.program.files)
        module = _weighted_module(rng, self.missing(), files)
        funcs = _functions(files[module]) if module else []
        if module is None or not funcs:
            return Proposal(None, self.name, error=f"no public function to write tests for in {module}")
        func = rng.choice(funcs)
        name = _module_name(module, self.paths)
        spec = {"paths": list(self.paths), "module": name, "function": func}
        job_files = {f"project/{p}": t.encode() for p, t in files.items()}
        job_files["spec.json"] = json.dumps(spec).encode()
        result = self.sandbox.run(
            Job(code=_GHOSTWRITE, files=job_files, limits=Limits(wall_seconds=60), label="ghostwriter")
        )
        if result.termination != "ok" or not result.result:
            why = (result.stderr.strip().splitlines() or [result.reason or result.termination])[-1]
            return Proposal(None, self.name, error=f"ghostwriter on {name}.{func}: {why}")
        test_path = f"{self.cfg.tests_dir.rstrip('/')}/test_gw_{name.replace('.', '_')}_{func}.py"
        text = result.result.decode()
        return Proposal(
            ctx.parent.program.replace(test_path, text),
            self.name,
            edit=f"ghostwriter.magic({name}.{func}) -> {test_path}",
        )

    def report(self, outcome: Outcome) -> None:
        return None


_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.S)


class ModelTestProposer:
    """The model writes one new test file for a module, shown the module with its uncovered lines marked (CoverUp's
    prompt, in short)."""

    name = "model-tests"
    exhausted = False

    def __init__(
        self,
        pool: Pool,
        cfg: TestsConfig,
        paths: tuple[str, ...],
        missing: Callable[[], Mapping[str, tuple[int, ...]]],
    ) -> None:
        self.pool, self.cfg, self.paths, self.missing = pool, cfg, paths, missing

    def prompt(self, module: str, source: str, lines: tuple[int, ...]) -> str:
        marked = "\n".join(
            f"{'>>' if i in lines else '  '} {i:4d}: {text}"
            for i, text in enumerate(source.splitlines(), start=1)
        )
        name = _module_name(module, self.paths)
        return (
            f"You are improving the test suite of a Python project. Module `{name}` ({module}) is below; lines "
            f"marked >> are not run by any test ({len(lines)} lines).\n\n{marked}\n\n"
            f"Write a new pytest file that imports from `{name}`, runs the marked lines and asserts on their results "
            "(a test must fail when the code is wrong). Use only the standard library and pytest. Reply with one "
            "```python fenced block holding the whole file."
        )

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        files = dict(ctx.parent.program.files)
        missing = self.missing()
        module = _weighted_module(rng, {p: v for p, v in missing.items() if v} or missing, files)
        if module is None:
            return Proposal(None, self.name, error="no production module to test")
        prompt = self.prompt(module, files[module], missing.get(module, ()))
        request = CompletionRequest(
            (Message("user", prompt),),
            max_tokens=self.pool.max_tokens,
            temperature=self.pool.temperature,
            seed=rng.randrange(2**31),
        )
        try:
            completion = self.pool.complete(request)
        except PoolError as exc:
            return Proposal(
                None, self.name, error=f"model endpoint failed: {exc}", prompt=prompt, meta={"infra": True}
            )
        found = _FENCE.search(completion.text)
        common = {
            "prompt": prompt,
            "model": completion.model,
            "tokens_in": completion.tokens_in,
            "tokens_out": completion.tokens_out,
            "cost": completion.cost,
            "edit": completion.text,
        }
        if found is None:
            return Proposal(None, self.name, error="the reply holds no ```python block", **common)  # type: ignore[arg-type]
        stem = _module_name(module, self.paths).replace(".", "_")
        base = f"{self.cfg.tests_dir.rstrip('/')}/test_model_{stem}"
        path = next(f"{base}_{i}.py" for i in range(1, 10_000) if f"{base}_{i}.py" not in files)
        return Proposal(ctx.parent.program.replace(path, found.group(1)), self.name, **common)  # type: ignore[arg-type]

    def report(self, outcome: Outcome) -> None:
        return None


class DirProposer:
    """Hand-written candidates: each subfolder of ``folder`` (in name order, then again) laid over the parent;
    a file ``DELETE`` there lists paths to remove."""

    name = "dir"
    exhausted = False

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.options = sorted(p for p in folder.iterdir() if p.is_dir())

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        if not self.options:
            return Proposal(None, self.name, error=f"no candidate folders in {self.folder}")
        pick = self.options[((ctx.iteration or 1) - 1) % len(self.options)]
        files = dict(ctx.parent.program.files)
        for p in sorted(pick.rglob("*")):
            if p.is_file() and p.name != "DELETE":
                files[p.relative_to(pick).as_posix()] = p.read_text()
        gone = pick / "DELETE"
        for line in gone.read_text().split() if gone.is_file() else []:
            files.pop(line, None)
        return Proposal(Program(files), self.name, edit=f"files of {pick.name}")

    def report(self, outcome: Outcome) -> None:
        return None
