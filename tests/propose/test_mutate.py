"""Local AST mutations: deterministic, confined to evolvable regions, always parseable, formatting kept."""

from __future__ import annotations

import ast
import io
import random
import re
import tokenize

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from godel.candidate import Program
from godel.config import ProposerConfig
from godel.propose import MutationProposer
from godel.task import Task
from tests.propose.support import context, file_task, folder_task

PROGRAM = '''"""Minimise a function; 1.5 in a docstring is not a constant to tune."""

import math
import random

THRESHOLD = 0.25  # outside the region: never mutated

# EVOLVE-BLOCK-START
def search(iterations=60, step=0.5, bounds=(-5.0, 5.0)):
    """Random local search with 3 restarts."""
    x = random.uniform(bounds[0], bounds[1])  # indices stay: bounds[0] is structural
    best = f(x)
    for _ in range(iterations):
        cand = x + random.gauss(0.0, step) * 1.0
        value = f(cand)
        if value < best:
            x, best = cand, value
    return max(x, -10.0), best
# EVOLVE-BLOCK-END


def f(x):
    return math.sin(3 * x) + x * x / 10


def run():
    return search()
'''

TASK = file_task(PROGRAM)
LINE_RE = re.compile(r"^line \d+( col \d+)?: .+ -> .+$")


def propose(
    task: Task, seed: int, config: ProposerConfig | None = None, program: Program | None = None
) -> Program:
    proposal = MutationProposer(config).propose(context(task, program), random.Random(seed))
    assert proposal.ok, proposal.error
    assert proposal.program is not None
    return proposal.program


def strings_and_comments(text: str) -> list[str]:
    return [
        t.string
        for t in tokenize.generate_tokens(io.StringIO(text).readline)
        if t.type in (tokenize.COMMENT, tokenize.STRING)
    ]


def test_same_seed_same_proposal() -> None:
    mp = MutationProposer(ProposerConfig(mutations_per_proposal=3))
    for seed in range(20):
        a = mp.propose(context(TASK), random.Random(seed))
        b = mp.propose(context(TASK), random.Random(seed))
        assert a == b


def test_different_seeds_differ() -> None:
    programs = {propose(TASK, seed).digest() for seed in range(20)}
    assert len(programs) >= 15


def test_mutations_stay_in_region_and_parse() -> None:
    region = TASK.regions(TASK.program)[0]
    old_lines = PROGRAM.splitlines()
    for seed in range(200):
        child = propose(TASK, seed, ProposerConfig(mutations_per_proposal=4))
        text = child.files["initial_program.py"]
        ast.parse(text)
        assert TASK.check_edit(TASK.program, child) is None
        new_lines = text.splitlines()
        assert len(new_lines) == len(old_lines)
        changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
        assert changed and all(region.start <= i < region.end for i in changed)
        assert strings_and_comments(text) == strings_and_comments(PROGRAM)
        assert "bounds[0], bounds[1]" in text


def test_edit_describes_each_mutation() -> None:
    proposal = MutationProposer(ProposerConfig(mutations_per_proposal=4)).propose(
        context(TASK), random.Random(7)
    )
    assert proposal.ok
    lines = proposal.edit.splitlines()
    assert lines and all(LINE_RE.match(line) for line in lines), proposal.edit
    assert proposal.meta["mutations"] == len(lines)
    assert proposal.proposer == "mutate"


def test_edit_description_matches_the_change() -> None:
    task = file_task("def g():\n    return 0.1\n")
    proposal = MutationProposer(ProposerConfig(mutations_per_proposal=1)).propose(
        context(task), random.Random(3)
    )
    assert proposal.program is not None
    m = re.fullmatch(r"line 2: 0\.1 -> (\S+)", proposal.edit)
    assert m is not None, proposal.edit
    assert proposal.program.files["initial_program.py"] == f"def g():\n    return {m.group(1)}\n"


def test_mutations_per_proposal_bounds_the_count() -> None:
    counts = set()
    for seed in range(60):
        proposal = MutationProposer(ProposerConfig(mutations_per_proposal=3)).propose(
            context(TASK), random.Random(seed)
        )
        counts.add(proposal.meta["mutations"])
    assert counts <= {1, 2, 3} and len(counts) >= 2
    single = {
        MutationProposer(ProposerConfig(mutations_per_proposal=1))
        .propose(context(TASK), random.Random(s))
        .meta["mutations"]
        for s in range(30)
    }
    assert single == {1}


