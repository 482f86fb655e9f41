"""The static prechecks and the normalized digest.

Each check is shown rejecting what it must, with a reason that names the line; above all, no check rejects a
correct program: the examples, the guard corpus (seeds and legitimate edits), godel's own source, and hundreds of
children of the examples made by MutationProposer (correct by construction) all pass every check. The scope model
is compared with CPython's own symbol table on generated programs, and every "read before assignment" report is
confirmed by running the generated function on every input.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import random
import symtable
import sys
import textwrap
import tokenize
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from godel.candidate import Candidate, Program, Status
from godel.precheck import (
    DEFAULT_PRECHECKS,
    calls_fit_signatures,
    compiles,
    locals_assigned_before_use,
    names_defined,
    normalized_digest,
    parses,
)
from godel.precheck._flow import unbound_reads
from godel.precheck._scopes import Scope, analyse
from godel.propose import MutationProposer, ProposalContext
from godel.task import Task, load_task
from tests.guard.corpus_util import CORPUS, entries, make_tasks
from tests.helpers import EXAMPLES, ROOT

Check = Callable[[Task, Program, Program], "str | None"]
MAIN = "initial_program.py"
EMPTY = Program.single(MAIN, "")
COMPAT = ROOT / "tests" / "compat_tasks"  # tasks written in the style of OpenEvolve 0.4's examples


@pytest.fixture(scope="module")
def fm() -> Task:
    return load_task(EXAMPLES / "function_minimization")


@pytest.fixture(scope="module")
def corpus_tasks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Task]:
    return make_tasks(tmp_path_factory.mktemp("corpus"))


def prog(text: str) -> Program:
    return Program.single(MAIN, textwrap.dedent(text))


def all_checks(task: Task, parent: Program, child: Program) -> list[tuple[str, str]]:
    out = []
    for check in DEFAULT_PRECHECKS:
        reason = check(task, parent, child)
        if reason is not None:
            out.append((check.__name__, reason))
    return out


def test_default_prechecks_in_order() -> None:
    assert (
        parses,
        compiles,
        names_defined,
        locals_assigned_before_use,
        calls_fit_signatures,
    ) == DEFAULT_PRECHECKS


# -- normalized_digest ------------------------------------------------------------------------------------------------

SEARCH = """\
import math


def search(iterations=60, bounds=(-5.0, 5.0)):
    \"\"\"Keep the best.\"\"\"
    best = None
    for i in range(iterations):
        value = math.sin(i) * 1000
        if best is None or value < best:
            best = value
    return best, 'done'
