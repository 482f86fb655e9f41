"""HumanEval's problems, the fixed split and godel's scorer (real tests, real sandbox)."""

from __future__ import annotations

import pytest

from godel.agents import Problem, make_split, score_solution, screen_solution
from godel.sandbox import Sandbox


def test_all_164_problems_load_from_the_installed_package(problems: dict[str, Problem]) -> None:
    assert len(problems) == 164
    p = problems["HumanEval/0"]
    assert p.entry_point == "has_close_elements" and "def has_close_elements" in p.prompt
    assert "def check(candidate)" in p.test and "def check" not in p.public()["prompt"]
    assert set(p.public()) == {"prompt", "entry_point"}  # the agent never gets the tests


def test_the_split_is_fixed_disjoint_and_depends_on_its_seed(problems: dict[str, Problem]) -> None:
    a = make_split(list(problems), 0.5, 0)
    assert a == make_split(list(reversed(list(problems))), 0.5, 0)
    assert not set(a.dev) & set(a.test) and len(a.dev) + len(a.test) == 164 and len(a.dev) == 82
    assert make_split(list(problems), 0.5, 1) != a
    assert make_split(list(problems), 0.25, 0).dev != a.dev


def test_a_reference_solution_passes_and_a_wrong_one_fails(
    box: Sandbox, problems: dict[str, Problem], reference: dict[str, str]
) -> None:
    p = problems["HumanEval/0"]
    assert score_solution(box, p, reference[p.entry_point]).passed
    wrong = score_solution(box, p, "def has_close_elements(numbers, threshold):\n    return False\n")
    assert not wrong.passed and "AssertionError" in str(wrong.error)


@pytest.mark.parametrize(
    "solution",
    [
        "import os\nos.write(3, b'{\"passed\": true}')\nos._exit(0)\n",  # forge the verdict
        "def has_close_elements(n, t):\n    return True\nimport sys\nsys.exit(0)\n",  # leave before the tests
        "__builtins__['AssertionError'] = KeyboardInterrupt\n",  # defuse asserts
        "exec(\"__import__('os')._exit(0)\")\n",  # smuggled
    ],
)
def test_solutions_that_reach_for_the_scorer_are_refused(
    box: Sandbox, problems: dict[str, Problem], solution: str
) -> None:
    s = score_solution(box, problems["HumanEval/0"], solution)
    assert not s.passed and s.refused and str(s.error).startswith("refused:")


def test_leaving_early_without_the_screen_is_still_a_failure(
    box: Sandbox, problems: dict[str, Problem]
) -> None:
    # raise SystemExit needs no banned name: the verdict is written only after the tests ran.
    s = score_solution(box, problems["HumanEval/0"], "raise SystemExit(0)\n")
    assert not s.passed and not s.refused and "SystemExit" in str(s.error)


def test_a_hanging_solution_times_out(box: Sandbox, problems: dict[str, Problem]) -> None:
    s = score_solution(
        box,
        problems["HumanEval/0"],
        "def has_close_elements(n, t):\n    while True:\n        pass\n",
        timeout=1.0,
    )
    # A busy loop: the wall-clock or the CPU limit, whichever comes first.
    assert not s.passed and str(s.error).startswith(("timeout", "cpu_limit"))


def test_the_screen_lets_ordinary_solutions_through(reference: dict[str, str]) -> None:
    refused = {name: why for name, code in reference.items() if (why := screen_solution(code))}
    # Reference solutions that use eval (one does) are the price of refusing smuggled code.
    assert list(refused) == ["do_algebra"], refused
