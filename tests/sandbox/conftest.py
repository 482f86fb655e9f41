from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from godel.sandbox import ZygoteSandbox


def live_processes(uids: list[int]) -> list[tuple[int, str]]:
    """Processes (not zombies) whose real uid is one of ``uids``: a sandbox job left them behind."""
    found: list[tuple[int, str]] = []
    wanted = set(uids)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                status = fh.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = int(fields.get("Uid", "-1 0").split()[0])
        state = fields.get("State", "").strip()
        if uid in wanted and not state.startswith("Z"):
            found.append((int(entry), fields.get("Name", "").strip()))
    return found


def assert_no_leftovers(box: ZygoteSandbox, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = live_processes(box.uids)
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"processes left behind by the job: {left}")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def zygote() -> Iterator[ZygoteSandbox]:
    box = ZygoteSandbox(slots=2, mode="fork")
    yield box
    box.close()


@pytest.fixture(scope="session")
def exec_box() -> Iterator[ZygoteSandbox]:
    box = ZygoteSandbox(slots=1, mode="exec")
    yield box
    box.close()


@pytest.fixture(params=["zygote", "exec"])
def box(request: pytest.FixtureRequest) -> ZygoteSandbox:
    sandbox: ZygoteSandbox = request.getfixturevalue("zygote" if request.param == "zygote" else "exec_box")
    return sandbox