"""

SAME_AS_SEARCH = [
    # whitespace, blank lines, comments, a continuation, parentheses, trailing commas, quotes, number spelling
    SEARCH.replace("bounds=(-5.0, 5.0)", "bounds=( -5.0,5.0, )"),
    SEARCH.replace("    best = None\n", "\n    best = None  # nothing yet\n\n"),
    "# header comment\n" + SEARCH,
    SEARCH.replace("value = math.sin(i) * 1000", "value = (math.sin(i)\n                 * 1_000)"),
    SEARCH.replace("value = math.sin(i) * 1000", "value = math.sin(i) * \\\n        1000"),
    SEARCH.replace("'done'", '"done"'),
    SEARCH.replace("'done'", "'do' 'ne'"),
    SEARCH.replace("'done'", "u'done'"),
    SEARCH.replace("return best, 'done'", "return (best, 'done')"),
    SEARCH.replace("60", "0x3c"),
    SEARCH.replace("    ", "\t"),
    SEARCH.replace("# nothing", "").replace("\n", "\r\n"),
]

DIFFERENT_FROM_SEARCH = [
    SEARCH.replace("'done'", "'Done'"),  # string contents
    SEARCH.replace("Keep the best.", "Keep the very best."),  # docstrings are values (__doc__, doctest)
    SEARCH.replace("60", "60.0"),  # int and float
    SEARCH.replace("best = None", "best = 'None'"),
    SEARCH.replace("best = None", "best = False"),
    SEARCH.replace("value < best", "value <= best"),
    SEARCH.replace("for i in", "for j in").replace("sin(i)", "sin(j)"),  # names are observable
    "# -*- coding: latin-1 -*-\n" + SEARCH,  # changes how the file's bytes decode
]


@pytest.mark.parametrize("text", SAME_AS_SEARCH)
def test_digest_ignores_what_python_ignores(text: str) -> None:
    assert text != SEARCH
    assert normalized_digest(prog(text)) == normalized_digest(prog(SEARCH))


@pytest.mark.parametrize("text", DIFFERENT_FROM_SEARCH)
def test_digest_keeps_what_a_program_can_observe(text: str) -> None:
    assert normalized_digest(prog(text)) != normalized_digest(prog(SEARCH))


def test_digest_of_text_files_and_unparseable_python_is_the_text_digest() -> None:
    texts = Program({"data.csv": "a, b\n1, 2\n", "notes.md": "# title\n"})
    assert normalized_digest(texts) == texts.digest()
    broken = Program({"x.py": "def f(:\n", "data.csv": "1,2\n"})
    assert normalized_digest(broken) == broken.digest()
    # text files keep their whitespace: it is data
    assert normalized_digest(Program({"d.csv": "1,2"})) != normalized_digest(Program({"d.csv": "1, 2"}))


def test_digest_depends_on_paths_and_every_file() -> None:
    a = Program({"a.py": "x = 1\n", "b.py": "y = 2\n"})
    assert normalized_digest(a) != normalized_digest(Program({"a.py": "x = 1\n", "c.py": "y = 2\n"}))
    assert normalized_digest(a) != normalized_digest(Program({"a.py": "x = 1\n", "b.py": "y = 3\n"}))
    assert normalized_digest(a) == normalized_digest(Program({"b.py": "y = 2  # two\n", "a.py": "x = (1)\n"}))


def test_digest_of_the_models_whitespace_edit(fm: Task) -> None:
    """A proposal the embedded model made: one space inside a tuple, evaluated today as a new candidate."""
    seed = fm.program
    edited = seed.replace(seed.main_path, seed.files[seed.main_path].replace("(-5.0, 5.0)", "( -5.0, 5.0)"))
    assert edited.digest() != seed.digest()
    assert normalized_digest(edited) == normalized_digest(seed)


def _programs() -> list[str]:
    paths = [
        *EXAMPLES.glob("*/*.py"),
        *COMPAT.glob("*/*.py"),
        *(CORPUS / "seeds").glob("*.py"),
        *(CORPUS / "legit").glob("*.py"),
    ]
    return [p.read_text() for p in sorted(paths)]


PROGRAMS = _programs()


def _with_comments(text: str, rng: random.Random) -> str:
    """``text`` with comments after some logical lines and blank lines before some (never inside a string)."""
    lines = text.splitlines(keepends=True)
    ends = {
        tok.start[0]
        for tok in tokenize.generate_tokens(StringIO(text).readline)
        if tok.type == tokenize.NEWLINE
    }
    out = []
    for number, line in enumerate(lines, start=1):
        if number in ends and rng.random() < 0.5:
            line = line.rstrip("\r\n") + f"  # note {rng.randint(0, 99)}\n"
        out.append(line)
        if number in ends and rng.random() < 0.3:
            out.append("\n")
    return "".join(out)


@settings(max_examples=40, deadline=None)
@given(index=st.integers(0, len(PROGRAMS) - 1), seed=st.integers(0, 2**32 - 1))
def test_digest_is_stable_under_reformatting(index: int, seed: int) -> None:
    text = PROGRAMS[index]
    reformatted = [_with_comments(text, random.Random(seed)), ast.unparse(ast.parse(text)) + "\n"]
    for other in reformatted:
        assert normalized_digest(prog(other)) == normalized_digest(prog(text))


def _tree(text: str) -> str:
    dump = ast.dump(ast.parse(text))
    return dump.replace(", kind='u'", "")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_digest_equal_exactly_when_trees_are_equal(
    data: st.DataObject, mutated: list[tuple[str, str]]
) -> None:
    """Against ast.dump as the oracle, over pairs of a parent and a mutated child (and unrelated programs)."""
    a, b = data.draw(st.sampled_from(mutated))
    other = data.draw(st.integers(0, 2))
    if other == 1:
        b = data.draw(st.sampled_from(mutated))[1]  # an unrelated program
    elif other == 2:
        b = _with_comments(a, random.Random(len(a)))  # the same program, reformatted
    same_tree = _tree(a) == _tree(b)
    assert (normalized_digest(prog(a)) == normalized_digest(prog(b))) == same_tree


# -- the corpus of correct programs: never rejected -------------------------------------------------------------------


def _mutations(task: Task, count: int, seed: int) -> Iterator[tuple[Program, Program]]:
    """(parent, child) pairs from a random walk of MutationProposer over the task's program."""
    proposer = MutationProposer()
    rng = random.Random(seed)
    pool = [task.program]
    made = 0
    for i in range(count * 3):
        parent = rng.choice(pool)
        cand = Candidate(run_id=0, iteration=0, program=parent, id=1, status=Status.OK, score=0.5)
        proposal = proposer.propose(ProposalContext(task=task, parent=cand, iteration=i + 1), rng)
        if proposal.program is None:
            continue
        yield parent, proposal.program
        pool.append(proposal.program)
        made += 1
        if made == count:
            return


@pytest.fixture(scope="module")
def mutated(fm: Task) -> list[tuple[str, str]]:
    pairs = _mutations(fm, 60, seed=7)
    return [(p.files[MAIN], c.files[MAIN]) for p, c in pairs]


def test_examples_and_corpus_pass_every_check(fm: Task, corpus_tasks: dict[str, Task]) -> None:
    programs: list[tuple[Task, Program]] = [(fm, fm.program)]
    programs.append((load_task(EXAMPLES / "circle_packing"), load_task(EXAMPLES / "circle_packing").program))
    programs.extend((t, t.program) for t in corpus_tasks.values())
    for entry in entries("legit"):
        task = corpus_tasks[entry.parent]
        programs.append((task, Program.single(task.program.main_path, entry.text)))
    assert len(programs) >= 28
    for task, program in programs:
        empty = Program({path: "" for path in program.files})
        # Judged as if every line were new (an empty parent), and as an edit of the task's own seed.
        assert all_checks(task, empty, program) == [], program.main_path
        assert all_checks(task, task.program, program) == [], program.main_path
    # OpenEvolve-style programs and evaluators, judged as all-new files
    compat = sorted(COMPAT.glob("*/*.py"))
    assert len(compat) >= 8
    for path in compat:
        assert all_checks(fm, EMPTY, Program.single(MAIN, path.read_text())) == [], path


