"""``FREEZE_TIME``: the wall clock stands still during a test, through time-machine.

time-machine patches the C functions behind ``time.time``, ``datetime.now`` and their relatives, so code that
imported them by name is frozen too; since its 3.0 it leaves ``time.monotonic`` and ``perf_counter`` alone, so
timeouts, asyncio's loop and pytest's own durations keep running. It is imported only when freezing is on.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import Any

from godel.errors import UsageError

__all__ = ["Clock", "real_time", "require_time_machine"]


def require_time_machine() -> None:
    """Fail at start, not in the first test, when FREEZE_TIME=1 cannot be honoured."""
    try:
        import time_machine  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            "FREEZE_TIME=1 needs the time-machine package, which is not installed",
            hint="pip install 'time-machine>=3.0' (godel depends on it: reinstall godel), or unset FREEZE_TIME",
        ) from exc


class Clock:
    """Freezes the clock at one instant between :meth:`freeze` and :meth:`thaw` (re-entrant per test)."""

    def __init__(self, at: datetime) -> None:
        self._at = at
        self._travel: Any = None

    def freeze(self) -> None:
        if self._travel is not None:
            return
        import time_machine

        travel = time_machine.travel(self._at, tick=False)
        travel.start()
        self._travel = travel

    def thaw(self) -> None:
        travel, self._travel = self._travel, None
        if travel is not None:
            travel.stop()


def real_time() -> float:
    """Seconds since the epoch from the real clock, also while a test has it frozen (for event time stamps)."""
    tm = sys.modules.get("time_machine")
    if tm is not None and tm.escape_hatch.is_travelling():
        return float(tm.escape_hatch.time.time())
    return time.time()
