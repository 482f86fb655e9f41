"""Applying edits parsed from model replies (:mod:`godel.propose._reply`) to a program, tolerant of small models.

Every LLM proposer goes through here. The applier matches exactly first and then progressively more loosely (trailing
whitespace, indentation, blank lines), but always requires a unique match inside an evolvable region. Every failure
is an :class:`ApplyError` whose message is written for the model: it is fed back in the next prompt, so it says which
block failed, what was not found and where the closest line is.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from godel._syntax import syntax_error
from godel.candidate import Program
from godel.errors import ApplyError, TaskError
from godel.propose._reply import SearchReplace
from godel.task import EVOLVE_END, EVOLVE_START, Region, Task, evolve_regions

__all__ = ["apply_full_rewrite", "apply_search_replace"]


def _indent_width(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def _min_indent(lines: Sequence[str]) -> int:
    widths = [_indent_width(line) for line in lines if line.strip()]
    return min(widths) if widths else 0


def _reindent(lines: list[str], old_base: int, new_base: int) -> list[str]:
    """Shift ``lines`` so their indentation is relative to ``new_base`` instead of ``old_base``."""
    if old_base == new_base:
        return lines
    out = []
    for line in lines:
        if not line.strip():
            out.append("")
            continue
        body = line.expandtabs(4)
        width = len(body) - len(body.lstrip(" "))
        out.append(" " * max(0, width - old_base + new_base) + body.lstrip(" "))
    return out


@dataclass(frozen=True)
class _Match:
    start: int  # first file line of the matched span
    end: int  # exclusive
    new_lines: tuple[str, ...]
    strategy: str


def _find_all(hay: Sequence[str], needle: Sequence[str]) -> list[int]:
    if not needle:
        return []
    first = needle[0]
    k = len(needle)
    return [i for i in range(len(hay) - k + 1) if hay[i] == first and list(hay[i : i + k]) == list(needle)]


def _strategies(
    file_lines: list[str], search: list[str], replace: list[str]
) -> list[tuple[str, Callable[[], list[_Match]]]]:
    def exact() -> list[_Match]:
        k = len(search)
        return [_Match(i, i + k, tuple(replace), "exact") for i in _find_all(file_lines, search)]

    def rstripped() -> list[_Match]:
        hay = [line.rstrip() for line in file_lines]
        k = len(search)
        needle = [line.rstrip() for line in search]
        return [_Match(i, i + k, tuple(replace), "trailing-whitespace") for i in _find_all(hay, needle)]

    def reindented() -> list[_Match]:
        hay = [line.strip() for line in file_lines]
        needle = [line.strip() for line in search]
        k = len(search)
        out = []
        for i in _find_all(hay, needle):
            new = _reindent(replace, _min_indent(search), _min_indent(file_lines[i : i + k]))
            out.append(_Match(i, i + k, tuple(new), "indentation"))
        return out

    def blank_lines() -> list[_Match]:
        idx = [i for i, line in enumerate(file_lines) if line.strip()]
        hay = [file_lines[i].strip() for i in idx]
        needle = [line.strip() for line in search if line.strip()]
        out = []
        for p in _find_all(hay, needle):
            start, end = idx[p], idx[p + len(needle) - 1] + 1
            new = _reindent(replace, _min_indent(search), _min_indent(file_lines[start:end]))
            out.append(_Match(start, end, tuple(new), "blank-lines"))
        return out

    return [
        ("exact", exact),
        ("trailing-whitespace", rstripped),
        ("indentation", reindented),
        ("blank-lines", blank_lines),
    ]


def _changed_span(old: Sequence[str], new: Sequence[str]) -> tuple[int, int, int]:
    """Offsets ``(a, b_old, b_new)``: ``old[a:b_old]`` becomes ``new[a:b_new]``; the rest is unchanged."""
    a = 0
    while a < len(old) and a < len(new) and old[a] == new[a]:
        a += 1
    bo, bn = len(old), len(new)
    while bo > a and bn > a and old[bo - 1] == new[bn - 1]:
        bo -= 1
        bn -= 1
    return a, bo, bn


def _inside(regions: Sequence[Region], path: str, start: int, end: int) -> bool:
    """Whether changing file lines ``start:end`` (an insertion when equal) stays within one evolvable region."""
    return any(r.path == path and r.start <= start and end <= r.end for r in regions)


def _legal(match: _Match, lines: list[str], regions: Sequence[Region], path: str) -> bool:
    a, b_old, _b_new = _changed_span(lines[match.start : match.end], match.new_lines)
    return _inside(regions, path, match.start + a, match.start + b_old)


def _quote(lines: Sequence[str], limit: int = 3) -> str:
    shown = [line for line in lines if line.strip()][:limit]
    more = " ..." if len([line for line in lines if line.strip()]) > limit else ""
    return " | ".join(line.strip() for line in shown) + more


def _closest(file_lines: Sequence[str], search: Sequence[str]) -> str:
    """A pointer to the file line most like the first non-blank SEARCH line, for the error message."""
    target = next((line.strip() for line in search if line.strip()), "")
    if not target:
        return ""
    best, best_ratio = -1, 0.0
    for i, line in enumerate(file_lines):
        if not line.strip():
            continue
        sm = difflib.SequenceMatcher(None, target, line.strip(), autojunk=False)
        if sm.real_quick_ratio() <= best_ratio or sm.quick_ratio() <= best_ratio:
            continue
        ratio = sm.ratio()
        if ratio > best_ratio:
            best, best_ratio = i, ratio
    if best < 0 or best_ratio < 0.5:
        return ""
    return f"; the closest line is line {best + 1}: {file_lines[best].strip()!r}"


def _split(text: str) -> list[str]:
    text = text.replace("\r\n", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n") if text else []


def _apply_one(
    number: int, edit: SearchReplace, path: str, text: str, regions: Sequence[Region]
) -> tuple[str, str]:
    """Apply block ``number`` to ``text``; returns the new text and the matching strategy used."""
    file_lines = _split(text)
    search = _split(edit.search)
    replace = _split(edit.replace)
    if not any(line.strip() for line in search):
        raise ApplyError(
            f"block {number}: the SEARCH part is empty",
            hint="copy the lines to change into SEARCH exactly as they appear in the program",
        )
    for name, find in _strategies(file_lines, search, replace):
        found = find()
        if not found:
            continue
        legal = [m for m in found if _legal(m, file_lines, regions, path)]
        if len(legal) > 1 or (not legal and len(found) > 1):
            at = ", ".join(str(m.start + 1) for m in (legal or found)[:5])
            raise ApplyError(
                f"block {number}: the SEARCH text {_quote(search)!r} matches {len(legal or found)} places in "
                f"{path} (lines {at})",
                hint="include more surrounding lines in SEARCH so it matches exactly one place",
            )
        if not legal:
            if not any(r.path == path for r in regions):
                raise ApplyError(
                    f"block {number}: {path} is a fixed file of the task and must not change",
                    hint="edit only the program's other files",
                )
            raise ApplyError(
                f"block {number}: the SEARCH text {_quote(search)!r} is at line {found[0].start + 1} of {path}, "
                "outside the EVOLVE-BLOCK regions (or the edit touches the markers)",
                hint=f"change only the code between # {EVOLVE_START} and # {EVOLVE_END}",
            )
        m = legal[0]
        new_lines = list(m.new_lines)
        block_indent = _min_indent(file_lines[m.start : m.end])
        if block_indent > 0 and any(line.strip() for line in new_lines) and _min_indent(new_lines) == 0:
            # A REPLACE flush with column 0 for a block nested in code is a model that lost the indentation (moving
            # code to module level mid-function would break the rest of the function): indent it like the block.
            new_lines = _reindent(new_lines, 0, block_indent)
        trailing = "\n" if text.endswith("\n") or not text else ""
        return "\n".join(file_lines[: m.start] + new_lines + file_lines[m.end :]) + trailing, name
    raise ApplyError(
        f"block {number}: the SEARCH text {_quote(search)!r} was not found in {path}{_closest(file_lines, search)}",
        hint="copy the SEARCH lines exactly from the current program, including indentation",
    )


def _pick_path(number: int, edit: SearchReplace, task: Task, files: dict[str, str]) -> str | None:
    """Which file the block edits; None means "find the file whose text contains it" (folder mode)."""
    if task.mode != "folder":
        return next(iter(files))
    if edit.path is None:
        return None
    path = edit.path.removeprefix("./")
    if path in files:
        return path
    suffix = [p for p in files if p.endswith("/" + path)]
    if len(suffix) == 1:
        return suffix[0]
    if not edit.search.strip():
        return path  # a new file
    raise ApplyError(
        f"block {number}: no file {edit.path!r} in the program",
        hint="name one of: " + ", ".join(sorted(files)),
    )


def _check_result(task: Task, parent: Program, child: Program, what: str) -> Program:
    if child == parent:
        raise ApplyError(
            f"{what} leaves the program unchanged", hint="make the REPLACE part differ from SEARCH"
        )
    reason = task.check_edit(parent, child)
    if reason is not None:
        raise ApplyError(
            f"{what} is not allowed: {reason}",
            hint=f"change only the code between # {EVOLVE_START} and # {EVOLVE_END}"
            if task.mode != "folder"
            else None,
        )
    for path, text in child.files.items():
        if not path.endswith(".py") or parent.files.get(path) == text:
            continue
        err = syntax_error(text)
        if err is not None:
            lines = text.splitlines()
            at = lines[err.lineno - 1].strip() if err.lineno and 0 < err.lineno <= len(lines) else ""
            shown = f": {at!r}" if at else ""
            raise ApplyError(
                f"{what} leaves {path} with a syntax error at line {err.lineno}{shown}: {err.msg}",
                hint="check indentation and brackets in the REPLACE part",
            )
    return child


def apply_search_replace(task: Task, program: Program, edits: Sequence[SearchReplace]) -> Program:
    """Apply ``edits`` in order to ``program`` and return the new program.

    Raises :class:`ApplyError` when a block does not match exactly one place inside an evolvable region, or when the
    result breaks the task's edit rules or Python syntax.
    """
    if not edits:
        raise ApplyError("no SEARCH/REPLACE block to apply")
    files = dict(program.files)
    for number, edit in enumerate(edits, start=1):
        path = _pick_path(number, edit, task, files)
        if path is not None and path not in files:
            files[path] = (
                edit.replace if edit.replace.endswith("\n") or not edit.replace else edit.replace + "\n"
            )
            continue
        candidates = [path] if path is not None else list(files)
        errors: list[ApplyError] = []
        done: list[tuple[str, str]] = []
        for p in candidates:
            regions = task.regions(Program(files))
            try:
                new_text, _how = _apply_one(number, edit, p, files[p], regions)
            except ApplyError as exc:
                errors.append(exc)
                continue
            done.append((p, new_text))
        if len(done) > 1:
            raise ApplyError(
                f"block {number}: the SEARCH text {_quote(_split(edit.search))!r} matches in several files "
                f"({', '.join(p for p, _ in done)})",
                hint="put the file path on the line before <<<<<<< SEARCH",
            )
        if not done:
            if len(errors) == 1:
                raise errors[0]
            specific = [e for e in errors if "was not found" not in e.message]
            if specific:
                raise specific[0]
            raise ApplyError(
                f"block {number}: the SEARCH text {_quote(_split(edit.search))!r} was not found in any file",
                hint="copy the SEARCH lines exactly from the current program and name the file before the block",
            )
        p, new_text = done[0]
        files[p] = new_text
    return _check_result(task, program, Program(files), "the edit")


# -- full rewrites ----------------------------------------------------------------------------------------------


def _nonblank(lines: Sequence[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip()]


def _strip_frame(code_lines: list[str], prefix: list[str], suffix: list[str]) -> list[str]:
    """If ``code_lines`` is a whole file (it starts with the text before the region and ends with the text after
    it, markers dropped), return just the region body; otherwise return it unchanged."""
    pre = [line for line in _nonblank(prefix) if EVOLVE_START not in line]
    suf = [line for line in _nonblank(suffix) if EVOLVE_END not in line]
    if not pre and not suf:
        return code_lines
    idx = [i for i, line in enumerate(code_lines) if line.strip()]
    body = [code_lines[i].strip() for i in idx]
    if (
        len(body) < len(pre) + len(suf)
        or body[: len(pre)] != pre
        or (suf and body[len(body) - len(suf) :] != suf)
    ):
        return code_lines
    start = idx[len(pre) - 1] + 1 if pre else 0
    end = idx[len(body) - len(suf)] if suf else len(code_lines)
    # Blank lines next to the frame belong to the frame (they sit outside the markers in the original).
    while start < end and not code_lines[start].strip():
        start += 1
    while end > start and not code_lines[end - 1].strip():
        end -= 1
    return code_lines[start:end]


def apply_full_rewrite(task: Task, program: Program, code: str) -> Program:
    """Replace the evolvable code of ``program`` with ``code``.

    ``code`` may be the whole file (markers included, or dropped) or only the body of the program's single
    EVOLVE-BLOCK; in a folder task it replaces the single evolvable file. Raises :class:`ApplyError` when it cannot
    be placed, breaks the edit rules or does not parse.
    """
    code = code.replace("\r\n", "\n")
    if not code.endswith("\n"):
        code += "\n"
    if task.mode == "folder":
        editable = [p for p in program.files if p not in task.fixed and p.endswith(".py")]
        if len(editable) != 1:
            raise ApplyError(
                f"a full rewrite needs exactly one evolvable Python file, this program has {len(editable)}",
                hint="use SEARCH/REPLACE blocks with the file path on the line before each block",
            )
        return _check_result(task, program, program.replace(editable[0], code), "the rewrite")
    path = program.main_path
    text = program.files[path]
    regions = task.regions(program)
    lines = _split(text)
    has_markers = any(EVOLVE_START in line for line in lines)
    if not has_markers:
        return _check_result(task, program, program.replace(path, code), "the rewrite")
    code_lines = _split(code)
    if any(EVOLVE_START in line for line in code_lines):
        whole = program.replace(path, code)
        if task.check_edit(program, whole) is None:
            return _check_result(task, program, whole, "the rewrite")
        # The model changed the frame as well: keep the original frame and take only its region bodies.
        try:
            code_regions = evolve_regions(path, code)
        except TaskError as exc:
            raise ApplyError(
                f"the rewrite has broken EVOLVE-BLOCK markers: {exc}",
                hint=f"keep each # {EVOLVE_START} / # {EVOLVE_END} pair, or reply with only the code between them",
            ) from exc
        if len(code_regions) != len(regions):
            raise ApplyError(
                f"the rewrite has {len(code_regions)} EVOLVE-BLOCK regions, the program has {len(regions)}",
                hint="keep every region and its markers",
            )
        bodies = [code_lines[r.start : r.end] for r in code_regions]
    else:
        if len(regions) != 1:
            raise ApplyError(
                f"the program has {len(regions)} EVOLVE-BLOCK regions; a rewrite without markers is ambiguous",
                hint=f"reply with the whole file including the # {EVOLVE_START} / # {EVOLVE_END} markers",
            )
        r = regions[0]
        bodies = [_strip_frame(code_lines, lines[: r.start], lines[r.end :])]
    out: list[str] = []
    pos = 0
    for r, body in zip(regions, bodies, strict=True):
        out.extend(lines[pos : r.start])
        out.extend(body)
        pos = r.end
    out.extend(lines[pos:])
    new_text = "\n".join(out) + ("\n" if text.endswith("\n") else "")
    return _check_result(task, program, program.replace(path, new_text), "the rewrite")