@pytest.mark.slow
@pytest.mark.parametrize("example", ["function_minimization", "circle_packing"])
def test_mutated_children_pass_every_check(example: str) -> None:
    task = load_task(EXAMPLES / example)
    pairs = list(_mutations(task, 150, seed=11))
    assert len(pairs) == 150
    empty = Program({task.program.main_path: ""})
    for parent, child in pairs:
        assert all_checks(task, parent, child) == [], child.files
        assert all_checks(task, empty, child) == [], child.files


@pytest.mark.slow
def test_godels_own_source_passes_every_check(fm: Task) -> None:
    """Several hundred real, type-checked modules, each judged as an all-new file."""
    paths = sorted(
        [*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]
    )
    assert len(paths) > 200
    for path in paths:
        child = Program.single(MAIN, path.read_text())
        assert all_checks(fm, EMPTY, child) == [], path


# -- parses and compiles ----------------------------------------------------------------------------------------------


def test_parse_failure_names_line_and_code(fm: Task) -> None:
    child = prog("""\
        def f(x):
            return (x +
        """)
    reason = parses(fm, EMPTY, child)
    assert reason is not None
    assert reason.startswith(f"{MAIN} does not parse: line 2")
    assert "'(' was never closed" in reason and "`return (x +`" in reason


def test_parse_failure_the_parent_had_is_not_the_childs(fm: Task) -> None:
    parent, child = prog("def f(:\n"), prog("def f(:\n    pass\n")
    assert parses(fm, parent, child) is None
    assert parses(fm, parent, parent) is None  # unchanged files are not looked at
    # non-Python files may hold anything
    assert parses(fm, Program({"a.txt": "x"}), Program({"a.txt": "def f(:"})) is None


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("def f():\n    pass\nreturn 1\n", "'return' outside function"),
        ("for i in range(3):\n    pass\nbreak\n", "'break' outside loop"),
        ("def f(a, a):\n    return a\n", "duplicate argument 'a'"),
        ("nonlocal x\n", "nonlocal declaration not allowed at module level"),
        ("x = 1\nfrom __future__ import annotations\n", "from __future__ imports must occur"),
        ("def f():\n    x = 1\n    global x\n", "name 'x' is assigned to before global declaration"),
        ("def f():\n    def g():\n        nonlocal y\n    return g\n", "no binding for nonlocal 'y' found"),
        ("x = yield 1\n", "'yield' outside function"),
    ],
)
def test_compile_time_faults(fm: Task, code: str, message: str) -> None:
    child = prog(code)
    assert parses(fm, EMPTY, child) is None  # they parse: only the compiler sees them
    reason = compiles(fm, EMPTY, child)
    assert reason is not None and message in reason, reason
    assert "line " in reason


def test_compiles_leaves_parse_errors_to_parses(fm: Task) -> None:
    assert compiles(fm, EMPTY, prog("def f(:\n")) is None


# -- names_defined ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name", "line"),
    [
        ("def f():\n    return infinity\n", "infinity", 2),
        ("x = 1\ndef f():\n    return math.sqrt(x)\n", "math", 3),
        ("def search(iterations=60, bounds=(-Infinity, 5.0)):\n    return bounds\n", "Infinity", 1),
        ("def f():\n    evolving_search_loop()\n", "evolving_search_loop", 2),
        # a method cannot see its class body
        ("class C:\n    size = 3\n    def f(self):\n        return size\n", "size", 4),
        # nor can a comprehension beyond its first iterable
        ("class C:\n    xs = [1]\n    ys = [x for x in xs for y in xs]\n", "xs", 3),
        # del of a name nothing binds
        ("x = 1\ndel ghost\n", "ghost", 2),
        # annotations are evaluated at module level without the future import
        ("x: Sequence[int] = []\n", "Sequence", 1),
        # another function's local is not visible
        ("def f():\n    best = 1\n    return best\ndef g():\n    return best\n", "best", 5),
    ],
)
def test_undefined_names_rejected(fm: Task, code: str, name: str, line: int) -> None:
    reason = names_defined(fm, EMPTY, prog(code))
    assert reason is not None, code
    assert f"'{name}' (line {line}" in reason
    assert "define or import it" in reason


def test_undefined_name_suggests_a_close_one(fm: Task) -> None:
    reason = names_defined(fm, EMPTY, prog("import random\ndef f():\n    return randon.random()\n"))
    assert reason is not None and "did you mean 'random'?" in reason


