"""parse_python serialises ast.parse across threads (CPython 3.11's AST constructor is not thread-safe)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from godel._syntax import parse_expression, parse_python, syntax_error

SOURCE = (Path(__file__).resolve().parents[2] / "src" / "godel" / "propose" / "_apply.py").read_text()


class _Finalised:
    """Garbage in reference cycles whose finalizer lets another thread run in the middle of a parse."""

    other: _Finalised | None = None

    def __del__(self) -> None:
        time.sleep(0)


@pytest.mark.slow
def test_concurrent_parses_with_finalizers_do_not_raise_system_error() -> None:
    errors: list[BaseException] = []

    def work() -> None:
        for _ in range(30):
            for _ in range(20):
                a, b = _Finalised(), _Finalised()
                a.other, b.other = b, a
            try:
                parse_python(SOURCE)
            except BaseException as exc:  # collected and asserted on below
                errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_helpers() -> None:
    assert syntax_error("x = 1\n") is None
    err = syntax_error("def f(:\n")
    assert err is not None and err.lineno == 1
    assert type(parse_expression("a + 1")).__name__ == "BinOp"
