"""Loading a task directory: the program to evolve, the evaluator and ``godel.toml``.

Two program shapes:

* one file whose evolvable parts sit between ``# EVOLVE-BLOCK-START`` and ``# EVOLVE-BLOCK-END`` (the whole file
  when it has no markers) — OpenEvolve's layout, so its example directories run unchanged;
* a folder, where every text file may change except those listed in ``task.fixed``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from godel.candidate import Program
from godel.config import CONFIG_NAMES, Config, load_config
from godel.errors import TaskError

__all__ = ["EVOLVE_END", "EVOLVE_START", "Region", "Task", "load_task"]

EVOLVE_START = "EVOLVE-BLOCK-START"
EVOLVE_END = "EVOLVE-BLOCK-END"
_DEFAULT_PROGRAMS = ("initial_program.py", "program.py", "main.py")
_SKIP_DIRS = {"__pycache__", ".git", ".godel", ".venv", "node_modules", ".mypy_cache", ".pytest_cache"}
_MAX_SUPPORT_BYTES = 20_000_000
_STAGE_RE = re.compile(r"^evaluate_stage(\d+)$")


@dataclass(frozen=True)
class Region:
    """Lines ``start`` to ``end`` (0-based, exclusive end) of ``path`` may change."""

    path: str
    start: int
    end: int


def _text_files(root: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        try:
            files[rel.as_posix()] = p.read_text()
        except UnicodeDecodeError:
            continue
    return files


def evolve_regions(path: str, text: str) -> list[Region]:
    """Evolvable line ranges of one file; the whole file when it has no markers."""
    lines = text.splitlines()
    regions: list[Region] = []
    start: int | None = None
    for i, line in enumerate(lines):
        if EVOLVE_START in line:
            if start is not None:
                raise TaskError(
                    f"{path}:{i + 1}: nested {EVOLVE_START}", hint=f"close the block with {EVOLVE_END}"
                )
            start = i + 1
        elif EVOLVE_END in line:
            if start is None:
                raise TaskError(f"{path}:{i + 1}: {EVOLVE_END} without {EVOLVE_START}")
            regions.append(Region(path, start, i))
            start = None
    if start is not None:
        raise TaskError(f"{path}: {EVOLVE_START} at line {start} is never closed", hint=f"add # {EVOLVE_END}")
    return regions or [Region(path, 0, len(lines))]


def _frame(text: str, regions: Sequence[Region]) -> list[str]:
    """The lines outside the evolvable regions (marker lines included), which an edit must leave unchanged."""
    lines = text.splitlines()
    out: list[str] = []
    pos = 0
    for r in regions:
        out.extend(lines[pos : r.start])
        out.append("\0")  # a region, whatever its length
        pos = r.end
    out.extend(lines[pos:])
    return out


@dataclass(frozen=True)
class Task:
    root: Path
    name: str
    config: Config
    program: Program  # the seed
    mode: str  # "file" | "folder"
    program_path: str  # path of the program file or folder relative to root
    evaluator_path: str
    stages: tuple[str, ...]  # evaluator functions forming the cascade, in order
    support_files: Mapping[str, bytes] = field(default_factory=dict)  # evaluator + data, relative to root
    fixed: frozenset[str] = frozenset()

    def regions(self, program: Program) -> list[Region]:
        if self.mode == "folder":
            return [
                Region(p, 0, len(t.splitlines())) for p, t in program.files.items() if p not in self.fixed
            ]
        return evolve_regions(program.main_path, program.files[program.main_path])

    def check_edit(self, parent: Program, child: Program) -> str | None:
        """Why ``child`` is not a legal edit of ``parent`` (None when it is)."""
        if self.mode == "folder":
            for path in self.fixed:
                if parent.files.get(path) != child.files.get(path):
                    return f"edit changes fixed file {path}"
            for path in child.files:
                if path.startswith("/") or ".." in Path(path).parts:
                    return f"edit writes outside the program folder: {path}"
            return None
        if set(child.files) != set(parent.files):
            return "edit adds or removes files in a single-file task"
        path = parent.main_path
        try:
            new_regions = evolve_regions(path, child.files[path])
        except TaskError as exc:
            return f"edit breaks the EVOLVE-BLOCK markers: {exc.message}"
        old_regions = evolve_regions(path, parent.files[path])
        if _frame(parent.files[path], old_regions) != _frame(child.files[path], new_regions):
            return f"edit changes {path} outside the EVOLVE-BLOCK regions"
        return None

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "root": str(self.root),
            "mode": self.mode,
            "program": self.program_path,
            "evaluator": self.evaluator_path,
            "stages": list(self.stages),
            "fixed": sorted(self.fixed),
            "seed_digest": self.program.digest(),
        }


def _evaluator_stages(path: Path) -> tuple[str, ...]:
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as exc:
        raise TaskError(f"{path}:{exc.lineno}: evaluator is not valid Python: {exc.msg}") from exc
    funcs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    stage_nums = sorted(int(m.group(1)) for f in funcs if (m := _STAGE_RE.match(f)))
    stages: list[str] = []
    for expected, num in enumerate(stage_nums, start=1):
        if num != expected:
            break
        stages.append(f"evaluate_stage{num}")
    if stages:
        return tuple(stages)
    if "evaluate" in funcs:
        return ("evaluate",)
    if any(isinstance(n, ast.ImportFrom | ast.Import) for n in tree.body) and "evaluate" in ast.dump(tree):
        # `from somewhere import evaluate` still exposes it at module level.
        return ("evaluate",)
    raise TaskError(
        f"{path} defines no function evaluate(program_path)",
        hint="add `def evaluate(program_path): ... return {'combined_score': ...}`",
    )


def load_task(
    task_dir: str | Path, overrides: Sequence[str] = (), extra: Mapping[str, Any] | None = None
) -> Task:
    """Load and validate a task directory; every problem is a :class:`TaskError` or ``ConfigError``."""
    root = Path(task_dir).resolve()
    if not root.is_dir():
        raise TaskError(
            f"task directory {task_dir} does not exist", hint="pass a folder, or run `godel init DIR`"
        )
    config = load_config(root, overrides, extra)
    tc = config.task
    if tc.program is not None:
        prog = root / tc.program
        if not prog.exists():
            raise TaskError(f"program {tc.program} (task.program) not found in {root}")
    else:
        found = [root / n for n in _DEFAULT_PROGRAMS if (root / n).is_file()]
        if not found:
            raise TaskError(
                f"no program in {root}",
                hint="add initial_program.py, or set task.program in godel.toml to a file or folder",
            )
        prog = found[0]
    evaluator = root / tc.evaluator
    if not evaluator.is_file():
        raise TaskError(
            f"evaluator {tc.evaluator} not found in {root}",
            hint="add evaluator.py with evaluate(program_path) -> dict, or set task.evaluator",
        )
    stages = _evaluator_stages(evaluator)
    prog_rel = prog.relative_to(root).as_posix()
    if prog.is_dir():
        files = _text_files(prog)
        if not files:
            raise TaskError(f"program folder {prog_rel} holds no text files")
        missing = [f for f in tc.fixed if f not in files]
        if missing:
            raise TaskError(f"task.fixed names files not in {prog_rel}: {', '.join(missing)}")
        program = Program(files)
        mode = "folder"
    else:
        try:
            text = prog.read_text()
        except UnicodeDecodeError as exc:
            raise TaskError(f"program {prog_rel} is not UTF-8 text") from exc
        program = Program.single(prog.name, text)
        evolve_regions(prog.name, text)  # validates markers
        mode = "file"
    support: dict[str, bytes] = {}
    total = 0
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if (
            p == prog
            or prog in p.parents
            or p.name in CONFIG_NAMES
            or p.suffix in (".db", ".db-wal", ".db-shm")
        ):
            continue
        data = p.read_bytes()
        total += len(data)
        if total > _MAX_SUPPORT_BYTES:
            raise TaskError(
                f"task folder holds more than {_MAX_SUPPORT_BYTES // 1_000_000} MB of evaluator files",
                hint="keep large data sets outside the task folder and let the evaluator read them by absolute path",
            )
        support[rel.as_posix()] = data
    return Task(
        root=root,
        name=tc.name or root.name,
        config=config,
        program=program,
        mode=mode,
        program_path=prog_rel,
        evaluator_path=tc.evaluator,
        stages=stages,
        support_files=support,
        fixed=frozenset(tc.fixed),
    )