CORRECT_NAMES = {
    "builtins and module names": "print(len([]), __name__, __file__, __doc__, __spec__, __debug__)\n",
    "defined later, used in a function": "def f():\n    return g()\ndef g():\n    return 1\n",
    "conditional definitions": "import sys\nif sys.version_info > (3,):\n    def f():\n        return 1\nelse:\n    f = None\nf()\n",
    "try/except ImportError": "try:\n    import numpy as np\nexcept ImportError:\n    np = None\nprint(np)\n",
    "NameError is caught": "try:\n    unicode\nexcept NameError:\n    unicode = str\n",
    "py2 compat guarded": "try:\n    basestring\nexcept Exception:\n    pass\n",
    "suppress(NameError)": "import contextlib\nwith contextlib.suppress(NameError):\n    long\n",
    "star import": "from math import *\nprint(sqrt(2), anything)\n",
    "globals() writes": "globals()['made'] = 1\nprint(made)\n",
    "exec": "exec('z = 1')\nprint(z)\n",
    "import builtins": "import builtins\nbuiltins.extra = 1\nprint(extra)\n",
    "global in a function": "def f():\n    global counter\n    counter = 1\ndef g():\n    return counter\n",
    "nonlocal": "def f():\n    n = 0\n    def g():\n        nonlocal n\n        n += 1\n        return n\n    return g\n",
    "class attributes in the class body": "class C:\n    size = 3\n    double = size * 2\n    items = [k for k in range(size)]\n",
    "comprehension and loop targets": "xs = [i * j for i in range(3) for j in range(i)]\nfor k, (a, b) in enumerate([(1, 2)]):\n    print(k, a, b)\n",
    "walrus in a comprehension": "def f(xs):\n    if any((hit := x) > 2 for x in xs):\n        return hit\n",
    "match captures": "def f(p):\n    match p:\n        case [x, *rest]:\n            return x, rest\n        case {'k': v, **others}:\n            return v, others\n        case Point(x=px) as pt:\n            return px, pt\nclass Point:\n    x = 0\n",
    "__class__ and super": "class A:\n    def f(self):\n        return __class__, super()\n",
    "__qualname__ in a class body": "class A:\n    name = __qualname__ + __module__\n",
    "future annotations are not evaluated": "from __future__ import annotations\ndef f(x: Undefined) -> AlsoUndefined:\n    y: Nope = 1\n    return y\nclass C:\n    z: Missing = 2\n",
    "local annotations are never evaluated": "def f():\n    x: List[int] = []\n    return x\n",
    "TYPE_CHECKING imports": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from collections.abc import Sequence\ndef f(x: 'Sequence[int]') -> None:\n    pass\n",
    "except-as name": "try:\n    pass\nexcept ValueError as err:\n    print(err)\n",
    "del of a bound name": "x = 1\ndel x\n",
    "metaclass namespace": "class Meta(type):\n    pass\nclass C(metaclass=Meta):\n    magic_name\n",
    "lambda parameters and defaults": "k = 2\nf = lambda a, *rest, b=k, **kw: (a, rest, b, kw)\n",
    "__all__ strings are not names": "__all__ = ['not_defined_anywhere']\n",
    "enum.global_enum": "import enum\n@enum.global_enum\nclass Flag(enum.IntFlag):\n    A = 1\nprint(A)\n",
}


@pytest.mark.parametrize("code", list(CORRECT_NAMES.values()), ids=list(CORRECT_NAMES))
def test_correct_names_accepted(fm: Task, code: str) -> None:
    child = prog(code)
    assert compile(child.files[MAIN], MAIN, "exec")  # all are valid Python
    assert names_defined(fm, EMPTY, child) is None


def test_names_the_parent_also_reads_are_the_environments(fm: Task) -> None:
    """An evaluator may inject names before running the module; a seed that reads one shows it."""
    parent = prog("def run():\n    return injected_data\n")
    child = prog("def run():\n    return injected_data * 2\n")
    assert names_defined(fm, EMPTY, child) is not None
    assert names_defined(fm, parent, child) is None
    # ... but a new undefined name is still the child's
    assert names_defined(fm, parent, prog("def run():\n    return injected_data + other\n")) is not None


def test_removing_an_import_still_used_is_rejected(fm: Task) -> None:
    seed = fm.program.files[fm.program.main_path]
    child = fm.program.replace(fm.program.main_path, seed.replace("import math\n", ""))
    reason = names_defined(fm, fm.program, child)
    assert reason is not None and "'math'" in reason and "evaluate_function()" in reason


# -- locals_assigned_before_use ---------------------------------------------------------------------------------------

SEED_LOOP = """\
import random


def search(iterations=60, bounds=(-5.0, 5.0)):
    best_x = random.uniform(bounds[0], bounds[1])
    best_y = random.uniform(bounds[0], bounds[1])
    for _ in range(iterations):
        x = random.uniform(bounds[0], bounds[1])
        y = random.uniform(bounds[0], bounds[1])
        if x + y < best_x + best_y:
            best_x, best_y = x, y
    return best_x, best_y
"""


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        # the embedded model's edits on function_minimization, each an UnboundLocalError in the sandbox
        (
            "best_y = random.uniform(bounds[0], bounds[1])",
            "best_y = 1.01875 - 1.01875 * best_y * best_y",
            "best_y",
        ),
        (
            "best_y = random.uniform(bounds[0], bounds[1])",
            "best_y = random.uniform(bounds[x], bounds[1])",
            "x",
        ),
        (
            "        x = random.uniform(bounds[0], bounds[1])",
            "        x = random.uniform(bounds[x], 0.0)",
            "x",
        ),
        ("        y = random.uniform(bounds[0], bounds[1])", "        y = 0.015 * y + bounds[1]", "y"),
        (
            "        x = random.uniform(bounds[0], bounds[1])\n",
            "        x = random.uniform(bounds[0], bounds[1])\n        ives = x + y\n",
            "y",
        ),
    ],
)
def test_reads_before_assignment_rejected(fm: Task, old: str, new: str, name: str) -> None:
    assert old in SEED_LOOP
    parent, child = prog(SEED_LOOP), prog(SEED_LOOP.replace(old, new, 1))
    reason = locals_assigned_before_use(fm, parent, child)
    assert reason is not None
    assert f"local variable '{name}' is read at line" in reason and "in search()" in reason
    assert names_defined(fm, parent, child) is None  # defined, just too late


