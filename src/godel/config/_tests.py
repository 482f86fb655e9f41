"""``[tests]``: staged test evolution (``godel evolve --mode tests``): where the tests are, which stage runs, and
the limits its gates enforce."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from godel.config._model import Strict

__all__ = ["TestsConfig"]


class TestsConfig(Strict):
    """``[tests]``: Stage A (add tests only) or Stage B (safe refactor) of a project's test evolution."""

    __test__ = False  # not a pytest test class, whatever its name

    tests_dir: str = Field("tests", description="the project's tests folder, relative to the project")
    package: tuple[str, ...] = Field(
        (),
        description="production folders or modules, relative to the project; default: every other Python file",
    )
    stage: Literal["A", "B"] = Field("A", description="A: add tests only; B: refactor production code")
    max_files: int = Field(2, ge=1, description="files one candidate may change")
    max_changed_lines: int = Field(40, ge=1, description="Stage B: lines one candidate may add plus remove")
    coverage_baseline: float = Field(
        0.5, ge=0, le=1, description="Stage B: line coverage the project needs before any refactor"
    )
    repeats: int = Field(
        3, ge=1, le=20, description="Stage A: runs in a row the new tests must pass (no flakes)"
    )
    mutants: int = Field(
        24, ge=1, le=500, description="mutants of the production code the mutation score is measured on"
    )
    kill_mutants: int = Field(
        12, ge=1, le=200, description="Stage A: mutants on the new tests' lines tried until one is killed"
    )
    proposer: Literal["ghostwriter", "model", "dir"] = Field(
        "ghostwriter",
        description="ghostwriter: Hypothesis property tests (no model); model: the LLM, CoverUp-style; "
        "dir: the hand-written candidates in tests.candidates",
    )
    candidates: str | None = Field(
        None,
        description="proposer dir: a folder whose subfolders are candidates (files laid over the project)",
    )
    job_seconds: float = Field(600.0, gt=0, description="wall time of one candidate's whole measurement")
    test_seconds: float = Field(120.0, gt=0, description="wall time of one pytest run inside it")