def test_constant_steps_are_mostly_small_but_sometimes_large() -> None:
    task = file_task("def g():\n    return 10.0\n")
    ratios = []
    for seed in range(300):
        text = propose(task, seed, ProposerConfig(mutations_per_proposal=1)).files["initial_program.py"]
        m = re.search(r"return \(?(-?[\d.e+-]+)\)?", text)
        assert m is not None, text
        ratios.append(abs(float(m.group(1))) / 10.0)
    small = sum(1 for r in ratios if 0.9 <= r <= 1.1)
    large = sum(1 for r in ratios if r < 0.5 or r > 2.0)
    assert small >= 60, small
    assert large >= 15, large


def test_int_constants_stay_positive_ints() -> None:
    task = file_task("def g():\n    return list(range(8))\n")
    seen = set()
    for seed in range(100):
        text = propose(task, seed).files["initial_program.py"]
        m = re.search(r"range\((\d+)\)", text)
        assert m is not None, text
        seen.add(int(m.group(1)))
    assert min(seen) >= 1
    assert {7, 9, 16, 4} <= seen


def test_operator_mutations() -> None:
    task = file_task("def g(a, b, xs):\n    if a < b:\n        return max(xs)\n    return a + b\n")
    seen: set[str] = set()
    for seed in range(200):
        proposal = MutationProposer(ProposerConfig(mutations_per_proposal=1)).propose(
            context(task), random.Random(seed)
        )
        seen.add(proposal.edit.split(": ", 1)[1])
    assert {"< -> <=", "< -> >", "max -> min", "+ -> -"} <= seen


def test_range_bound_expression() -> None:
    task = file_task(
        "def g(n, xs):\n    total = 0\n    for i in range(len(xs) - n):\n        total += i\n    return total\n"
    )
    seen = set()
    for seed in range(100):
        proposal = MutationProposer(ProposerConfig(mutations_per_proposal=1)).propose(
            context(task), random.Random(seed)
        )
        assert proposal.program is not None
        ast.parse(proposal.program.files["initial_program.py"])
        if "len(xs) - n ->" in proposal.edit:
            seen.add(proposal.edit.split(" -> ")[1])
    assert any(s.startswith("(len(xs) - n)") or s.startswith("int((len(xs) - n)") for s in seen), seen


def test_bool_and_sign() -> None:
    task = file_task("def g():\n    return True, -2.5\n")
    edits = {
        MutationProposer(ProposerConfig(mutations_per_proposal=1))
        .propose(context(task), random.Random(s))
        .edit
        for s in range(100)
    }
    assert "line 2: True -> False" in edits
    assert "line 2: -2.5 -> 2.5" in edits


def test_unicode_before_constant_on_same_line() -> None:
    # AST columns are UTF-8 byte offsets; the rewrite must still land on the constant.
    task = file_task('def g():\n    s = "héllo wörld ✓"; x = 0.5\n    return s, x\n')
    for seed in range(30):
        text = propose(task, seed).files["initial_program.py"]
        ast.parse(text)
        assert 's = "héllo wörld ✓"; x = ' in text


def test_no_mutation_point_is_a_failed_proposal() -> None:
    task = file_task('def g(name):\n    """Say hi."""\n    return "hello " + name\n')
    proposal = MutationProposer().propose(context(task), random.Random(0))
    assert proposal.program is None
    assert proposal.error is not None and "no mutation point" in proposal.error


def test_only_region_code_counts() -> None:
    task = file_task(
        "X = 1.5\n# EVOLVE-BLOCK-START\ndef g(name):\n    return name\n# EVOLVE-BLOCK-END\nY = 2\n"
    )
    proposal = MutationProposer().propose(context(task), random.Random(0))
    assert proposal.program is None and proposal.error is not None


def test_unparseable_parent_is_a_failed_proposal() -> None:
    task = file_task("def g(:\n    return 1\n")
    proposal = MutationProposer().propose(context(task), random.Random(0))
    assert proposal.program is None and proposal.error is not None