CORRECT_FLOW = {
    "assigned in an earlier iteration": "def f():\n    for i in range(3):\n        if i:\n            print(prev)\n        prev = i\n",
    "while True with break": "def f():\n    while True:\n        x = 1\n        break\n    return x\n",
    "try/except assigns": "def f():\n    try:\n        x = int('1')\n    except ValueError:\n        x = 0\n    return x\n",
    "except may follow a partial try": "def f():\n    try:\n        a = 1\n        b = int('x')\n    except ValueError:\n        return a\n",
    "finally sees everything": "def f():\n    try:\n        x = 1\n    finally:\n        print(x)\n",
    "break through finally": "def f():\n    for _ in range(2):\n        try:\n            break\n        finally:\n            y = 2\n    return y\n",
    "suppressing with": "import contextlib\ndef f():\n    with contextlib.suppress(ValueError):\n        z = int('x')\n    return z\n",
    "conditional assignment": "def f(c):\n    if c:\n        x = 1\n    return x\n",
    "short-circuit": "def f(c):\n    r = c and x\n    x = 1\n    return r\n",
    "conditional expression": "def f(c):\n    r = x if c else 0\n    x = 1\n    return r\n",
    "chained comparison": "def f(c):\n    r = 1 < c < x\n    x = 1\n    return r\n",
    "walrus": "def f(xs):\n    if (n := len(xs)) > 1:\n        return n\n    return n\n",
    "nested function assigns with nonlocal": "def f():\n    def g():\n        nonlocal v\n        v = 1\n    g()\n    print(v)\n    v = 2\n",
    "loop variable after loop": "def f(xs):\n    for item in xs:\n        pass\n    return item\n",
    "guarded by NameError": "def f():\n    try:\n        return cache\n    except NameError:\n        return None\n    cache = 1\n",
    "del then reassign": "def f():\n    x = 1\n    del x\n    x = 2\n    return x\n",
    "match binds": "def f(p):\n    match p:\n        case [a]:\n            pass\n        case _:\n            a = 0\n    return a\n",
    "assert is not judged": "def f():\n    assert later, 'x'\n    later = 1\n",
    "global name": "def f():\n    global g\n    print(g)\n    g = 1\n",
    "while loop with counter": "def f(n):\n    while n > 0:\n        n -= 1\n        if n == 1:\n            last = n\n    return last\n",
    "unreachable after return": "def f():\n    return 1\n    print(never)\n    never = 2\n",
}


@pytest.mark.parametrize("code", list(CORRECT_FLOW.values()), ids=list(CORRECT_FLOW))
def test_correct_flow_accepted(fm: Task, code: str) -> None:
    child = prog(code)
    compile(child.files[MAIN], MAIN, "exec")
    assert locals_assigned_before_use(fm, EMPTY, child) is None


def test_reads_the_parent_already_had_are_not_the_childs(fm: Task) -> None:
    parent = prog("def f(c):\n    if c:\n        return ghost\n    ghost = 1\n")
    child = prog("def f(c):\n    if c:\n        return ghost + 1\n    ghost = 1\n")
    assert locals_assigned_before_use(fm, EMPTY, child) is not None
    assert locals_assigned_before_use(fm, parent, child) is None


# -- calls_fit_signatures ---------------------------------------------------------------------------------------------


def _fm_child(fm: Task, old: str, new: str) -> Program:
    seed = fm.program.files[fm.program.main_path]
    assert old in seed
    return fm.program.replace(fm.program.main_path, seed.replace(old, new, 1))


SIGNATURE = "def search_algorithm(iterations=60, bounds=(-5.0, 5.0)):"


@pytest.mark.parametrize(
    ("new", "problem"),
    [
        (
            "def search_algorithm(f, iterations=60, bounds=(-5.0, 5.0)):",
            "missing 1 required positional argument: 'f'",
        ),
        (
            "def search_algorithm(iterations, bounds=(-5.0, 5.0)):",
            "missing 1 required positional argument: 'iterations'",
        ),
        (
            "def search_algorithm(*, iterations, bounds=(-5.0, 5.0)):",
            "missing 1 required keyword-only argument",
        ),
    ],
)
def test_frame_call_broken_by_the_new_signature(fm: Task, new: str, problem: str) -> None:
    reason = calls_fit_signatures(fm, fm.program, _fm_child(fm, SIGNATURE, new))
    assert reason is not None
    assert problem in reason
    assert "in the fixed code" in reason and "x, y, value = search_algorithm()" in reason


