from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import write_task


@pytest.fixture
def make_task(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write a task folder: relative file name -> content."""
    counter = iter(range(1_000_000))

    def make(files: dict[str, str]) -> Path:
        return write_task(tmp_path / f"task{next(counter)}", files)

    return make
