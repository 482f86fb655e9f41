"""Loading a task directory: the program to evolve, the evaluator and ``godel.toml``.

Two program shapes:

* one file whose evolvable parts sit between ``# EVOLVE-BLOCK-START`` and ``# EVOLVE-BLOCK-END`` (the whole file
  when it has no markers) — OpenEvolve's layout, so its example directories run unchanged;
* a folder, where every text file may change except those listed in ``task.fixed``.

Loading also reads what the evaluator needs (``requirements.txt`` and ``task.requires``): packages this environment
lacks, or has at a version outside the spec, are a :class:`TaskError` naming them with the install command, before
anything is evaluated. And when the fitness key is missing from what the evaluator returns (so the fitness is the
mean of several metrics), :attr:`Task.notes` says so when the evaluator's source shows it.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion

from godel.candidate import Program
from godel.config import CONFIG_NAMES, Config, load_config
from godel.errors import TaskError

__all__ = [
    "EVOLVE_END",
    "EVOLVE_START",
    "REQUIREMENTS_FILE",
    "Region",
    "Task",
    "check_requirements",
    "load_task",
    "mean_fitness_note",
]

EVOLVE_START = "EVOLVE-BLOCK-START"
EVOLVE_END = "EVOLVE-BLOCK-END"
_DEFAULT_PROGRAMS = ("initial_program.py", "program.py", "main.py")
_SKIP_DIRS = {"__pycache__", ".git", ".godel", ".venv", "node_modules", ".mypy_cache", ".pytest_cache"}
_MAX_SUPPORT_BYTES = 20_000_000
_STAGE_RE = re.compile(r"^evaluate_stage(\d+)$")
REQUIREMENTS_FILE = "requirements.txt"


def mean_fitness_note(metric: str, keys: Sequence[str]) -> str:
    """What godel tells the user when the fitness is the mean of several metrics because ``metric`` is absent."""
    return (
        f"the evaluator reports no {metric!r}, so the fitness is the mean of its {len(keys)} metrics "
        f"({', '.join(keys)}); set task.metric to the one to maximise (or minimise, with task.maximize = false)"
    )


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
    requirements: tuple[str, ...] = ()  # requirements.txt + task.requires, all present here
    notes: tuple[str, ...] = ()  # what the user should know from the start; the run records them

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
            "requirements": list(self.requirements),
            "notes": list(self.notes),
        }


def _parse_evaluator(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as exc:
        raise TaskError(f"{path}:{exc.lineno}: evaluator is not valid Python: {exc.msg}") from exc


def _evaluator_stages(tree: ast.Module, path: Path) -> tuple[str, ...]:
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


# -- what the evaluator reports, read from its source ---------------------------------------------------------------

_UNKNOWN = None  # a return whose keys the source does not show


def _own_returns(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr | None]:
    """The values ``fn`` itself returns (not those of functions nested in it)."""
    out: list[ast.expr | None] = []
    todo: list[ast.AST] = list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Return):
            out.append(node.value)
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            todo.extend(ast.iter_child_nodes(node))
    return out


def _metric_keys(node: ast.expr) -> set[str] | None:
    """Keys of a dict literal whose values may be numbers, with ``error`` when it has that key (a failure);
    None when its keys are not all literal."""
    if not isinstance(node, ast.Dict):
        return _UNKNOWN
    keys: set[str] = set()
    for key, value in zip(node.keys, node.values, strict=True):
        if not isinstance(key, ast.Constant):
            return _UNKNOWN
        text = isinstance(value, ast.JoinedStr) or (
            isinstance(value, ast.Constant) and isinstance(value.value, str | bool | type(None))
        )
        text = text or (
            isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "str"
        )
        if not text or key.value == "error":
            keys.add(str(key.value))
    return keys


def _returned_keys(
    fn: ast.FunctionDef | ast.AsyncFunctionDef, funcs: Mapping[str, ast.FunctionDef | ast.AsyncFunctionDef],
    seen: set[str],
) -> list[set[str]] | None:  # fmt: skip
    """The metric keys of each successful return of ``fn`` (returns with an ``error`` key are failures), or None
    when some return is not a literal the source shows."""
    found: list[set[str]] = []
    for value in _own_returns(fn):
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in funcs:
            callee = value.func.id
            if callee in seen:
                return _UNKNOWN
            inner = _returned_keys(funcs[callee], funcs, seen | {callee})
            if inner is None:
                return _UNKNOWN
            found.extend(inner)
            continue
        if isinstance(value, ast.Call):
            name = value.func.id if isinstance(value.func, ast.Name) else getattr(value.func, "attr", "")
            metrics = [kw.value for kw in value.keywords if kw.arg == "metrics"] or value.args[:1]
            if name != "EvaluationResult" or not metrics:
                return _UNKNOWN
            value = metrics[0]
        keys = _metric_keys(value) if value is not None else _UNKNOWN
        if keys is None:
            return _UNKNOWN
        if "error" not in keys:
            found.append(keys)
    return found


def _fitness_note(tree: ast.Module, stages: Sequence[str], metric: str) -> str | None:
    """The mean-of-metrics note, when the last stage's source shows it never reports ``metric``."""
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    last = funcs.get(stages[-1])
    returns = _returned_keys(last, funcs, {last.name}) if last is not None else None
    if not returns or any(metric in keys for keys in returns):
        return None
    keys = sorted(set().union(*returns))
    return mean_fitness_note(metric, keys) if len(keys) >= 2 else None