def test_returned_values_must_fit_the_frames_unpacking(fm: Task) -> None:
    child = _fm_child(fm, "return best_x, best_y, best_value", "return 0, 10, 0.702869, 10.0")
    reason = calls_fit_signatures(fm, fm.program, child)
    assert reason is not None and "returns 4 values, but its result is unpacked into 3 names" in reason
    nothing = _fm_child(
        fm, "    return best_x, best_y, best_value\n", "    print(best_x, best_y, best_value)\n"
    )
    reason = calls_fit_signatures(fm, fm.program, nothing)
    assert reason is not None and "returns None" in reason


def test_calls_inside_the_evolved_code_are_checked(fm: Task) -> None:
    child = _fm_child(fm, "value = evaluate_function(x, y)", "value = evaluate_function(x)")
    reason = calls_fit_signatures(fm, fm.program, child)
    assert reason is not None and "evaluate_function() missing 1 required positional argument: 'y'" in reason
    assert "in the evolvable code" in reason


SOLVE_TASK = {
    "initial_program.py": "# EVOLVE-BLOCK-START\ndef solve(xs):\n    return sorted(xs)\n# EVOLVE-BLOCK-END\n",
    "evaluator.py": (
        "import importlib.util\n\n\n"
        "def evaluate(path):\n"
        "    spec = importlib.util.spec_from_file_location('program', path)\n"
        "    prog = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(prog)\n"
        "    return {'combined_score': float(prog.solve([3, 1, 2]) == [1, 2, 3])}\n"
    ),
}


def test_the_evaluators_calls_are_checked(make_task: Callable[[dict[str, str]], Path]) -> None:
    task = load_task(make_task(SOLVE_TASK))
    seed = task.program.files[MAIN]
    child = task.program.replace(MAIN, seed.replace("def solve(xs):", "def solve(xs, key):"))
    reason = calls_fit_signatures(task, task.program, child)
    assert reason is not None and reason.startswith("the evaluator (evaluator.py line 8)")
    assert "solve() missing 1 required positional argument: 'key'" in reason
    gone = task.program.replace(MAIN, seed.replace("def solve(xs):", "def sort_them(xs):"))
    reason = calls_fit_signatures(task, task.program, gone)
    assert reason is not None and "removes or renames" in reason and "solve" in reason
    assert (
        calls_fit_signatures(task, task.program, task.program.replace(MAIN, seed.replace("xs)", "xs, k=1)")))
        is None
    )


def test_a_function_the_evaluator_probes_for_may_go(corpus_tasks: dict[str, Task]) -> None:
    """The corpus evaluator asks hasattr(prog, "pack") before it calls prog.pack(26)."""
    task = corpus_tasks["packing"]
    seed = task.program.files[task.program.main_path]
    gone = task.program.replace(task.program.main_path, seed.replace("def pack(n):", "def packing(n):"))
    assert calls_fit_signatures(task, task.program, gone) is None
    child = task.program.replace(task.program.main_path, seed.replace("def pack(n):", "def pack(n, m):"))
    reason = calls_fit_signatures(task, task.program, child)
    assert reason is not None and "pack() missing 1 required positional argument: 'm'" in reason


CORRECT_CALLS = {
    "a new parameter with a default": (
        "def f(a):\n    return a\nf(1)\n",
        "def f(a, b=2):\n    return a + b\nf(1)\n",
    ),
    "varargs": ("def f(a):\n    return a\nf(1, 2)\n", "def f(*args):\n    return args\nf(1, 2)\n"),
    "kwargs": ("def f(a):\n    return a\n", "def f(a, **kw):\n    return a\nf(1, extra=2)\n"),
    "decorated": (
        "def f(a):\n    return a\nf(1)\n",
        "import functools\n@functools.lru_cache\ndef f(a, b):\n    return a\nf(1)\n",
    ),
    "shadowed by a parameter": ("", "def f(a, b):\n    return a\ndef g(f):\n    return f(1)\n"),
    "rebound": ("", "def f(a, b):\n    return a\nf = print\nf(1)\n"),
    "caught TypeError": ("", "def f(a, b):\n    return a\ntry:\n    f(1)\nexcept TypeError:\n    pass\n"),
    "star call": ("", "def f(a, b):\n    return a\nargs = (1, 2)\nf(*args)\n"),
    "keywords in any order": ("", "def f(a, b, *, c):\n    return a\nf(b=1, a=2, c=3)\n"),
    "positional-only with kwargs": ("", "def f(a, /, **kw):\n    return a, kw\nf(1, a=2)\n"),
    "generator unpacked": ("", "def f():\n    yield 1\n    yield 2\na, b = f()\n"),
    "a returned variable": ("", "def f():\n    t = (1, 2)\n    return t\na, b = f()\n"),
    "one return fits": ("", "def f(c):\n    if c:\n        return 1, 2, 3\n    return 1, 2\na, b = f(0)\n"),
    "method of the same name": (
        "",
        "def pack(n):\n    return n\nclass C:\n    def pack(self, a, b):\n        return a\nC().pack(1, 2)\n",
    ),
}


@pytest.mark.parametrize(("parent", "child"), list(CORRECT_CALLS.values()), ids=list(CORRECT_CALLS))
def test_correct_calls_accepted(fm: Task, parent: str, child: str) -> None:
    assert calls_fit_signatures(fm, prog(parent), prog(child)) is None
    assert calls_fit_signatures(fm, EMPTY, prog(child)) is None


