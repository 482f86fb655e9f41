"""Rate limiter, circuit breaker and bandit, driven by a fake clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from godel.llm import Bandit, CircuitBreaker, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@given(rpm=st.integers(1, 20), n=st.integers(1, 60))
def test_requests_per_minute_never_exceeded(rpm: int, n: int) -> None:
    clock = Clock()
    rl = RateLimiter(rpm, None, clock=clock, sleep=clock.sleep)
    times = [rl.acquire()[0] for _ in range(n)]
    for i, t in enumerate(times):
        assert sum(1 for u in times[: i + 1] if u > t - 60.0) <= rpm
    assert clock.now >= 60.0 * ((n - 1) // rpm)


def test_tokens_per_minute_waits_for_room() -> None:
    clock = Clock()
    rl = RateLimiter(None, 1000, clock=clock, sleep=clock.sleep)
    e = rl.acquire(800)
    rl.settle(e, 900)
    rl.acquire(200)  # 900 + 200 > 1000: waits for the first to leave the window
    assert clock.now == 60.0
    rl.acquire(5000)  # larger than the limit alone: let through once the window is empty
    assert clock.now == 120.0


def test_breaker_cycle() -> None:
    clock = Clock()
    br = CircuitBreaker(2, 10.0, clock=clock)
    br.failure()
    assert br.state == "closed" and br.allow()
    br.failure()
    assert br.state == "open" and not br.allow()
    clock.now = 10.0
    assert br.allow() and not br.allow()  # half-open: a single trial
    br.failure()
    assert br.state == "open"
    clock.now = 20.0
    assert br.allow()
    br.success()
    assert br.state == "closed"
    br.failure(permanent="bad key")
    clock.now = 1e9
    assert br.state == "disabled" and not br.allow()


def test_bandit_tries_every_arm_then_exploits() -> None:
    b = Bandit(["a", "b", "c"], c=0.1)
    assert b.ranking(["a", "b", "c"]) == ["a", "b", "c"]
    b.report("a", 0.0, 1.0)
    assert b.ranking(["a", "b", "c"])[:2] == ["b", "c"]
    b.report("b", 1.0, 0.0)
    b.report("c", 0.1, 0.0)
    assert b.ranking(["a", "b", "c"])[0] == "b"
