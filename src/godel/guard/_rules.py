"""The machine-checked rules a constitution can name: each a function from a proposal's facts to findings.

A check looks at the child's parsed files (:class:`godel.guard._source.Source`) and, for the comparative ones
(deleted tests, removed markers), at the parent's. The guard runs every check on the parent as well and keeps only
the findings the child adds, so a construct the seed already had does not block every descendant.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from godel._syntax import parse_python
from godel.guard._source import Source, dotted

__all__ = ["CHECKS", "Check", "Context", "Finding", "Protected", "distinctive_constants", "norm_number"]


@dataclass(frozen=True)
class Finding:
    check: str
    message: str  # no line numbers in it: it is the key that matches a parent's finding
    path: str
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "message": self.message, "path": self.path, "line": self.line}


@dataclass(frozen=True)
class Protected:
    """What the candidate must not touch: task files by name and hash, and the evaluator's distinctive data."""

    patterns: tuple[str, ...] = ()  # globs a program file path must not match
    names: frozenset[str] = frozenset()  # lower-case base names of protected files
    stems: frozenset[str] = frozenset()  # module names of protected .py files (evaluator, ...)
    hashes: Mapping[str, str] = field(default_factory=dict)  # sha256 -> protected path
    constants: Mapping[str, str] = field(default_factory=dict)  # normalised constant -> file it comes from


@dataclass
class Context:
    child: dict[str, Source]  # parsed .py files of the child, by path
    texts: Mapping[str, str]  # every file of the child
    parent: dict[str, Source]
    parent_texts: Mapping[str, str]
    protected: Protected
    markers: tuple[str, ...] = ()
    diff_lines: int = 0


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CheckFn = Callable[[Context, Any], list[Finding]]


@dataclass(frozen=True)
class Check:
    name: str
    params_model: type[Params]
    fn: CheckFn
    summary: str


CHECKS: dict[str, Check] = {}


def _register(name: str, params_model: type[Params], summary: str) -> Callable[[CheckFn], CheckFn]:
    def deco(fn: CheckFn) -> CheckFn:
        CHECKS[name] = Check(name, params_model, fn, summary)
        return fn

    return deco