def test_calls_the_parent_already_broke_are_not_the_childs(fm: Task) -> None:
    parent = prog("def f(a, b):\n    return a\ndef never():\n    return f(1)\n")
    child = prog("def f(a, b):\n    return a + b\ndef never():\n    return f(1)\n")
    assert calls_fit_signatures(fm, EMPTY, child) is not None
    assert calls_fit_signatures(fm, parent, child) is None


def test_folder_task(make_task: Callable[[dict[str, str]], Path]) -> None:
    root = make_task(
        {
            "godel.toml": '[task]\nprogram = "src"\nfixed = ["main.py"]\n',
            "evaluator.py": "def evaluate(path):\n    return {'combined_score': 1.0}\n",
            "src/main.py": "from helper import step\n\ndef run():\n    return step(1)\n",
            "src/helper.py": "def step(x):\n    return x + 1\n",
            "src/notes.txt": "free text (\n",
        }
    )
    task = load_task(root)
    seed = task.program
    assert set(seed.files) == {"main.py", "helper.py", "notes.txt"}
    assert all_checks(task, seed, seed.replace("notes.txt", "more free text ((\n")) == []
    broken = seed.replace("helper.py", "def step(x):\n    return x + undefined_thing\n")
    assert [name for name, _ in all_checks(task, seed, broken)] == ["names_defined"]
    assert "helper.py: undefined name 'undefined_thing'" in (names_defined(task, seed, broken) or "")
    # a new Python file that does not parse
    added = Program({**seed.files, "extra.py": "def f(:\n"})
    assert (parses(task, seed, added) or "").startswith("extra.py does not parse")


# -- the scope model agrees with CPython's symbol table ---------------------------------------------------------------

NAMES = ("a", "b", "c", "d")


@dataclass
class _Gen:
    data: st.DataObject
    counter: itertools.count[int]

    def name(self) -> str:
        return self.data.draw(st.sampled_from(NAMES))

    def expr(self) -> str:
        kind = self.data.draw(st.integers(0, 5))
        n, m = self.name(), self.name()
        return [
            n,
            f"{n} + {m}",
            f"[{n} for {n} in {m}]",
            f"(lambda {n}: {n} + {m})",
            f"({n} := {m})",
            f"{{{n}: {m} for {m} in {n}}}",
        ][kind]

    def block(self, depth: int, where: str) -> list[str]:
        out: list[str] = []
        for _ in range(self.data.draw(st.integers(1, 3))):
            out.extend(self.stmt(depth, where))
        return out

    def stmt(self, depth: int, where: str) -> list[str]:
        kinds = ["assign", "read", "aug", "del", "import", "if", "for", "ann", "try"]
        if depth < 3:
            kinds += ["def", "class"]
        if where == "function":
            kinds += ["global", "nonlocal"]
        if where == "class":
            kinds.remove("ann")  # `x: int` alone is "local" to a class only as far as LOAD_NAME goes
        kind = self.data.draw(st.sampled_from(kinds))
        n = self.name()

        def body() -> list[str]:
            return ["    " + line for line in self.block(depth + 1, where)]

        if kind == "assign":
            return [f"{n} = {self.expr()}"]
        if kind == "read":
            return [f"print({self.expr()})"]
        if kind == "aug":
            return [f"{n} += 1"]
        if kind == "del":
            return [f"del {n}"]
        if kind == "import":
            return [f"import os as {n}"]
        if kind == "ann":
            return [f"{n}: int"] if self.data.draw(st.booleans()) else [f"{n}: int = {self.expr()}"]
        if kind == "if":
            return [f"if {self.expr()}:", *body(), "else:", *body()]
        if kind == "for":
            return [f"for {n} in {self.name()}:", *body()]
        if kind == "try":
            return ["try:", *body(), "except ValueError as " + n + ":", *body()]
        if kind == "global":
            return [f"global {n}"]
        if kind == "nonlocal":
            return [f"nonlocal {n}"]
        inner = "function" if kind == "def" else "class"
        header = (
            f"def f{next(self.counter)}({self.name()}, {self.name()}=1):"
            if kind == "def"
            else f"class K{next(self.counter)}:"
        )
        return [header, *["    " + line for line in self.block(depth + 1, inner)]]


def _tables(table: symtable.SymbolTable) -> Iterator[symtable.SymbolTable]:
    yield table
    for child in table.get_children():
        yield from _tables(child)


def _key(scope: Scope) -> tuple[int, str]:
    line = getattr(scope.node, "lineno", 0)
    name = scope.name.strip("<>")
    return line, name


@pytest.mark.slow
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(data=st.data())
def test_scopes_agree_with_symtable(data: st.DataObject) -> None:
    gen = _Gen(data, itertools.count())
    source = "\n".join(gen.block(0, "module")) + "\n"
    try:
        compile(source, "<gen>", "exec")
    except SyntaxError:
        assume(False)
    info = analyse(source)
    assert info is not None
    tables = {(t.get_lineno(), t.get_name()): t for t in _tables(symtable.symtable(source, "<gen>", "exec"))}
    for scope in info.root.walk():
        key = (0, "top") if scope.parent is None else _key(scope)
        table = tables[key]
        for ref in scope.refs:
            symbol = table.lookup(ref.name)
            assert (scope.lookup(ref.name) is None) == symbol.is_global(), (source, scope.qualname, ref.name)
        if scope.kind in ("function", "comprehension"):
            for symbol in table.get_symbols():
                name = symbol.get_name()
                if name.startswith("."):
                    continue  # the comprehension's hidden iterator argument
                mine = name in scope.local and name not in scope.declared_global | scope.declared_nonlocal
                assert mine == symbol.is_local(), (source, scope.qualname, name)


