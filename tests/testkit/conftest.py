"""A small real package written per test: ``calc`` with a partial suite, and candidate folders beside it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

CALC = """\
def add(a, b):
    return a + b


def clamp(x, low, high):
    if x < low:
        return low
    if x > high:
        return high
    return x


def sign(x):
    if x > 0:
        return 1
    if x < 0:
        return -1
    return 0


class Counter:
    def __init__(self, start=0):
        self.value = start

    def bump(self, by=1):
        self.value += by
        return self.value
"""

TESTS = """\
from calc import add, clamp


def test_add():
    assert add(2, 3) == 5


def test_clamp_low():
    assert clamp(-5, 0, 10) == 0
"""


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write(root, {"calc.py": CALC, "tests/test_calc.py": TESTS})
    return root