class _Matcher:
    """Dotted-name patterns: ``os.system`` matches itself and ``os.system.x``; ``os.exec*`` is a glob."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.exact = {p for p in patterns if "*" not in p and "?" not in p}
        globs = [p for p in patterns if p not in self.exact]
        self.globs = globs
        self.regex = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)) if globs else None

    def __call__(self, name: str) -> str | None:
        if "." not in name:
            if name in self.exact:
                return name
            return next((g for g in self.globs if fnmatch.fnmatchcase(name, g)), None) if self.globs else None
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in self.exact:
                return prefix
        if self.regex is not None and self.regex.match(name):
            return next(g for g in self.globs if fnmatch.fnmatchcase(name, g))
        return None


@functools.lru_cache(maxsize=256)
def _matcher(patterns: tuple[str, ...]) -> _Matcher:
    return _Matcher(patterns)


def _match(name: str | None, patterns: Iterable[str]) -> str | None:
    if name is None:
        return None
    return _matcher(tuple(patterns))(name)


# -- forbidden imports --------------------------------------------------------------------------------------------


class ImportsParams(Params):
    modules: tuple[str, ...] = ()


@_register("forbidden_imports", ImportsParams, "imports of modules that reach outside the program")
def _forbidden_imports(ctx: Context, p: ImportsParams) -> list[Finding]:
    out = []
    for path, src in ctx.child.items():
        for mod, line in src.imports:
            hit = _match(mod.lstrip("."), p.modules)
            if hit:
                out.append(Finding("forbidden_imports", f"imports {mod} (forbidden: {hit})", path, line))
    return out


# -- forbidden calls and attributes ---------------------------------------------------------------------------


class CallsParams(Params):
    names: tuple[str, ...] = Field((), description="dotted names (globs allowed) that must not be used")
    attributes: tuple[str, ...] = Field(
        (), description="attribute names that must not be accessed on anything"
    )
    methods: tuple[str, ...] = Field((), description="method names that must not be called on anything")


@_register("forbidden_calls", CallsParams, "use of forbidden functions, attributes and dunders")
def _forbidden_calls(ctx: Context, p: CallsParams) -> list[Finding]:
    out = []
    attrs = set(p.attributes)
    methods = set(p.methods)
    for path, src in ctx.child.items():
        seen: set[tuple[str, int]] = set()

        def hit(msg: str, line: int, path: str = path, seen: set[tuple[str, int]] = seen) -> None:
            if (msg, line) not in seen:
                seen.add((msg, line))
                out.append(Finding("forbidden_calls", msg, path, line))

        for imp, line in src.imports:
            m = _match(imp, p.names)
            if m:
                hit(f"imports {imp} (forbidden: {m})", line)
        for node, name in src.attrs:
            m = _match(name, p.names)
            if m:
                hit(f"uses {name} (forbidden: {m})", node.lineno)
            if node.attr in attrs:
                hit(f"accesses attribute {node.attr}", node.lineno)
        for n in src.names:
            m = _match(src.aliases.get(n.id, n.id), p.names)
            if m:
                hit(f"uses {n.id} (forbidden: {m})", n.lineno)
            if n.id in attrs:
                hit(f"uses {n.id}", n.lineno)
        for call, _ in src.calls:
            if isinstance(call.func, ast.Attribute) and call.func.attr in methods:
                hit(f"calls .{call.func.attr}()", call.lineno)
        for s, line in src.strings:
            if s in attrs:
                hit(f"names {s} in a string", line)
    return out


# -- dynamic code and obfuscation ---------------------------------------------------------------------------------

_DECODERS = (
    "base64.*",
    "codecs.decode",
    "codecs.encode",
    "binascii.*",
    "zlib.decompress",
    "bz2.decompress",
    "lzma.decompress",
    "gzip.decompress",
    "marshal.loads",
    "pickle.loads",
    "bytes.fromhex",
    "bytearray.fromhex",
    "chr",
)


class DynamicParams(Params):
    exec_functions: tuple[str, ...] = ("exec", "eval", "compile", "builtins.exec", "builtins.eval")
    decoders: tuple[str, ...] = _DECODERS


def _is_str_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)


def _contains_call(node: ast.AST, aliases: dict[str, str], patterns: Iterable[str]) -> str | None:
    pats = tuple(patterns)
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            name = dotted(sub.func, aliases)
            if _match(name, pats):
                return name
            if isinstance(sub.func, ast.Attribute) and sub.func.attr in ("decode", "fromhex", "join"):
                return "." + sub.func.attr
    return None


@_register(
    "dynamic_code", DynamicParams, "exec/eval of built or decoded strings, __import__, dynamic getattr"
)
def _dynamic_code(ctx: Context, p: DynamicParams) -> list[Finding]:
    out = []
    for path, src in ctx.child.items():
        imported = set(src.aliases)
        for call, name in src.calls:
            line = call.lineno
            if _match(name, p.exec_functions):
                if not call.args or not _is_str_literal(call.args[0]):
                    dec = call.args and _contains_call(call.args[0], src.aliases, p.decoders)
                    how = f"decoded with {dec}" if dec else "built at run time"
                    out.append(Finding("dynamic_code", f"{name}() of code {how}", path, line))
            elif name in ("__import__", "builtins.__import__", "importlib.import_module"):
                out.append(Finding("dynamic_code", f"{name}() imports a module by computed name", path, line))
            elif name in ("getattr", "setattr", "delattr", "hasattr") and len(call.args) >= 2:
                target, attr = call.args[0], call.args[1]
                on_module = (
                    isinstance(target, ast.Name)
                    and (target.id in imported or target.id in ("__builtins__", "builtins"))
                ) or isinstance(target, ast.Call)
                if on_module and not _is_str_literal(attr):
                    out.append(
                        Finding(
                            "dynamic_code", f"{name}() on a module with a computed attribute name", path, line
                        )
                    )
                elif (
                    isinstance(attr, ast.Constant)
                    and isinstance(attr.value, str)
                    and attr.value.startswith("__")
                ):
                    out.append(Finding("dynamic_code", f"{name}() of dunder {attr.value}", path, line))
    return out


# -- file access --------------------------------------------------------------------------------------------------

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


def _components(s: str) -> list[str]:
    return [c for c in re.split(r"[/\\]+", s.lower()) if c]


def _path_problem(node: ast.AST, ctx: Context, src: Source, p: FileParams, writing: bool) -> str | None:
    consts = _path_consts(node)
    for s in consts:
        if s.startswith(("/", "~")) or re.match(r"^[a-zA-Z]:[/\\]", s):
            return f"absolute path {s!r} outside the program's own folder"
        comps = _components(s)
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
        dec = _contains_call(node, src.aliases, _DECODERS)
        if dec and dec != ".join":
            return f"path decoded at run time ({dec})"
    if writing:
        for s in consts:
            name = _components(s)[-1] if _components(s) else s
            for pat in p.score_patterns:
                if re.search(pat, name):
                    return f"writes {s!r}, which looks like a result or score file"
    return None


@_register(
    "file_access", FileParams, "reading outside the program's tree, protected data, writing score files"
)
def _file_access(ctx: Context, p: FileParams) -> list[Finding]:
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
            elif _match(name, _PATH_CALLS):
                parts = [*call.args, *(k.value for k in call.keywords)]
                writing = bool(_match(name, _WRITE_CALLS))
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


def _mode_of_method(call: ast.Call) -> str:
    mode: ast.expr | None = call.args[0] if call.args else None
    for kw in call.keywords:
        if kw.arg == "mode":
            mode = kw.value
    if mode is None:
        return "r"
    return mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "?"


class WriteParams(Params):
    pass


@_register("file_write", WriteParams, "any file write (supervised: the evaluator should not see side files)")
def _file_write(ctx: Context, p: WriteParams) -> list[Finding]:
    out = []
    for path, src in ctx.child.items():
        for call, name in src.calls:
            if name in ("open", "io.open", "codecs.open"):
                if any(c in _mode_of(call) for c in "wax+?"):
                    out.append(Finding("file_write", "opens a file for writing", path, call.lineno))
            elif _match(name, _WRITE_CALLS) or (
                isinstance(call.func, ast.Attribute) and call.func.attr in _WRITE_METHODS
            ):
                what = name or (call.func.attr if isinstance(call.func, ast.Attribute) else "?")
                out.append(Finding("file_write", f"writes to the file system ({what})", path, call.lineno))
    return out


# -- the evaluator and other protected files ----------------------------------------------------------------------


class EvaluatorParams(Params):
    pass


@_register(
    "evaluator_access", EvaluatorParams, "importing, reading or naming the evaluator and protected files"
)
def _evaluator_access(ctx: Context, p: EvaluatorParams) -> list[Finding]:
    out = []
    prot = ctx.protected
    for path, src in ctx.child.items():
        for mod, line in src.imports:
            parts = mod.lstrip(".").split(".")
            if any(part in prot.stems for part in parts):
                out.append(Finding("evaluator_access", f"imports protected module {mod}", path, line))
        for s, line in src.strings:
            low = s.lower()
            if len(low) > 300:
                continue
            comps = _components(low)
            if (
                low in prot.stems
                or any(c in prot.names for c in comps)
                or any(c.rsplit(".", 1)[0] in prot.stems and "." in c for c in comps)
            ):
                out.append(
                    Finding("evaluator_access", f"names protected task file or module {s!r}", path, line)
                )
    for fpath, text in ctx.texts.items():
        # A program file must not be, or be a copy of, a protected file.
        base = fpath.rsplit("/", 1)[-1].lower()
        if any(fnmatch.fnmatchcase(fpath, pat) or fnmatch.fnmatchcase(base, pat) for pat in prot.patterns):
            out.append(Finding("evaluator_access", f"program file {fpath} has a protected name", fpath, None))
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest in prot.hashes:
            out.append(
                Finding(
                    "evaluator_access",
                    f"program file {fpath} is a copy of {prot.hashes[digest]}",
                    fpath,
                    None,
                )
            )
    return out


# -- monkeypatching -----------------------------------------------------------------------------------------------

_CMP_DUNDERS = (
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__contains__",
    "__bool__",
    "__len__",
)


class PatchParams(Params):
    protect_local_classes: bool = Field(
        True, description="also flag comparison dunders that return a constant (objects equal to everything)"
    )


def _is_const(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) or (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.Not)
        and isinstance(node.operand, ast.Constant)
    )


def _patch_target(target: ast.expr, src: Source) -> str | None:
    if isinstance(target, ast.Attribute):
        base: ast.expr = target
        while isinstance(base, ast.Attribute):
            base = base.value
        if isinstance(base, ast.Name) and (base.id in src.aliases or base.id in ("__builtins__", "builtins")):
            return dotted(target, src.aliases)
    if isinstance(target, ast.Subscript):
        v = target.value
        name = dotted(v, src.aliases)
        if name in ("__builtins__", "sys.modules", "builtins.__dict__") or (
            isinstance(v, ast.Attribute) and v.attr == "__dict__"
        ):
            return f"{name or '...'}[...]"
        if isinstance(v, ast.Call) and dotted(v.func, src.aliases) in ("globals", "vars", "locals"):
            return f"{dotted(v.func, src.aliases)}()[...]"
    return None


@_register(
    "monkeypatch", PatchParams, "patching imported modules, builtins, the scorer; always-equal objects"
)
def _monkeypatch(ctx: Context, p: PatchParams) -> list[Finding]:
    out = []
    for path, src in ctx.child.items():
        for st in src.stores:
            targets: list[ast.expr] = []
            if isinstance(st, ast.Assign):
                targets = list(st.targets)
            elif isinstance(st, ast.AugAssign | ast.AnnAssign):
                targets = [st.target]
            elif isinstance(st, ast.Delete):
                targets = list(st.targets)
            for t in targets:
                for sub in ast.walk(t) if isinstance(t, ast.Tuple | ast.List) else [t]:
                    if isinstance(sub, ast.expr):
                        name = _patch_target(sub, src)
                        if name:
                            out.append(Finding("monkeypatch", f"assigns to {name}", path, st.lineno))
        for call, name in src.calls:
            if name in ("setattr", "delattr", "object.__setattr__") and call.args:
                t = call.args[0]
                if isinstance(t, ast.Name) and (t.id in src.aliases or t.id in ("__builtins__", "builtins")):
                    out.append(Finding("monkeypatch", f"{name}() on imported {t.id}", path, call.lineno))
                elif isinstance(t, ast.Call):
                    out.append(Finding("monkeypatch", f"{name}() on a computed object", path, call.lineno))
        if not p.protect_local_classes:
            continue
        for cls in src.classes:
            for item in cls.body:
                if isinstance(item, ast.FunctionDef) and item.name in _CMP_DUNDERS:
                    rets = [n for n in ast.walk(item) if isinstance(n, ast.Return)]
                    if rets and all(_is_const(r.value) for r in rets):
                        out.append(
                            Finding(
                                "monkeypatch", f"{cls.name}.{item.name} returns a constant", path, item.lineno
                            )
                        )
                elif (
                    isinstance(item, ast.Assign)
                    and isinstance(item.value, ast.Lambda)
                    and any(isinstance(t, ast.Name) and t.id in _CMP_DUNDERS for t in item.targets)
                    and _is_const(item.value.body)
                ):
                    out.append(
                        Finding("monkeypatch", f"{cls.name} compares as a constant", path, item.lineno)
                    )
    return out


# -- tests --------------------------------------------------------------------------------------------------------

_SKIPS = (
    "pytest.skip",
    "pytest.xfail",
    "pytest.importorskip",
    "pytest.mark.skip",
    "pytest.mark.skipif",
    "pytest.mark.xfail",
    "unittest.skip",
    "unittest.skipIf",
    "unittest.skipUnless",
    "unittest.expectedFailure",
    "unittest.SkipTest",
    "unittest.case.SkipTest",
)


class TestsParams(Params):
    skip_names: tuple[str, ...] = _SKIPS


def _is_test_file(path: str) -> bool:
    base = path.rsplit("/", 1)[-1]
    return (
        base.startswith("test_")
        or base.endswith("_test.py")
        or "/tests/" in f"/{path}"
        or base == "conftest.py"
    )


def _tests(src: Source, path: str) -> dict[str, int]:
    """Test function name -> number of asserts in it (``test_*`` functions anywhere; any function in test files)."""
    out: dict[str, int] = {}
    in_test_file = _is_test_file(path)
    for f in src.funcs:
        if f.name.startswith("test") or (in_test_file and not f.name.startswith("_")):
            out[f.name] = sum(1 for n in ast.walk(f) if isinstance(n, ast.Assert))
    return out


@_register(
    "test_tampering", TestsParams, "pytest skip/xfail, assert True, deleted tests or asserts, conftest hooks"
)
def _test_tampering(ctx: Context, p: TestsParams) -> list[Finding]:
    out = []
    for path, src in ctx.child.items():
        for node, name in [*src.attrs, *((c.func, n) for c, n in src.calls)]:
            if _match(name, p.skip_names):
                out.append(Finding("test_tampering", f"uses {name}", path, node.lineno))
        for call, _ in src.calls:
            if isinstance(call.func, ast.Attribute) and call.func.attr == "skipTest":
                out.append(Finding("test_tampering", "calls skipTest()", path, call.lineno))
        for a in src.asserts:
            if _is_const(a.test) and not (isinstance(a.test, ast.Constant) and not a.test.value):
                out.append(Finding("test_tampering", "assert of a constant (always passes)", path, a.lineno))
        for f in src.funcs:
            if f.name.startswith("pytest_") and path.rsplit("/", 1)[-1] == "conftest.py":
                out.append(Finding("test_tampering", f"defines pytest hook {f.name}", path, f.lineno))
    for path, psrc in ctx.parent.items():
        if not psrc.ok:
            continue
        before = _tests(psrc, path)
        csrc = ctx.child.get(path)
        after = _tests(csrc, path) if csrc is not None and csrc.ok else {}
        for name, n in before.items():
            if name not in after:
                out.append(Finding("test_tampering", f"deletes test {name}", path, None))
            elif after[name] < n:
                out.append(Finding("test_tampering", f"removes asserts from test {name}", path, None))
    return out


# -- markers ------------------------------------------------------------------------------------------------------

_LOG_METHODS = {"debug", "info", "warning", "warn", "error", "critical", "exception", "log"}
_LOGGER_NAMES = {"logging", "logger", "log", "_log", "_logger", "LOGGER", "LOG"}


class MarkersParams(Params):
    markers: tuple[str, ...] = Field((), description="marker substrings on top of guard.canary_markers")
    log_calls: bool = Field(True, description="treat the message of every logging call as a marker")


def _markers(src: Source, markers: tuple[str, ...], log_calls: bool) -> dict[str, int]:
    found: dict[str, int] = {}
    for s, line in src.strings:
        if any(m in s for m in markers):
            found.setdefault(s, line)
    if log_calls:
        for call, _ in src.calls:
            f = call.func
            if (
                isinstance(f, ast.Attribute)
                and f.attr in _LOG_METHODS
                and isinstance(f.value, ast.Name)
                and f.value.id in _LOGGER_NAMES
            ):
                for a in call.args:
                    if isinstance(a, ast.Constant) and isinstance(a.value, str):
                        found.setdefault(a.value, call.lineno)
                        break
    return found


@_register("marker_removal", MarkersParams, "deleting canary or logging markers the parent had")
def _marker_removal(ctx: Context, p: MarkersParams) -> list[Finding]:
    out = []
    markers = (*ctx.markers, *p.markers)
    for path, psrc in ctx.parent.items():
        if not psrc.ok:
            continue
        before = _markers(psrc, markers, p.log_calls)
        if not before:
            continue
        csrc = ctx.child.get(path)
        after = _markers(csrc, markers, p.log_calls) if csrc is not None and csrc.ok else {}
        for s in before:
            if s not in after:
                out.append(Finding("marker_removal", f"removes marker {s[:60]!r}", path, before[s]))
    return out


# -- hard-coded outputs -------------------------------------------------------------------------------------------

_WELL_KNOWN = tuple(
    repr(v)[:7]
    for v in (math.pi, math.e, math.tau, math.sqrt(2), math.sqrt(3), (1 + math.sqrt(5)) / 2, math.log(2))
)


def norm_number(v: float | int) -> str | None:
    """A canonical text for a *distinctive* number (>= 4 significant digits, not a well-known constant)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return str(v) if abs(v) >= 10_000 and v % 1000 != 0 else None
    if not math.isfinite(v):
        return None
    digits = re.sub(r"[^0-9]", "", f"{abs(v):.12g}".split("e")[0]).strip("0")
    if len(digits) < 4:
        return None
    text = f"{v:.6g}"
    if any(text.lstrip("-").startswith(w[:6]) for w in _WELL_KNOWN):
        return None
    return text