# -- every "read before assignment" is confirmed by running the function ----------------------------------------------


@dataclass
class _FlowGen:
    data: st.DataObject

    def name(self) -> str:
        return self.data.draw(st.sampled_from(NAMES))

    def expr(self) -> str:
        n, m = self.name(), self.name()
        return self.data.draw(
            st.sampled_from(
                [n, f"{n} + {m}", f"{n} and {m}", f"({n} if p > 0 else {m})", "p + q", f"({n} := q)"]
            )
        )

    def block(self, depth: int, loop: bool) -> list[str]:
        out: list[str] = []
        for _ in range(self.data.draw(st.integers(1, 3))):
            out.extend(self.stmt(depth, loop))
        return out

    def stmt(self, depth: int, loop: bool) -> list[str]:
        kinds = ["assign", "assign", "read", "aug", "del"]
        if depth < 3:
            kinds += ["if", "for", "while", "try", "with", "finally"]
        if loop:
            kinds += ["break", "continue"]
        if depth > 0:
            kinds += ["return"]
        kind = self.data.draw(st.sampled_from(kinds))
        n = self.name()

        def body(in_loop: bool = loop) -> list[str]:
            return ["    " + line for line in self.block(depth + 1, in_loop)]

        # Simple statements start with ARRIVE, replaced by a call recording that the line was reached; compound
        # statements' headers read only p and q, which are always bound.
        if kind == "assign":
            return [f"{ARRIVE}{n} = {self.expr()}"]
        if kind == "read":
            return [f"{ARRIVE}_sink({self.expr()})"]
        if kind == "aug":
            return [f"{ARRIVE}{n} += 1"]
        if kind == "del":
            return [f"{ARRIVE}del {n}"]
        if kind == "return":
            return [f"{ARRIVE}return {self.expr()}"]
        if kind in ("break", "continue"):
            return [kind]
        if kind == "if":
            return [f"if p > {self.data.draw(st.integers(-1, 2))}:", *body(), "else:", *body()]
        if kind == "for":
            return [f"for {n} in range(q + 1):", *body(True)]
        if kind == "while":
            return ["while q > 0:", "    q -= 1", *body(True)]
        if kind == "try":
            handler = self.data.draw(st.sampled_from(["ValueError", "NameError", "Exception"]))
            return ["try:", *body(), f"except {handler}:", *body()]
        if kind == "finally":
            return ["try:", *body(), "finally:", *body()]
        return ["with _cm():", *body()]


ARRIVE = "\N{SECTION SIGN}"
Event = tuple[str, int, "type[BaseException] | None"]


def _run(fn: Callable[..., Any], events: list[Event], p: int, q: int) -> list[Event]:
    """The arrivals (recorded by the generated code into ``events``) and exceptions of ``fn`` for (p, q)."""
    code = fn.__code__
    events.clear()

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        # Exceptions only: CPython also reports "line" events for the cleanup code of a finally block.
        if frame.f_code is code and event == "exception":
            events.append(("exception", frame.f_lineno, arg[0]))
        return tracer

    sys.settrace(tracer)
    try:
        fn(p, q)
    except Exception:  # the generated code's own failures are what the events record
        pass
    finally:
        sys.settrace(None)
    return list(events)


def _first_arrival_fails(events: list[Event], line: int) -> bool:
    """Whether the first time ``line`` runs, the next thing that happens is an UnboundLocalError there."""
    for i, (kind, at, _exc) in enumerate(events):
        if kind == "arrive" and at == line:
            following = events[i + 1] if i + 1 < len(events) else None
            return following == ("exception", line, UnboundLocalError)
    return True  # never reached


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_unbound_reads_fail_whenever_reached(data: st.DataObject) -> None:
    body = _FlowGen(data).block(0, False)
    lines = [line.replace(ARRIVE, f"_at({number}); ") for number, line in enumerate(body, start=2)]
    source = "def f(p, q):\n" + "".join(f"    {line}\n" for line in lines)
    try:
        compile(source, "<gen>", "exec")
    except SyntaxError:
        assume(False)
    found = unbound_reads(source)
    event("reported" if found else "nothing reported")
    events: list[Event] = []
    namespace: dict[str, Any] = {
        "_sink": lambda *a: None,
        "_cm": contextlib.nullcontext,
        "_at": lambda line: events.append(("arrive", line, None)),
    }
    namespace.update(dict.fromkeys(NAMES, 0))  # names never local to f read these globals
    exec(compile(source, "<gen>", "exec"), namespace)
    runs = [_run(namespace["f"], events, p, q) for p, q in itertools.product(range(-1, 3), range(0, 3))]
    for u in found:
        for events in runs:
            assert _first_arrival_fails(events, u.line), (source, u)