def test_folder_mode_respects_fixed_files() -> None:
    files = {
        "main.py": "from algo import STEP\n\nprint(STEP * 2)\n",
        "algo.py": "STEP = 0.5\nN = 10\n",
        "README.md": "Step 0.5\n",
    }
    task = folder_task(files, fixed=("main.py",))
    touched = set()
    for seed in range(40):
        proposal = MutationProposer().propose(context(task), random.Random(seed))
        assert proposal.program is not None
        assert task.check_edit(task.program, proposal.program) is None
        assert proposal.program.files["main.py"] == files["main.py"]
        assert proposal.program.files["README.md"] == files["README.md"]
        assert all(line.startswith("algo.py:") for line in proposal.edit.splitlines()), proposal.edit
        touched.add(proposal.edit.split(":")[1])
    assert touched == {"1", "2"}


# -- properties over generated programs -------------------------------------------------------------------------

_names = st.sampled_from(["a", "b", "xs", "n"])
_atoms = st.one_of(
    _names,
    st.integers(0, 1000).map(str),
    st.floats(0, 1e6, allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["True", "False", "xs[0]", "xs[-1]", "len(xs)", '"s 1.5 < 2"', "1e-3", "0x1F", "1_000"]),
)


def _expr(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return _atoms
    sub = _expr(depth - 1)
    return st.one_of(
        _atoms,
        st.tuples(sub, st.sampled_from(["+", "-", "*", "/", "//", "**", "%"]), sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(sub, st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "is", "in"]), sub).map(
            lambda t: f"{t[0]} {t[1]} {t[2]}"
        ),
        st.tuples(st.sampled_from(["min", "max"]), sub, sub).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        sub.map(lambda e: f"-{e}"),
        _names.map(lambda n: f'f"{{{n} * 1.5:.2f}} 2.5"'),
    )


_statement = st.one_of(
    st.tuples(_names, _expr(2)).map(lambda t: f"{t[0]} = {t[1]}"),
    _expr(2).map(lambda e: f"for i in range({e}):\n        a = i * 0.5"),
    st.tuples(_expr(2), _expr(1)).map(lambda t: f"if {t[0]}:  # threshold 0.5 < 1\n        b = {t[1]}"),
    _expr(2).map(lambda e: f"while {e}:\n        break"),
)


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, bool]:
    body = draw(st.lists(_statement, min_size=1, max_size=6))
    marked = draw(st.booleans())
    func = "def g(a, b, xs, n):\n    " + "\n    ".join(body) + "\n    return a\n"
    if marked:
        return f"K = 0.5  # outside\n# EVOLVE-BLOCK-START\n{func}# EVOLVE-BLOCK-END\nM = K * 2\n", marked
    return func, marked


@given(programs(), st.integers(0, 2**32 - 1), st.integers(1, 5))
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_mutations_parse_and_stay_legal(case: tuple[str, bool], seed: int, per: int) -> None:
    text, marked = case
    ast.parse(text)  # the generator only makes valid programs
    task = file_task(text)
    config = ProposerConfig(mutations_per_proposal=per)
    proposal = MutationProposer(config).propose(context(task), random.Random(seed))
    again = MutationProposer(config).propose(context(task), random.Random(seed))
    assert proposal == again
    if proposal.program is None:
        assert proposal.error is not None and "mutation" in proposal.error
        return
    new = proposal.program.files["initial_program.py"]
    assert new != text
    ast.parse(new)
    assert task.check_edit(task.program, proposal.program) is None
    assert strings_and_comments(new) == strings_and_comments(text)
    assert 1 <= proposal.meta["mutations"] <= per
    if marked:
        assert new.startswith("K = 0.5  # outside\n") and new.endswith("# EVOLVE-BLOCK-END\nM = K * 2\n")


@pytest.mark.parametrize("seed", range(3))
def test_example_program_mutates(seed: int) -> None:
    from tests.helpers import EXAMPLES

    path = EXAMPLES / "function_minimization" / "initial_program.py"
    if not path.is_file():
        pytest.fail(f"example program missing: {path}")
    task = file_task(path.read_text())
    child = propose(task, seed)
    assert task.check_edit(task.program, child) is None
