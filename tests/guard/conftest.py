from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from godel.archive import Archive, open_archive
from godel.task import Task
from tests.guard.corpus_util import make_tasks


@pytest.fixture(scope="module")
def corpus_tasks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Task]:
    return make_tasks(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    a = open_archive(f"sqlite:///{tmp_path / 'godel.db'}")
    try:
        yield a
    finally:
        a.close()