# -- what the evaluator needs ------------------------------------------------------------------------------------


def _requirement_lines(path: Path, seen: set[Path]) -> tuple[list[tuple[str, str]], list[str]]:
    """(where, requirement text) of a pip requirements file, following ``-r``; and notes on lines not checked."""
    found: list[tuple[str, str]] = []
    notes: list[str] = []
    seen.add(path.resolve())
    text = re.sub(r"\\\n", " ", path.read_text())  # pip's line continuations
    for num, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        where = f"{path.name}:{num}"
        if not line:
            continue
        include = re.match(r"(?:-r|--requirement)(?:\s*=\s*|\s+)?(\S.*)$", line)
        if include:
            nested = (path.parent / include.group(1)).resolve()
            if not nested.is_file():
                raise TaskError(f"{where}: includes {include.group(1)}, which does not exist")
            if nested not in seen:
                more, more_notes = _requirement_lines(nested, seen)
                found.extend(more)
                notes.extend(more_notes)
            continue
        if line.startswith("-"):
            if line.startswith(("-e", "--editable")):
                notes.append(f"{where}: {line!r} is not checked (an editable install names no version)")
            continue  # index options, constraints files, ...: nothing this environment must hold
        found.append((where, re.split(r"\s+-", line, maxsplit=1)[0]))  # drop per-line options (--hash=...)
    return found, notes


def check_requirements(root: Path, requires: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
    """The requirements of the task at ``root`` (``requirements.txt`` and ``task.requires``) that apply here,
    and notes on the lines that cannot be checked; a :class:`TaskError` naming every package this environment
    lacks, or holds at a version outside its spec, with the command that installs them."""
    lines: list[tuple[str, str]] = []
    notes: list[str] = []
    file = root / REQUIREMENTS_FILE
    if file.is_file():
        lines, notes = _requirement_lines(file, set())
    lines.extend(("task.requires", item) for item in requires)
    wanted: list[str] = []
    problems: list[str] = []
    install: list[str] = []
    for where, text in lines:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            notes.append(f"{where}: {text!r} is not checked (not a package name with a version spec)")
            continue
        try:
            if req.marker is not None and not req.marker.evaluate():
                continue  # for another platform or Python
        except (UndefinedComparison, UndefinedEnvironmentName):
            pass
        wanted.append(str(req))
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{req} (not installed; {where})")
            install.append(str(req))
            continue
        try:
            fits = not req.specifier or req.specifier.contains(version, prereleases=True)
        except InvalidVersion:
            fits = True  # a version string packaging cannot read: nothing to compare
        if not fits:
            problems.append(f"{req} ({version} installed; {where})")
            install.append(str(req))
    if problems:
        python = shlex.quote(sys.executable)
        args = " ".join(shlex.quote(r) for r in install)
        if importlib.util.find_spec("pip") is not None:
            command = f"{python} -m pip install {args}"
        else:
            command = f"uv pip install --python {python} {args}"
        raise TaskError(
            f"the task needs packages this environment lacks: {', '.join(problems)}",
            hint=f"install them into the environment godel runs in: {command}",
        )
    return tuple(wanted), notes


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
    tree = _parse_evaluator(evaluator)
    stages = _evaluator_stages(tree, evaluator)
    # Before anything is evaluated: a missing package would otherwise surface as a bare ModuleNotFoundError in
    # the seed's evaluation.
    requirements, notes = check_requirements(root, tc.requires)
    fitness_note = _fitness_note(tree, stages, tc.metric)
    if fitness_note is not None:
        notes.append(fitness_note)
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
        requirements=requirements,
        notes=tuple(notes),
    )
