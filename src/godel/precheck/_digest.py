"""A code digest under which programs that differ by nothing Python executes are equal.

Python files are digested by their syntax tree, so these differences vanish: whitespace and indentation style,
blank lines, comments, line continuations, redundant parentheses, trailing commas, the quoting and implicit
concatenation of string literals, the spelling of numbers (``1_000`` and ``1000``, ``0x10`` and ``16``) and the
``u`` prefix. Everything the program can observe stays: names, literal values, string contents and docstrings.

Docstrings are kept on purpose. They are ordinary values at run time (``__doc__``, ``help()``, ``doctest``, and
libraries that read them as data: PLY grammars, docopt usage texts, click help), so a docstring-only edit can change
what an evaluator sees; treating it as a duplicate would wrongly skip a program whose result may differ. A source
coding declaration other than UTF-8 is kept too, because it changes how the file's bytes decode in the sandbox.

Line numbers are dropped: they show only in tracebacks, not in results. An evaluator that scores the source text
itself (code length, say) is the exception; such a task should keep rejecting only exact duplicates.

Files that are not Python, and Python files that do not parse, are digested by their text, exactly as
:meth:`godel.candidate.Program.digest` does, so a program with no Python file has the same digest either way.
"""

from __future__ import annotations

import ast
import codecs
import functools
import hashlib
import re

from godel.candidate import Program
from godel.precheck._source import CACHE, is_python, parsed

__all__ = ["normalized_digest", "normalized_form"]

# PEP 263: the declaration sits in a comment on line 1 or 2.
_CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.ASCII)
# Tags the tree form of a file; NUL never occurs in a Python file that parses, so no text can read as a tree form.
_TREE = "\0python-ast-v1\0"
_SKIPPED_FIELDS = frozenset(
    {"kind", "type_comment", "ctx"}
)  # the u prefix; unused comments; implied by position


def _coding(text: str) -> str:
    for line in text.splitlines()[:2]:
        m = _CODING.match(line)
        if m is not None:
            try:
                name = codecs.lookup(m.group(1)).name
            except LookupError:
                return m.group(1)  # an unknown encoding fails in the sandbox: keep it distinct
            return "" if name == "utf-8" else name
        if line.strip() and not line.lstrip().startswith("#"):
            break
    return ""


def _constant(value: object) -> str:
    # Constants are always quoted or typed (repr, hex) so "None" the string never reads as None the value.
    return hex(value) if type(value) is int else repr(value)  # repr() of an int over 4300 digits raises


def _serialise(node: object, out: list[str]) -> None:
    if isinstance(node, ast.Constant):
        out.append("Constant(")
        out.append(_constant(node.value))
        out.append(")")
    elif isinstance(node, ast.AST):
        out.append(type(node).__name__)
        out.append("(")
        for name in node._fields:
            if name not in _SKIPPED_FIELDS:
                _serialise(getattr(node, name, None), out)
                out.append(",")
        out.append(")")
    elif isinstance(node, list):
        out.append("[")
        for item in node:
            _serialise(item, out)
            out.append(",")
        out.append("]")
    elif isinstance(node, str):
        out.append(node)  # an identifier: never a keyword such as None, and never holds , ( ) [ ]
    else:
        out.append(_constant(node))  # None, an import level, a MatchSingleton's value


@functools.lru_cache(maxsize=CACHE)
def normalized_form(path: str, text: str) -> str:
    """What :func:`normalized_digest` hashes for one file: the tree form of Python, else the text itself."""
    if not is_python(path):
        return text
    tree = parsed(text)
    if not isinstance(tree, ast.Module):
        return text
    out = [_TREE, _coding(text), ";"]
    try:
        _serialise(tree, out)
    except RecursionError:
        return text  # deeper than this interpreter walks: compared by text, which only misses duplicates
    return "".join(out)


def normalized_digest(program: Program) -> str:
    """SHA-256 over the program's files, each Python file by its syntax tree (see the module docstring)."""
    h = hashlib.sha256()
    for path, text in program.files.items():
        h.update(path.encode())
        h.update(b"\0")
        h.update(normalized_form(path, text).encode())
        h.update(b"\0")
    return h.hexdigest()
