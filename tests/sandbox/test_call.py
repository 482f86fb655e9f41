from __future__ import annotations

from pathlib import Path

import pytest

from godel.sandbox import CandidateCallError, Limits, ZygoteSandbox, call_candidate

CANDIDATE = """
import math
def solve(xs, scale=1):
    return {"total": sum(xs) * scale, "root": math.sqrt(sum(xs)), "pair": (1, 2)}
def boom():
    raise RuntimeError("nope")
def forever():
    while True:
        pass
def not_plain():
    return object()
"""


def test_returns_plain_data(zygote: ZygoteSandbox, tmp_path: Path) -> None:
    path = tmp_path / "program.py"
    path.write_text(CANDIDATE)
    value = call_candidate(path, "solve", [[1, 2, 3]], {"scale": 2}, sandbox=zygote)
    assert value == {"total": 12, "root": pytest.approx(6**0.5), "pair": [1, 2]}
    # Source text works too, and a str path.
    assert call_candidate(CANDIDATE, "solve", [[4]], sandbox=zygote)["total"] == 4
    assert call_candidate(str(path), "solve", [[5]], sandbox=zygote)["total"] == 5


def test_candidate_errors(zygote: ZygoteSandbox) -> None:
    with pytest.raises(CandidateCallError, match="RuntimeError: nope") as info:
        call_candidate(CANDIDATE, "boom", sandbox=zygote)
    assert info.value.phase == "call" and "RuntimeError" in info.value.traceback
    with pytest.raises(CandidateCallError, match="not plain data"):
        call_candidate(CANDIDATE, "not_plain", sandbox=zygote)
    with pytest.raises(CandidateCallError, match="AttributeError"):
        call_candidate(CANDIDATE, "missing", sandbox=zygote)
    with pytest.raises(CandidateCallError, match="SyntaxError") as info:
        call_candidate("def broken(:\n", "f", sandbox=zygote)
    assert info.value.phase == "import"


def test_limits_end_the_call(zygote: ZygoteSandbox) -> None:
    with pytest.raises(CandidateCallError) as info:
        call_candidate(CANDIDATE, "forever", sandbox=zygote, limits=Limits(wall_seconds=0.5))
    assert info.value.termination == "timeout"


def test_candidate_cannot_forge_more_than_its_return_value(zygote: ZygoteSandbox) -> None:
    """Writing to the result channel itself only replaces the value, which the evaluator validates anyway;
    garbage makes the call fail instead of being parsed."""
    forger = 'import os\nos.write(3, b\'{"ok": true, "value": 1e9}garbage\')\nos._exit(0)\ndef f():\n    return 1\n'
    with pytest.raises(CandidateCallError, match="malformed"):
        call_candidate(forger, "f", sandbox=zygote)
