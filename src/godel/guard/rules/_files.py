"""File access and score forgery: reading outside the program's tree or the evaluator's data, writing files that
look like results or scores, and (supervised) any file write at all."""

from __future__ import annotations

import ast
import re

from pydantic import Field

from godel.guard._source import Source
from godel.guard.rules._base import Context, Finding, Params, check, match, path_components
from godel.guard.rules._dynamic import DECODERS, contains_call

__all__ = ["FileParams", "WriteParams", "file_access", "file_write"]

_PATH_CALLS = (
    "open",
    "io.open",
    "os.open",
    "codecs.open",
    "tokenize.open",
    "pathlib.Path",
    "pathlib.PurePath",
    "os.path.join",
    "os.stat",
    "os.path.exists",
    "os.path.isfile",
    "os.path.getsize",
    "numpy.load",
    "numpy.loadtxt",
    "numpy.genfromtxt",
    "numpy.fromfile",
    "pandas.read_csv",
    "pandas.read_json",
    "shutil.*",
    "linecache.*",
    "runpy.*",
)
_WRITE_METHODS = ("write_text", "write_bytes", "touch", "mkdir", "unlink", "rename", "rmdir", "symlink_to")
_READ_METHODS = ("read_text", "read_bytes", "open")
_WRITE_CALLS = ("numpy.save", "numpy.savez", "numpy.savetxt", "shutil.*", "os.open")


class FileParams(Params):
    protected_words: tuple[str, ...] = Field(
        ("expected", "answer", "answers", "solution", "solutions", "hidden", "holdout", "hold_out", "ground_truth",
         "groundtruth", "gold", "secret", "oracle", "reference"),
        description="path components a program must not read",
    )  # fmt: skip
    score_patterns: tuple[str, ...] = Field(
        (r"score", r"result", r"metric", r"fitness", r"reward", r"eval", r"grade", r"\.json$"),
        description="regexes of file names a program must not write",
    )


def _mode_of(call: ast.Call) -> str:
    mode: ast.expr | None = call.args[1] if len(call.args) >= 2 else None
    for kw in call.keywords:
        if kw.arg == "mode":
            mode = kw.value
    if mode is None:
        return "r"
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return mode.value
    return "?"


def _mode_of_method(call: ast.Call) -> str:
    mode: ast.expr | None = call.args[0] if call.args else None
    for kw in call.keywords:
        if kw.arg == "mode":
            mode = kw.value
    if mode is None:
        return "r"
    return mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "?"


def _path_consts(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _escape_depth(node: ast.AST) -> int:
    """How many directories above its own file an expression built from ``__file__`` climbs."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    if "__file__" not in names and not any(
        isinstance(n, ast.Attribute) and n.attr == "__file__" for n in ast.walk(node)
    ):
        return 0
    depth = 0
    for n in ast.walk(node):
        if (isinstance(n, ast.Attribute) and n.attr == "parent") or (
            isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "dirname"
        ):
            depth += 1
        elif (
            isinstance(n, ast.Subscript) and isinstance(n.value, ast.Attribute) and n.value.attr == "parents"
        ):
            idx = n.slice
            depth += 1 + (idx.value if isinstance(idx, ast.Constant) and isinstance(idx.value, int) else 1)
    return depth


def _path_problem(node: ast.AST, ctx: Context, src: Source, p: FileParams, writing: bool) -> str | None:
    consts = _path_consts(node)
    for s in consts:
        if s.startswith(("/", "~")) or re.match(r"^[a-zA-Z]:[/\\]", s):
            return f"absolute path {s!r} outside the program's own folder"
        comps = path_components(s)
        if ".." in comps:
            return f"path {s!r} climbs out of the program's folder"
        for c in comps:
            stem = c.rsplit(".", 1)[0]
            if c in ctx.protected.names or stem in ctx.protected.stems:
                return f"path {s!r} names protected task file {c}"
            words = set(re.split(r"[^a-z0-9]+", stem)) | {stem}
            bad = words & set(p.protected_words)
            if bad and not writing:
                return f"path {s!r} looks like the evaluator's data ({sorted(bad)[0]})"
    if _escape_depth(node) >= 2:
        return "path built from __file__ climbs out of the program's folder"
    if isinstance(node, ast.Call) or consts == []:
        dec = contains_call(node, src.aliases, DECODERS)
        if dec and dec != ".join":
            return f"path decoded at run time ({dec})"
    if writing:
        for s in consts:
            name = path_components(s)[-1] if path_components(s) else s
            for pat in p.score_patterns:
                if re.search(pat, name):
                    return f"writes {s!r}, which looks like a result or score file"
    return None


@check("file_access", FileParams, "reading outside the program's tree, protected data, writing score files")
def file_access(ctx: Context, p: FileParams) -> list[Finding]:
    out = []
    for path, src in ctx.child.items():
        for call, name in src.calls:
            parts: list[ast.AST] = []
            writing = False
            if name in ("open", "io.open", "codecs.open", "os.fdopen", "os.open"):
                if (
                    call.args
                    and isinstance(call.args[0], ast.Constant)
                    and isinstance(call.args[0].value, int)
                ):
                    out.append(Finding("file_access", "opens a raw file descriptor", path, call.lineno))
                    continue
                mode = _mode_of(call)
                writing = name == "os.open" or any(c in mode for c in "wax+?")
                parts = list(call.args[:1])
            elif match(name, _PATH_CALLS):
                parts = [*call.args, *(k.value for k in call.keywords)]
                writing = bool(match(name, _WRITE_CALLS))
            elif isinstance(call.func, ast.Attribute) and call.func.attr in (*_WRITE_METHODS, *_READ_METHODS):
                if call.func.attr == "open":
                    writing = any(c in _mode_of_method(call) for c in "wax+?")
                else:
                    writing = call.func.attr in _WRITE_METHODS
                parts = [call.func.value]
            if not parts:
                continue
            for part in parts:
                why = _path_problem(part, ctx, src, p, writing)
                if why:
                    out.append(Finding("file_access", why, path, call.lineno))
                    break
    return out


class WriteParams(Params):
    pass


@check("file_write", WriteParams, "any file write (supervised: the evaluator should not see side files)")
def file_write(ctx: Context, p: WriteParams) -> list[Finding]:
    out = []
    for path, src in ctx.child.items():
        for call, name in src.calls:
            if name in ("open", "io.open", "codecs.open"):
                if any(c in _mode_of(call) for c in "wax+?"):
                    out.append(Finding("file_write", "opens a file for writing", path, call.lineno))
            elif match(name, _WRITE_CALLS) or (
                isinstance(call.func, ast.Attribute) and call.func.attr in _WRITE_METHODS
            ):
                what = name or (call.func.attr if isinstance(call.func, ast.Attribute) else "?")
                out.append(Finding("file_write", f"writes to the file system ({what})", path, call.lineno))
    return out