_NUM_RE = re.compile(r"-?\d+\.\d{3,}(?:[eE][-+]?\d+)?|-?\b\d{5,}\b")


def distinctive_constants(name: str, data: bytes, limit: int = 50_000) -> dict[str, str]:
    """Distinctive numbers (and, for Python files, long strings) of a protected task file."""
    out: dict[str, str] = {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return out
    if name.endswith(".py"):
        try:
            tree = parse_python(text)
        except SyntaxError:
            tree = None
        if tree is not None:
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
                    k = norm_number(node.value)
                    if k:
                        out[k] = name
            return out
    for m in _NUM_RE.finditer(text[:2_000_000]):
        try:
            v: float | int = (
                float(m.group()) if "." in m.group() or "e" in m.group().lower() else int(m.group())
            )
        except ValueError:
            continue
        k = norm_number(v)
        if k:
            out[k] = name
            if len(out) >= limit:
                break
    return out


class HardcodeParams(Params):
    min_return_items: int = Field(
        3, ge=1, description="a special-cased return with this many constants is flagged"
    )


def _literal_answer(value: ast.expr, p: HardcodeParams) -> bool:
    if isinstance(value, ast.Constant):
        return isinstance(value.value, float) and norm_number(value.value) is not None
    if isinstance(value, ast.List | ast.Tuple | ast.Dict | ast.Set):
        return _literal_size(value) >= p.min_return_items and all(
            isinstance(
                n,
                ast.Constant
                | ast.expr_context
                | ast.List
                | ast.Tuple
                | ast.Dict
                | ast.Set
                | ast.UnaryOp
                | ast.unaryop,
            )
            for n in ast.walk(value)
        )
    return False


def _literal_size(node: ast.AST) -> int:
    return sum(1 for n in ast.walk(node) if isinstance(n, ast.Constant))


def _mentions(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


@_register(
    "hardcoded_outputs", HardcodeParams, "constants copied from the evaluator's data; special-cased inputs"
)
def _hardcoded(ctx: Context, p: HardcodeParams) -> list[Finding]:
    out = []
    consts = ctx.protected.constants
    for path, src in ctx.child.items():
        for v, line in src.numbers:
            k = norm_number(v)
            if k and k in consts:
                out.append(
                    Finding("hardcoded_outputs", f"constant {k} is copied from {consts[k]}", path, line)
                )
        params = src.params
        if not params:
            continue
        for node in src.ifs:
            t = node.test
            if not isinstance(t, ast.Compare) or not isinstance(t.ops[0], ast.Eq | ast.In):
                continue
            sides = [t.left, *t.comparators]
            if not any(
                isinstance(x, ast.List | ast.Tuple | ast.Set | ast.Dict | ast.Constant) for x in sides
            ):
                continue
            if not any(_mentions(x, params) for x in sides):
                continue
            for st in node.body:
                if isinstance(st, ast.Return) and st.value is not None and _literal_answer(st.value, p):
                    out.append(
                        Finding(
                            "hardcoded_outputs",
                            "returns a literal answer for a specific input",
                            path,
                            node.lineno,
                        )
                    )
        lookups: list[tuple[ast.AST, ast.AST, int]] = [(n.value, n.slice, n.lineno) for n in src.subscripts]
        lookups.extend(
            (c.func.value, c.args[0], c.lineno)
            for c, _ in src.calls
            if isinstance(c.func, ast.Attribute) and c.func.attr == "get" and c.args
        )
        for table, key, line in lookups:
            if isinstance(table, ast.Name) and table.id in src.module_dicts:
                table = src.module_dicts[table.id]
            if (
                isinstance(table, ast.Dict)
                and table.keys
                and all(isinstance(k, ast.Tuple | ast.Constant) for k in table.keys)
                and any(isinstance(k, ast.Tuple) for k in table.keys)
                and _mentions(key, params)
            ):
                out.append(Finding("hardcoded_outputs", "looks answers up by the whole input", path, line))
    return out


class TablesParams(Params):
    min_items: int = Field(64, ge=2, description="constants in one literal that make it a table to review")


@_register("literal_tables", TablesParams, "large literal tables (possible memorised answers)")
def _literal_tables(ctx: Context, p: TablesParams) -> list[Finding]:
    out = []
    for path, src in ctx.child.items():
        for node in src.containers:
            n = _literal_size(node)
            if n >= p.min_items:
                out.append(Finding("literal_tables", f"literal table of {n} constants", path, node.lineno))
    return out


# -- diff size ----------------------------------------------------------------------------------------------------


class DiffParams(Params):
    max_lines: int = Field(400, ge=1)


@_register("diff_size", DiffParams, "a diff larger than max_lines (added + removed)")
def _diff_size(ctx: Context, p: DiffParams) -> list[Finding]:
    if ctx.diff_lines > p.max_lines:
        return [Finding("diff_size", f"diff of {ctx.diff_lines} lines exceeds {p.max_lines}", "", None)]
    return []
