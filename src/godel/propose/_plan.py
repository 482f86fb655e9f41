"""GBNF grammars that make a small local model's reply a well-formed, non-empty edit by construction.

A 135M model cannot copy a SEARCH text exactly, copies whatever it was just shown, and rarely closes its brackets.
So for local models the proposer plans the edit (:func:`plan_edit`) and the model only writes the new code:

* **substitute**: one expression of the evolvable code (a number, a name, a call, a comparison, a right-hand side...)
  is replaced. The reply is prefilled with the SEARCH block (the statement holding the expression, unique in the
  file, so it matches by construction), the divider and the unchanged text before the expression; the model writes
  a new expression (balanced brackets, closed strings, bounded length, not starting like the old one, so the edit
  is never a no-op) and the grammar then forces the unchanged rest of the statement and the REPLACE marker.
* **insert**: after a statement (or as the first statement of a block) the model writes one or two new statements
  at the right indentation.

What no grammar can promise (an expression that is valid Python as a whole, names that exist) is checked after
applying; the proposer re-samples with another seed when it fails.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass

from godel._syntax import parse_python
from godel.candidate import Program
from godel.task import Task

__all__ = [
    "FULL_REWRITE_GRAMMAR",
    "PlannedEdit",
    "Span",
    "edit_spans",
    "gbnf_literal",
    "plan_edit",
]

# Rules shared by every planned-edit grammar. Items outside brackets exclude newline, comment, colon, brackets,
# quotes and digits (those have their own rules); inside brackets a colon is fine (slices, dicts, lambdas).
# Repetitions are bounded so a model that never closes a bracket is forced to.
_CHARS = r"""
sitem ::= [^\n#:()\[\]{}"'\\0-9] | num | group | str
gitem ::= [^\n#()\[\]{}"'\\0-9] | num | group | str
num ::= [0-9]{1,7} ("." [0-9]{1,6})?
group ::= "(" gitem{0,30} ")" | "[" gitem{0,30} "]" | "{" gitem{0,30} "}"
str ::= "\"" [^"\\\n]{0,40} "\"" | "'" [^'\\\n]{0,40} "'"
stmt ::= [a-zA-Z_] sitem{0,60}
"""

FULL_REWRITE_GRAMMAR = r"""root ::= "```python\n" line line* "```"
line ::= [^`\n]* "\n"
"""

_BASE_TOP = "\n#:()[]{}\"'\\0123456789"
_BASE_IN = "\n#()[]{}\"'\\0123456789"
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_HEADER_RE = re.compile(r"^\s*(if|elif|while|for|with|async for|async with|def|async def)\s")
_NO_INSERT_AFTER = ("return", "raise", "break", "continue")


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    out = ['"']
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _class(chars: str) -> str:
    esc = {"\n": "\\n", "\\": "\\\\", "]": "\\]", "[": "\\[", "^": "\\^", "-": "\\-", '"': '\\"'}
    return "[^" + "".join(esc.get(c, c) for c in dict.fromkeys(chars)) + "]"


@dataclass(frozen=True)
class Span:
    """Lines ``start:end`` (0-based) of ``path``: one simple statement, or one block header (``kind="header"``).

    ``exprs`` are the replaceable expressions as ``(offset, length, weight)`` character ranges of ``text``.
    """

    path: str
    start: int
    end: int
    text: str  # the lines, each ending in "\n"
    kind: str  # "simple" | "header"
    indent: str
    exprs: tuple[tuple[int, int, int], ...] = ()


def _weight(node: ast.expr) -> int:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return 6  # constants are where small, useful changes are
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        return 6
    if isinstance(node, ast.Compare | ast.BinOp | ast.Call):
        return 2
    return 1


def _header_parts(node: ast.stmt) -> list[ast.AST]:
    if isinstance(node, ast.If | ast.While):
        return [node.test]
    if isinstance(node, ast.For | ast.AsyncFor):
        return [node.iter]
    if isinstance(node, ast.With | ast.AsyncWith):
        return [item.context_expr for item in node.items]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
    return []


def _simple_parts(node: ast.stmt) -> list[ast.AST]:
    if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Return | ast.Expr):
        return [node.value] if node.value is not None else []
    return [
        child
        for child in ast.iter_child_nodes(node)
        if isinstance(child, ast.expr) and not isinstance(getattr(child, "ctx", None), ast.Store)
    ]


def _exprs(parts: list[ast.AST], lines: list[str], start: int, end: int) -> tuple[tuple[int, int, int], ...]:
    offsets = [0]
    for line in lines[start:end]:
        offsets.append(offsets[-1] + len(line if line.endswith("\n") else line + "\n"))
    out: set[tuple[int, int, int]] = set()
    # The object of an attribute (`random` in `random.uniform`) is a module or an object: replacing it alone
    # yields nonsense like `0.5.uniform(...)`.
    owners = {id(n.value) for p in parts for n in ast.walk(p) if isinstance(n, ast.Attribute)}
    for part in parts:
        for node in ast.walk(part):
            if not isinstance(node, ast.expr) or isinstance(node, ast.JoinedStr | ast.FormattedValue):
                continue
            if id(node) in owners:
                continue
            if isinstance(getattr(node, "ctx", None), ast.Store) or node.end_lineno != node.lineno:
                continue
            if node.end_col_offset is None or not start < node.lineno <= end:
                continue
            raw = lines[node.lineno - 1].encode()
            # AST columns count UTF-8 bytes; the grammar works on characters.
            c0 = len(raw[: node.col_offset].decode(errors="replace"))
            c1 = len(raw[: node.end_col_offset].decode(errors="replace"))
            if c1 <= c0:
                continue
            out.add((offsets[node.lineno - 1 - start] + c0, c1 - c0, _weight(node)))
    return tuple(sorted(out))


def _file_spans(path: str, text: str, regions: list[tuple[int, int]]) -> list[Span]:
    try:
        tree = parse_python(text)
    except SyntaxError:
        return []
    lines = text.splitlines(keepends=True)
    starts: dict[int, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            starts[node.lineno] = starts.get(node.lineno, 0) + 1
    spans: list[Span] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or node.end_lineno is None or starts[node.lineno] > 1:
            continue  # `a = 1; b = 2`: statements sharing a line cannot be replaced one at a time
        body = getattr(node, "body", None)
        if isinstance(body, list) and body:
            start, end = node.lineno - 1, body[0].lineno - 1
            if end - start != 1 or not _HEADER_RE.match(lines[start]) or "->" in lines[start]:
                continue  # multi-line or decorated headers, try:/class: nothing worth rewriting alone
            kind, parts = "header", _header_parts(node)
        else:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # docstrings and bare constants
            start, end = node.lineno - 1, node.end_lineno
            kind, parts = "simple", _simple_parts(node)
        if not any(r0 <= start and end <= r1 for r0, r1 in regions):
            continue
        block = "".join(ln if ln.endswith("\n") else ln + "\n" for ln in lines[start:end])
        if not block.strip() or any(ln.rstrip().endswith("\\") for ln in lines[start:end]):
            continue
        first = lines[start]
        indent = first[: len(first) - len(first.lstrip())]
        spans.append(Span(path, start, end, block, kind, indent, _exprs(parts, lines, start, end)))
    # Each SEARCH must match exactly one place: drop spans whose text occurs more than once in the file.
    whole = "\n" + (text if text.endswith("\n") else text + "\n")
    return sorted((s for s in spans if whole.count("\n" + s.text) == 1), key=lambda s: s.start)


def edit_spans(task: Task, program: Program, rng: random.Random | None = None, limit: int = 80) -> list[Span]:
    """The editable statements of ``program``'s evolvable regions (a random ``limit`` of them when more)."""
    by_path: dict[str, list[tuple[int, int]]] = {}
    for r in task.regions(program):
        by_path.setdefault(r.path, []).append((r.start, r.end))
    spans: list[Span] = []
    for path, regions in by_path.items():
        if path.endswith(".py") or task.mode == "file":
            spans.extend(_file_spans(path, program.files[path], regions))
    if len(spans) > limit:
        picked = (rng or random.Random(0)).sample(range(len(spans)), limit)
        spans = [spans[i] for i in sorted(picked)]
    return spans


# -- planned edits: the proposer picks where, the model writes what -----------------------------------------------


@dataclass(frozen=True)
class PlannedEdit:
    """A SEARCH/REPLACE block fixed up to the point where the model takes over.

    ``prefill`` is the start of the reply; ``grammar`` constrains the model's continuation, ``full_grammar`` the
    whole reply (for backends that cannot continue a prefilled reply). Every completion differs from the original.
    """

    span: Span
    op: str  # "substitute" | "insert"
    prefill: str
    grammar: str
    full_grammar: str
    instruction: str
    old: str = ""  # the replaced expression (substitute)


def _open_brackets(code: str) -> int:
    """How many brackets are open at the end of ``code`` (strings skipped; good enough for one statement)."""
    depth = 0
    quote: str | None = None
    for ch in code:
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
    return depth


def _first_item(forbidden: str, inside: bool) -> str:
    alts = [_class((_BASE_IN if inside else _BASE_TOP) + forbidden)]
    if not forbidden.isdigit():
        alts.append("num")
    alts += [f'"{o}" gitem{{0,30}} "{c}"' for o, c in _OPENERS.items() if o != forbidden]
    if forbidden != '"':
        alts.append('"\\"" [^"\\\\\\n]{0,40} "\\""')
    if forbidden != "'":
        alts.append('"\'" [^\'\\\\\\n]{0,40} "\'"')
    return " | ".join(alts)


def _search_head(span: Span, folder: bool) -> str:
    return (f"{span.path}\n" if folder else "") + "<<<<<<< SEARCH\n" + span.text + "=======\n"


def _with_prefill(prefill: str, cont: str) -> str:
    first, _, rest = cont.partition("\n")
    return f"root ::= {gbnf_literal(prefill)} {first.removeprefix('root ::= ')}\n{rest}"


def _substitute(span: Span, offset: int, length: int, folder: bool) -> PlannedEdit:
    before, old, after = span.text[:offset], span.text[offset : offset + length], span.text[offset + length :]
    inside = _open_brackets(before) > 0
    item = "gitem" if inside else "sitem"
    cont = (
        f"root ::= first {item}{{0,24}} {gbnf_literal(after + '>>>>>>> REPLACE')}\n"
        f"first ::= {_first_item(old[0], inside)}\n" + _CHARS.strip() + "\n"
    )
    prefill = _search_head(span, folder) + before
    line_no = span.start + before.count("\n") + 1
    return PlannedEdit(
        span=span,
        op="substitute",
        prefill=prefill,
        grammar=cont,
        full_grammar=_with_prefill(prefill, cont),
        instruction=f"In line {line_no}, replace `{old}` with a better expression.",
        old=old,
    )


def _insert(span: Span, body_indent: str, folder: bool) -> PlannedEdit:
    prefill = _search_head(span, folder) + span.text + body_indent
    ind = gbnf_literal(body_indent) + " " if body_indent else ""
    cont = (
        f'root ::= stmt "\\n" ({ind}stmt "\\n")? {gbnf_literal(">>>>>>> REPLACE")}\n' + _CHARS.strip() + "\n"
    )
    where = "as the first statement of the block" if span.kind == "header" else "after"
    return PlannedEdit(
        span=span,
        op="insert",
        prefill=prefill,
        grammar=cont,
        full_grammar=_with_prefill(prefill, cont),
        instruction=f"Add one new line of code {where} line {span.start + 1}: `{span.text.strip()}`.",
    )


def plan_edit(
    task: Task, program: Program, rng: random.Random, *, insert_share: float = 0.2
) -> PlannedEdit | None:
    """Choose where the next edit goes (an expression of the evolvable code, constants favoured, or an insertion
    point) and build its grammar; ``None`` when the program offers nothing to edit (not Python, empty region)."""
    spans = edit_spans(task, program, rng)
    if not spans:
        return None
    folder = task.mode == "folder"
    subs = [(s, off, n, w) for s in spans for off, n, w in s.exprs]
    inserts = [s for s in spans if not s.text.strip().startswith(_NO_INSERT_AFTER)]
    if subs and (not inserts or rng.random() >= insert_share):
        span, offset, length, _w = rng.choices(subs, weights=[w for *_, w in subs])[0]
        return _substitute(span, offset, length, folder)
    if not inserts:
        return None
    span = rng.choice(inserts)
    indent = span.indent
    if span.kind == "header":
        lines = program.files[span.path].splitlines()
        nxt = lines[span.end] if span.end < len(lines) else ""
        indent = nxt[: len(nxt) - len(nxt.lstrip())] or span.indent + "    "
    return _insert(span, indent, folder)
