"""Parsing model replies into edits, tolerant of what small models write.

The parsers accept the aider/OpenEvolve ``SEARCH/REPLACE`` format with the damage small models do to it (wrong marker
lengths, code fences inside or around blocks, a file path line, CRLF, a missing closing marker), and full rewrites in
a code block. Every failure is an :class:`ApplyError` whose message is written for the model: it is fed back in the
next prompt. Applying the edits to a program is :mod:`godel.propose._apply`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from godel._syntax import syntax_error
from godel.errors import ApplyError

__all__ = ["SearchReplace", "parse_full_rewrite", "parse_search_replace"]


@dataclass(frozen=True)
class SearchReplace:
    """One edit: replace the (unique) occurrence of ``search`` with ``replace``, in ``path`` when given."""

    search: str
    replace: str
    path: str | None = None


# -- parsing ----------------------------------------------------------------------------------------------------

# Marker lengths vary (small models write 5 to 9 angle brackets, or none), and some append a colon.
_SEARCH_RE = re.compile(r"^\s*(?:<{2,}\s*|#+\s*)?SEARCH\s*:?\s*$")
_DIVIDER_RE = re.compile(r"^\s*={3,}\s*$")
_REPLACE_RE = re.compile(r"^\s*(?:>{2,}\s*|#+\s*)?REPLACE\s*:?\s*$")
_FENCE_RE = re.compile(r"^\s*(```|~~~)")
_PATH_RE = re.compile(
    r"^\s*(?:#+\s*)?(?:(?:file|path|filename)\s*:\s*)?[`*'\"]*"
    r"(?P<path>[\w.\-]+(?:/[\w.\-]+)*\.[A-Za-z0-9]{1,8})"
    r"[`*'\"]*\s*:?\s*$",
    re.IGNORECASE,
)


def _strip_fences(lines: list[str]) -> list[str]:
    """Drop code-fence lines at the start and end of a block part (models fence the SEARCH and REPLACE texts)."""
    while lines and _FENCE_RE.match(lines[0]):
        lines = lines[1:]
    while lines and _FENCE_RE.match(lines[-1]):
        lines = lines[:-1]
    return lines


def _path_before(lines: list[str], index: int) -> str | None:
    """A file path named on the line before a SEARCH marker (skipping blank and fence lines), if any."""
    j = index - 1
    while j >= 0 and (not lines[j].strip() or _FENCE_RE.match(lines[j])):
        j -= 1
    if j < 0:
        return None
    m = _PATH_RE.match(lines[j])
    return m.group("path") if m else None


def _join(lines: list[str]) -> str:
    return "\n".join(lines) + "\n" if lines else ""


def parse_search_replace(text: str) -> list[SearchReplace]:
    """The SEARCH/REPLACE blocks of a model reply, in order.

    A block whose REPLACE marker is missing ends at the next SEARCH marker, at a closing code fence, or at the end
    of the reply (truncated output). A block without a ``=======`` divider cannot be split and is an error.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[SearchReplace] = []
    i = 0
    n = len(lines)
    while i < n:
        if not _SEARCH_RE.match(lines[i]):
            i += 1
            continue
        number = len(blocks) + 1
        path = _path_before(lines, i)
        j = i + 1
        search: list[str] = []
        while j < n and not _DIVIDER_RE.match(lines[j]):
            if _SEARCH_RE.match(lines[j]) or _REPLACE_RE.match(lines[j]):
                raise ApplyError(
                    f"SEARCH/REPLACE block {number} has no ======= line between its SEARCH and REPLACE parts",
                    hint="write <<<<<<< SEARCH, the old lines, =======, the new lines, >>>>>>> REPLACE",
                )
            search.append(lines[j])
            j += 1
        if j >= n:
            raise ApplyError(
                f"SEARCH/REPLACE block {number} ends before its ======= line",
                hint="write <<<<<<< SEARCH, the old lines, =======, the new lines, >>>>>>> REPLACE",
            )
        j += 1
        replace: list[str] = []
        opened = False  # the REPLACE part starts with its own code fence
        closed = False
        while j < n:
            line = lines[j]
            if _REPLACE_RE.match(line):
                closed = True
                j += 1
                break
            if _SEARCH_RE.match(line):
                break  # REPLACE marker missing: the next block starts
            j += 1
            replace.append(line)
            if _FENCE_RE.match(line):
                if not opened and len(replace) == 1:
                    opened = True
                elif not any(_REPLACE_RE.match(rest) for rest in lines[j : j + 2]):
                    break  # REPLACE marker missing: a closing fence ends the block (prose usually follows)
        if not closed:
            while replace and not replace[-1].strip():
                replace.pop()
        blocks.append(SearchReplace(_join(_strip_fences(search)), _join(_strip_fences(replace)), path))
        i = j
    if not blocks:
        raise ApplyError(
            "no SEARCH/REPLACE block found in the reply",
            hint="answer with blocks of the form <<<<<<< SEARCH / old lines / ======= / new lines / "
            ">>>>>>> REPLACE",
        )
    return blocks


_FENCED_RE = re.compile(
    r"^[ \t]*(?:```|~~~)[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*(?:```|~~~)[ \t]*$|\Z)", re.M | re.S
)
_CODE_START_RE = re.compile(
    r"^(?:def |async def |class |import |from |@|#|if |for |while |with |try:|[A-Za-z_][\w.]*\s*(?:[-+*/]?=|:|\())"
)


def parse_full_rewrite(text: str) -> str:
    """The program text of a full-rewrite reply: the longest fenced block that parses, else the bare code.

    Prose before or after unfenced code is trimmed line by line until the rest parses.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    fenced = [
        (m.group(2), m.group(1).lower())
        for m in _FENCED_RE.finditer(text)
        if m.group(1).lower() not in _NOT_PY
    ]
    first_error: SyntaxError | None = None
    for code, _lang in sorted(fenced, key=lambda c: -len(c[0])):
        if not code.strip():
            continue
        err = syntax_error(code)
        if err is None:
            return code if code.endswith("\n") else code + "\n"
        first_error = first_error or err
    if not fenced:
        lines = text.strip("\n").split("\n")
        # Prose around bare code: try the first few plausible starts, dropping trailing lines until the rest
        # parses (bounded: replies are short and each parse is microseconds).
        starts = [k for k, line in enumerate(lines) if _CODE_START_RE.match(line)][:8]
        for start in starts:
            for end in range(len(lines), max(start, len(lines) - 40), -1):
                code = "\n".join(lines[start:end]).rstrip() + "\n"
                err = syntax_error(code)
                if err is None:
                    return code
                first_error = first_error or err
    if first_error is not None:
        raise ApplyError(
            f"the rewritten program is not valid Python: line {first_error.lineno}: {first_error.msg}",
            hint="reply with the complete program in one ```python block",
        )
    raise ApplyError(
        "no Python code found in the reply", hint="reply with the complete program in one ```python block"
    )


_NOT_PY = {"diff", "patch", "text", "txt", "json", "yaml", "toml", "bash", "sh", "shell", "console", "output"}


# -- matching ---------------------------------------------------------------------------------------------------
