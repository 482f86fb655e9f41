"""The reply parsers and the edit applier, on the kind of replies small models (SmolLM2-135M) really write."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from godel.candidate import Program
from godel.errors import ApplyError
from godel.propose import (
    SearchReplace,
    apply_full_rewrite,
    apply_search_replace,
    parse_full_rewrite,
    parse_search_replace,
)
from tests.propose.support import file_task, folder_task

PROGRAM = '''"""Minimise a function."""

import math
import random

# EVOLVE-BLOCK-START
def search(iterations=60, step=0.5):
    """Random local search."""
    x = random.uniform(-5.0, 5.0)
    best = f(x)
    for _ in range(iterations):
        cand = x + random.gauss(0.0, step)
        value = f(cand)
        if value < best:
            x, best = cand, value
    return x, best
# EVOLVE-BLOCK-END


def f(x):
    return math.sin(3 * x) + x * x / 10


def run():
    x, best = search()
    return x, best
'''

TASK = file_task(PROGRAM)


def text_of(program: Program) -> str:
    return program.files["initial_program.py"]


def apply(reply: str) -> str:
    return text_of(apply_search_replace(TASK, TASK.program, parse_search_replace(reply)))


# -- parse_search_replace ---------------------------------------------------------------------------------------


def test_canonical_block() -> None:
    blocks = parse_search_replace(
        "Change the step.\n<<<<<<< SEARCH\ndef search(iterations=60, step=0.5):\n=======\n"
        "def search(iterations=80, step=0.3):\n>>>>>>> REPLACE\n"
    )
    assert blocks == [
        SearchReplace("def search(iterations=60, step=0.5):\n", "def search(iterations=80, step=0.3):\n")
    ]


def test_several_blocks_in_order() -> None:
    reply = (
        "<<<<<<< SEARCH\na = 1\n=======\na = 2\n>>>>>>> REPLACE\n"
        "and then\n<<<<<<< SEARCH\nb = 1\n=======\nb = 2\n>>>>>>> REPLACE\n"
    )
    assert [(b.search, b.replace) for b in parse_search_replace(reply)] == [
        ("a = 1\n", "a = 2\n"),
        ("b = 1\n", "b = 2\n"),
    ]


@pytest.mark.parametrize(
    ("start", "middle", "end"),
    [
        ("<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"),
        ("<<<<< SEARCH", "=====", ">>>>> REPLACE"),
        ("<<<<<<<<< SEARCH   ", "=========  ", ">>>>>>>>> REPLACE  "),
        ("<<<<<<<SEARCH", "===", ">>>>>>>REPLACE"),
        ("<<<<<<< SEARCH:", "=======", ">>>>>>> REPLACE:"),
        ("SEARCH", "=======", "REPLACE"),
        ("### SEARCH", "=======", "### REPLACE"),
        ("  <<<<<<< SEARCH", "  =======", "  >>>>>>> REPLACE"),
    ],
)
def test_marker_variants(start: str, middle: str, end: str) -> None:
    blocks = parse_search_replace(f"{start}\nx = 1\n{middle}\nx = 2\n{end}\n")
    assert [(b.search, b.replace) for b in blocks] == [("x = 1\n", "x = 2\n")]


def test_crlf_reply() -> None:
    blocks = parse_search_replace("<<<<<<< SEARCH\r\nx = 1\r\n=======\r\nx = 2\r\n>>>>>>> REPLACE\r\n")
    assert [(b.search, b.replace) for b in blocks] == [("x = 1\n", "x = 2\n")]


def test_fences_around_the_block() -> None:
    reply = "Here you go:\n```python\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```\nDone."
    assert [(b.search, b.replace) for b in parse_search_replace(reply)] == [("x = 1\n", "x = 2\n")]


def test_fences_inside_each_part() -> None:
    reply = "<<<<<<< SEARCH\n```python\nx = 1\n```\n=======\n```python\nx = 2\n```\n>>>>>>> REPLACE\n"
    assert [(b.search, b.replace) for b in parse_search_replace(reply)] == [("x = 1\n", "x = 2\n")]


def test_missing_replace_marker_at_end_of_reply() -> None:
    # A reply cut off by the token limit.
    blocks = parse_search_replace("<<<<<<< SEARCH\nx = 1\n=======\nx = 2\ny = 3\n")
    assert [(b.search, b.replace) for b in blocks] == [("x = 1\n", "x = 2\ny = 3\n")]


def test_missing_replace_marker_closed_by_a_fence_then_prose() -> None:
    reply = "```\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n```\nThis makes the search faster.\n"
    assert [(b.search, b.replace) for b in parse_search_replace(reply)] == [("x = 1\n", "x = 2\n")]


def test_missing_replace_marker_before_next_block() -> None:
    reply = "<<<<<<< SEARCH\na = 1\n=======\na = 2\n<<<<<<< SEARCH\nb = 1\n=======\nb = 2\n>>>>>>> REPLACE\n"
    assert [(b.search, b.replace) for b in parse_search_replace(reply)] == [
        ("a = 1\n", "a = 2\n"),
        ("b = 1\n", "b = 2\n"),
    ]


@pytest.mark.parametrize(
    "line",
    [
        "solver/core.py",
        "### solver/core.py",
        "File: `solver/core.py`",
        "**solver/core.py**:",
        "`solver/core.py`",
    ],
)
def test_path_line_before_block(line: str) -> None:
    blocks = parse_search_replace(
        f"{line}\n```python\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```"
    )
    assert blocks[0].path == "solver/core.py"


def test_prose_line_before_block_is_not_a_path() -> None:
    blocks = parse_search_replace(
        "I will change the step size.\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE"
    )
    assert blocks[0].path is None


def test_empty_replace_deletes() -> None:
    blocks = parse_search_replace("<<<<<<< SEARCH\nx = 1\n=======\n>>>>>>> REPLACE\n")
    assert [(b.search, b.replace) for b in blocks] == [("x = 1\n", "")]


def test_no_block_is_an_error() -> None:
    with pytest.raises(ApplyError, match="no SEARCH/REPLACE block found"):
        parse_search_replace("I think the step size should be smaller, maybe 0.1.")


def test_block_without_divider_is_an_error() -> None:
    with pytest.raises(ApplyError, match="block 1 has no ======= line"):
        parse_search_replace("<<<<<<< SEARCH\nx = 1\nx = 2\n>>>>>>> REPLACE\n")
    with pytest.raises(ApplyError, match="ends before its ======= line"):
        parse_search_replace("<<<<<<< SEARCH\nx = 1\n")


# -- apply_search_replace ---------------------------------------------------------------------------------------


def test_exact_edit() -> None:
    out = apply(
        "<<<<<<< SEARCH\n        if value < best:\n=======\n        if value <= best:\n>>>>>>> REPLACE\n"
    )
    assert "        if value <= best:\n" in out
    assert out.replace("value <= best", "value < best") == PROGRAM


def test_trailing_whitespace_tolerated() -> None:
    out = apply("<<<<<<< SEARCH\n    best = f(x)   \n=======\n    best = f(x) + 0.0\n>>>>>>> REPLACE\n")
    assert "    best = f(x) + 0.0\n" in out


def test_indentation_drift_is_reindented() -> None:
    # SmolLM-style: the SEARCH lost its indentation and the REPLACE is indented relative to column 0.
    reply = (
        "<<<<<<< SEARCH\n"
        "for _ in range(iterations):\n"
        "    cand = x + random.gauss(0.0, step)\n"
        "=======\n"
        "for _ in range(iterations * 2):\n"
        "    cand = x + random.gauss(0.0, step / 2)\n"
        ">>>>>>> REPLACE\n"
    )
    out = apply(reply)
    assert "    for _ in range(iterations * 2):\n        cand = x + random.gauss(0.0, step / 2)\n" in out
    ast.parse(out)


def test_over_indented_search_is_reindented() -> None:
    reply = (
        "<<<<<<< SEARCH\n"
        "            if value < best:\n"
        "                x, best = cand, value\n"
        "=======\n"
        "            if value < best:\n"
        "                x, best = cand, value\n"
        "                step *= 1.1\n"
        ">>>>>>> REPLACE\n"
    )
    out = apply(reply)
    assert "        if value < best:\n            x, best = cand, value\n            step *= 1.1\n" in out


def test_dropped_blank_lines_tolerated() -> None:
    task = file_task("def g():\n    a = 1\n\n    b = 2\n    return a + b\n")
    edits = parse_search_replace(
        "<<<<<<< SEARCH\n    a = 1\n    b = 2\n=======\n    a = 3\n    b = 4\n>>>>>>> REPLACE"
    )
    out = text_of(apply_search_replace(task, task.program, edits))
    assert out == "def g():\n    a = 3\n    b = 4\n    return a + b\n"


def test_edits_apply_in_order() -> None:
    reply = (
        "<<<<<<< SEARCH\ndef search(iterations=60, step=0.5):\n=======\ndef search(iterations=60, step=0.25):\n"
        ">>>>>>> REPLACE\n"
        "<<<<<<< SEARCH\ndef search(iterations=60, step=0.25):\n=======\ndef search(iterations=90, step=0.25):\n"
        ">>>>>>> REPLACE\n"
    )
    assert "def search(iterations=90, step=0.25):" in apply(reply)


def test_ambiguous_match_is_an_error_naming_lines() -> None:
    task = file_task("def g():\n    x = 1\n    y = 2\n    x = 1\n    return x + y\n")
    with pytest.raises(ApplyError, match=r"block 1: .*matches 2 places .*lines 2, 4") as err:
        apply_search_replace(task, task.program, [SearchReplace("    x = 1\n", "    x = 5\n")])
    assert "more surrounding lines" in str(err.value)


def test_match_outside_region_only_is_rejected() -> None:
    reply = (
        "<<<<<<< SEARCH\n    return math.sin(3 * x) + x * x / 10\n=======\n    return 0.0\n>>>>>>> REPLACE\n"
    )
    with pytest.raises(ApplyError, match="outside the EVOLVE-BLOCK regions"):
        apply(reply)


def test_duplicate_inside_and_outside_region_resolves_to_the_inside_one() -> None:
    reply = "<<<<<<< SEARCH\n    return x, best\n=======\n    return x, best + 0.0\n>>>>>>> REPLACE\n"
    out = apply(reply)
    assert "    return x, best + 0.0\n# EVOLVE-BLOCK-END" in out
    assert out.endswith("    x, best = search()\n    return x, best\n")


def test_search_may_include_unchanged_marker_lines() -> None:
    reply = (
        "<<<<<<< SEARCH\n# EVOLVE-BLOCK-START\ndef search(iterations=60, step=0.5):\n=======\n"
        "# EVOLVE-BLOCK-START\ndef search(iterations=70, step=0.5):\n>>>>>>> REPLACE\n"
    )
    assert "def search(iterations=70, step=0.5):" in apply(reply)


def test_removing_a_marker_is_rejected() -> None:
    reply = "<<<<<<< SEARCH\n    return x, best\n# EVOLVE-BLOCK-END\n=======\n    return x, best\n>>>>>>> REPLACE\n"
    with pytest.raises(ApplyError, match="outside the EVOLVE-BLOCK"):
        apply(reply)


def test_syntax_error_is_rejected_with_line() -> None:
    reply = "<<<<<<< SEARCH\n        if value < best:\n=======\n        if value < best\n>>>>>>> REPLACE\n"
    with pytest.raises(ApplyError, match=r"syntax error at line 14: 'if value < best'"):
        apply(reply)


def test_not_found_names_closest_line() -> None:
    reply = (
        "<<<<<<< SEARCH\n    for i in range(iterations):\n=======\n    for i in range(2):\n>>>>>>> REPLACE\n"
    )
    with pytest.raises(ApplyError) as err:
        apply(reply)
    msg = str(err.value)
    assert "block 1: the SEARCH text 'for i in range(iterations):' was not found in initial_program.py" in msg
    assert "closest line is line 11: 'for _ in range(iterations):'" in msg
    assert "copy the SEARCH lines exactly" in msg


def test_not_found_in_second_block_names_it() -> None:
    reply = (
        "<<<<<<< SEARCH\n        if value < best:\n=======\n        if value <= best:\n>>>>>>> REPLACE\n"
        "<<<<<<< SEARCH\n    completely_new_thing()\n=======\n    pass\n>>>>>>> REPLACE\n"
    )
    with pytest.raises(
        ApplyError, match="block 2: the SEARCH text 'completely_new_thing\\(\\)' was not found"
    ):
        apply(reply)


def test_no_op_edit_is_rejected() -> None:
    with pytest.raises(ApplyError, match="unchanged"):
        apply("<<<<<<< SEARCH\n    best = f(x)\n=======\n    best = f(x)\n>>>>>>> REPLACE\n")


def test_empty_search_is_rejected_in_file_mode() -> None:
    with pytest.raises(ApplyError, match="SEARCH part is empty"):
        apply_search_replace(TASK, TASK.program, [SearchReplace("\n", "x = 1\n")])


def test_smollm_style_reply_applies() -> None:
    # Prose, a fence with the wrong language tag, six-bracket markers, indentation lost, no REPLACE marker.
    reply = (
        "To improve the algorithm we can increase the number of iterations.\n\n"
        "```py\n"
        "<<<<<< SEARCH\n"
        "def search(iterations=60, step=0.5):  \n"
        "======\n"
        "def search(iterations=200, step=0.2):\n"
        "```\n"
        "This will find a better minimum.\n"
    )
    out = apply(reply)
    assert "def search(iterations=200, step=0.2):\n" in out


def test_crlf_program_and_reply() -> None:
    task = file_task("def g():\r\n    return 1\r\n")
    edits = parse_search_replace(
        "<<<<<<< SEARCH\r\n    return 1\r\n=======\r\n    return 2\r\n>>>>>>> REPLACE\r\n"
    )
    out = text_of(apply_search_replace(task, task.program, edits))
    ast.parse(out)
    assert "return 2" in out


# -- folder mode ------------------------------------------------------------------------------------------------

FOLDER = {
    "main.py": "from solver.core import solve\n\nprint(solve(3))\n",
    "solver/core.py": "def solve(n):\n    return n * 2\n",
    "solver/util.py": "def helper(n):\n    return n + 1\n",
}


def test_folder_edit_by_path() -> None:
    task = folder_task(FOLDER, fixed=("main.py",))
    edits = parse_search_replace(
        "solver/util.py\n<<<<<<< SEARCH\n    return n + 1\n=======\n    return n + 2\n>>>>>>> REPLACE"
    )
    out = apply_search_replace(task, task.program, edits)
    assert out.files["solver/util.py"] == "def helper(n):\n    return n + 2\n"
    assert out.files["solver/core.py"] == FOLDER["solver/core.py"]


def test_folder_edit_by_path_suffix() -> None:
    task = folder_task(FOLDER)
    edits = [SearchReplace("    return n * 2\n", "    return n * 3\n", path="core.py")]
    assert "n * 3" in apply_search_replace(task, task.program, edits).files["solver/core.py"]


def test_folder_edit_without_path_finds_the_unique_file() -> None:
    task = folder_task(FOLDER)
    out = apply_search_replace(
        task, task.program, [SearchReplace("    return n * 2\n", "    return n * 4\n")]
    )
    assert out.files["solver/core.py"] == "def solve(n):\n    return n * 4\n"


def test_folder_edit_matching_several_files_is_ambiguous() -> None:
    files = {"a.py": "x = 1\n", "b.py": "x = 1\n"}
    task = folder_task(files)
    with pytest.raises(ApplyError, match=r"matches in several files \(a.py, b.py\)"):
        apply_search_replace(task, task.program, [SearchReplace("x = 1\n", "x = 2\n")])


def test_folder_fixed_file_is_protected() -> None:
    task = folder_task(FOLDER, fixed=("main.py",))
    with pytest.raises(ApplyError, match=r"main\.py is a fixed file"):
        apply_search_replace(
            task, task.program, [SearchReplace("print(solve(3))\n", "print(9)\n", "main.py")]
        )


def test_folder_unknown_path_lists_files() -> None:
    task = folder_task(FOLDER)
    with pytest.raises(ApplyError, match=r"no file 'nowhere\.py'.*solver/core\.py"):
        apply_search_replace(task, task.program, [SearchReplace("x\n", "y\n", "nowhere.py")])


def test_folder_new_file_from_empty_search() -> None:
    task = folder_task(FOLDER)
    out = apply_search_replace(
        task, task.program, [SearchReplace("", "def extra():\n    return 1\n", "solver/extra.py")]
    )
    assert out.files["solver/extra.py"] == "def extra():\n    return 1\n"


def test_folder_new_file_must_parse() -> None:
    task = folder_task(FOLDER)
    with pytest.raises(ApplyError, match=r"solver/extra\.py with a syntax error"):
        apply_search_replace(task, task.program, [SearchReplace("", "def extra(:\n", "solver/extra.py")])


# -- parse_full_rewrite -----------------------------------------------------------------------------------------


def test_full_rewrite_from_fence() -> None:
    reply = "Here is the improved program:\n```python\ndef f():\n    return 1\n```\nIt is better."
    assert parse_full_rewrite(reply) == "def f():\n    return 1\n"


def test_full_rewrite_picks_longest_parseable_fence() -> None:
    reply = "```python\nx = 1\n```\nand the full version:\n```python\ndef f():\n    return 2\n```\n```text\nok\n```"
    assert parse_full_rewrite(reply) == "def f():\n    return 2\n"


def test_full_rewrite_unclosed_fence() -> None:
    assert parse_full_rewrite("```python\ndef f():\n    return 1\n") == "def f():\n    return 1\n"


def test_full_rewrite_bare_code_with_prose_around() -> None:
    reply = "Sure! Here's the code.\ndef f():\n    return 1\nThis returns one."
    assert parse_full_rewrite(reply) == "def f():\n    return 1\n"


def test_full_rewrite_errors() -> None:
    with pytest.raises(ApplyError, match="no Python code found"):
        parse_full_rewrite("I cannot help with that.")
    with pytest.raises(ApplyError, match="not valid Python: line 1"):
        parse_full_rewrite("```python\ndef f(:\n    return 1\n```")


# -- apply_full_rewrite -----------------------------------------------------------------------------------------

NEW_BODY = "def search(iterations=100, step=0.2):\n    x = 0.0\n    return x, f(x)\n"


def test_full_rewrite_body_only_is_spliced() -> None:
    out = text_of(apply_full_rewrite(TASK, TASK.program, NEW_BODY))
    assert f"# EVOLVE-BLOCK-START\n{NEW_BODY}# EVOLVE-BLOCK-END\n" in out
    assert TASK.check_edit(TASK.program, Program.single("initial_program.py", out)) is None


def test_full_rewrite_whole_file_with_markers() -> None:
    start, end = PROGRAM.index("# EVOLVE-BLOCK-START\n"), PROGRAM.index("# EVOLVE-BLOCK-END")
    whole = PROGRAM[:start] + "# EVOLVE-BLOCK-START\n" + NEW_BODY + PROGRAM[end:]
    assert text_of(apply_full_rewrite(TASK, TASK.program, whole)) == whole


def test_full_rewrite_whole_file_keeps_original_frame() -> None:
    start, end = PROGRAM.index("# EVOLVE-BLOCK-START\n"), PROGRAM.index("# EVOLVE-BLOCK-END")
    whole = PROGRAM[:start] + "# EVOLVE-BLOCK-START\n" + NEW_BODY + PROGRAM[end:]
    tampered = whole.replace("return math.sin(3 * x) + x * x / 10", "return -100.0")
    out = text_of(apply_full_rewrite(TASK, TASK.program, tampered))
    assert out == whole  # the frame edit is dropped, the region body taken


def test_full_rewrite_whole_file_without_markers_strips_the_frame() -> None:
    start, end = PROGRAM.index("# EVOLVE-BLOCK-START\n"), PROGRAM.index("# EVOLVE-BLOCK-END\n")
    whole_without = PROGRAM[:start] + NEW_BODY + PROGRAM[end + len("# EVOLVE-BLOCK-END\n") :]
    out = text_of(apply_full_rewrite(TASK, TASK.program, whole_without))
    assert out == PROGRAM[:start] + "# EVOLVE-BLOCK-START\n" + NEW_BODY + PROGRAM[end:]


def test_full_rewrite_without_markers_program() -> None:
    task = file_task("def g():\n    return 1\n")
    assert (
        text_of(apply_full_rewrite(task, task.program, "def g():\n    return 2"))
        == "def g():\n    return 2\n"
    )


def test_full_rewrite_must_parse_and_change() -> None:
    with pytest.raises(ApplyError, match="syntax error"):
        apply_full_rewrite(TASK, TASK.program, "def search(:\n    pass\n")
    task = file_task("def g():\n    return 1\n")
    with pytest.raises(ApplyError, match="unchanged"):
        apply_full_rewrite(task, task.program, "def g():\n    return 1\n")


def test_full_rewrite_body_only_with_several_regions_is_ambiguous() -> None:
    text = "# EVOLVE-BLOCK-START\na = 1\n# EVOLVE-BLOCK-END\nb = 2\n# EVOLVE-BLOCK-START\nc = 3\n# EVOLVE-BLOCK-END\n"
    task = file_task(text)
    with pytest.raises(ApplyError, match="2 EVOLVE-BLOCK regions"):
        apply_full_rewrite(task, task.program, "a = 5\n")
    both = text.replace("a = 1", "a = 5").replace("c = 3", "c = 6")
    assert text_of(apply_full_rewrite(task, task.program, both)) == both


def test_full_rewrite_folder_single_file_only() -> None:
    task = folder_task({"main.py": "print(1)\n", "algo.py": "X = 1\n"}, fixed=("main.py",))
    assert apply_full_rewrite(task, task.program, "X = 2\n").files["algo.py"] == "X = 2\n"
    task2 = folder_task(FOLDER)
    with pytest.raises(ApplyError, match="exactly one evolvable Python file"):
        apply_full_rewrite(task2, task2.program, "X = 2\n")


# -- properties -------------------------------------------------------------------------------------------------

_REGION = TASK.regions(TASK.program)[0]
_LINES = PROGRAM.splitlines()


@st.composite
def drifted_edits(draw: st.DrawFn) -> tuple[int, int, int, bool]:
    start = draw(st.integers(_REGION.start, _REGION.end - 1))
    end = draw(st.integers(start + 1, min(_REGION.end, start + 6)))
    shift = draw(st.integers(-8, 8))
    trailing = draw(st.booleans())
    return start, end, shift, trailing


def _shift(lines: list[str], shift: int, trailing: bool) -> str:
    out = []
    for line in lines:
        body = line.lstrip(" ")
        width = max(0, len(line) - len(body) + shift)
        out.append(" " * width + body + ("  " if trailing else ""))
    return "\n".join(out) + "\n"


@given(drifted_edits())
@settings(max_examples=200, deadline=None)
def test_property_whitespace_drift_applies_like_exact(case: tuple[int, int, int, bool]) -> None:
    start, end, shift, trailing = case
    old = _LINES[start:end]
    if sum(1 for i in range(len(_LINES)) if _LINES[i : i + len(old)] == old) != 1:
        return  # not a unique span; ambiguity is tested separately
    new = [*old[:-1], old[-1] + "  # tuned"]
    exact = apply_search_replace(
        TASK, TASK.program, [SearchReplace(_shift(old, 0, False), _shift(new, 0, False))]
    )
    if min(len(line) - len(line.lstrip(" ")) for line in old) + shift < 0:
        shift = -min(len(line) - len(line.lstrip(" ")) for line in old)
    drifted = SearchReplace(_shift(old, shift, trailing), _shift(new, shift, False))
    assert apply_search_replace(TASK, TASK.program, [drifted]) == exact


def test_full_rewrite_skips_prose_that_looks_like_code() -> None:
    reply = "Note: the step was too large.\nSo:\nimport math\n\ndef f():\n    return math.pi\n\nThat is all."
    assert parse_full_rewrite(reply) == "import math\n\ndef f():\n    return math.pi\n"


def test_dedented_replace_after_exact_search_is_reindented() -> None:
    reply = (
        "<<<<<<< SEARCH\n"
        "        if value < best:\n"
        "            x, best = cand, value\n"
        "=======\n"
        "if value <= best:\n"
        "    x, best = cand, value\n"
        ">>>>>>> REPLACE\n"
    )
    assert "        if value <= best:\n            x, best = cand, value\n" in apply(reply)
