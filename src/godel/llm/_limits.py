"""Client-side rate limits, a circuit breaker and a UCB bandit: the small state machines of the model pool.

Each takes ``clock``/``sleep`` callables so tests can drive time without waiting.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Bandit", "CircuitBreaker", "RateLimiter"]

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class RateLimiter:
    """At most ``rpm`` requests and ``tpm`` tokens in any sliding ``window`` seconds (default a minute).

    ``acquire(estimate)`` blocks until the request fits and reserves ``estimate`` tokens; ``settle`` replaces the
    reservation with the tokens actually used. A single request larger than ``tpm`` is let through alone rather
    than blocking forever.
    """

    def __init__(
        self,
        rpm: int | None,
        tpm: int | None,
        *,
        window: float = 60.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._log: deque[list[float]] = deque()  # [time, tokens]
        self.waited = 0.0

    def _prune(self, now: float) -> None:
        while self._log and self._log[0][0] <= now - self.window:
            self._log.popleft()

    def _wait_needed(self, now: float, estimate: int) -> float:
        self._prune(now)
        if not self._log:
            return 0.0
        if self.rpm is not None and len(self._log) >= self.rpm:
            return self._log[len(self._log) - self.rpm][0] + self.window - now
        if self.tpm is not None and sum(e[1] for e in self._log) + estimate > self.tpm:
            # Wait until enough old entries expire for the estimate to fit (or the log is empty).
            used = sum(e[1] for e in self._log)
            for entry in self._log:
                used -= entry[1]
                if used + estimate <= self.tpm:
                    return entry[0] + self.window - now
            return self._log[-1][0] + self.window - now
        return 0.0

    def acquire(self, estimate: int = 0) -> list[float]:
        if self.rpm is None and self.tpm is None:
            return [self._clock(), float(estimate)]
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_needed(now, estimate)
                if wait <= 0:
                    entry = [now, float(estimate)]
                    self._log.append(entry)
                    return entry
            self.waited += wait
            self._sleep(wait)

    def settle(self, entry: list[float], tokens: int) -> None:
        with self._lock:
            entry[1] = float(tokens)


class CircuitBreaker:
    """Closed -> open after ``failures`` consecutive failures; open for ``cooldown`` seconds; then half-open: one
    trial call, which closes it on success or re-opens it on failure. A permanent failure opens it for good."""

    def __init__(self, failures: int, cooldown: float, *, clock: Clock = time.monotonic) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self.consecutive = 0
        self.open_until: float | None = None
        self.permanent: str | None = None
        self.trips = 0
        self._trial = False

    @property
    def state(self) -> str:
        if self.permanent is not None:
            return "disabled"
        if self.open_until is None:
            return "closed"
        return "open" if self._clock() < self.open_until else "half-open"

    def allow(self) -> bool:
        with self._lock:
            if self.permanent is not None:
                return False
            if self.open_until is None:
                return True
            if self._clock() < self.open_until or self._trial:
                return False
            self._trial = True  # half-open: let exactly one call through
            return True

    def success(self) -> None:
        with self._lock:
            self.consecutive = 0
            self.open_until = None
            self._trial = False

    def failure(self, permanent: str | None = None) -> None:
        with self._lock:
            if permanent is not None:
                self.permanent = permanent
                self.trips += 1
                return
            self.consecutive += 1
            if self._trial or self.consecutive >= self.threshold:
                self.open_until = self._clock() + self.cooldown
                self.trips += 1
            self._trial = False

    def retry_in(self) -> float:
        if self.open_until is None:
            return 0.0
        return max(0.0, self.open_until - self._clock())


@dataclass
class _Arm:
    pulls: int = 0
    total: float = 0.0


class Bandit:
    """UCB1 over models on improvement per unit cost.

    The reward of one proposal is ``improvement / (cost + cost_floor)``: free models (cost 0) are judged on
    improvement per ``cost_floor``. Rewards are scaled by the largest mean so ``c`` keeps its meaning whatever
    the units. Arms never reported are tried first, in configuration order.
    """

    def __init__(self, arms: Sequence[str], c: float = 1.0, cost_floor: float = 1e-3) -> None:
        self.c = c
        self.cost_floor = cost_floor
        self._arms = {a: _Arm() for a in arms}
        self._lock = threading.Lock()

    def report(self, arm: str, improvement: float, cost: float) -> None:
        with self._lock:
            state = self._arms.setdefault(arm, _Arm())
            reward = improvement / (max(cost, 0.0) + self.cost_floor)
            state.pulls += 1
            state.total += reward

    def ranking(self, allowed: Sequence[str]) -> list[str]:
        """``allowed`` arms, best UCB index first."""
        with self._lock:
            fresh = [a for a in allowed if self._arms.get(a, _Arm()).pulls == 0]
            tried = [a for a in allowed if a not in fresh]
            n = sum(self._arms[a].pulls for a in tried) or 1
            means = {a: self._arms[a].total / self._arms[a].pulls for a in tried}
            scale = max((abs(m) for m in means.values()), default=1.0) or 1.0

            def index(a: str) -> float:
                return means[a] / scale + self.c * math.sqrt(2 * math.log(n) / self._arms[a].pulls)

            return fresh + sorted(tried, key=index, reverse=True)

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {
                a: {"pulls": s.pulls, "mean_reward": s.total / s.pulls if s.pulls else 0.0}
                for a, s in self._arms.items()
            }
