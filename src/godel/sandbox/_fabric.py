"""The execution fabric: a priority queue of sandbox jobs in front of a sandbox's slots.

Jobs wait for a free slot in priority order (a candidate's later cascade stage before fresh first stages, then first
come first served). A job whose *infrastructure* fails (``SandboxError``: a sandbox server that died, a slot that
could not start) is re-run with exponential backoff, a bounded number of times; a job that ran and failed on its own
(crash, timeout, memory...) is never re-run — re-rolling a candidate's failure would be dishonest. KPIs (queue wait,
start latency — hand-over to the job's first line, where the backend can tell —, start-to-result time, throughput,
terminations by reason, infrastructure retries) are kept here (:meth:`stats`) and
exported as Prometheus metrics.
"""

from __future__ import annotations

import heapq
import itertools
import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from godel.errors import SandboxError
from godel.sandbox._base import Job, Sandbox, SandboxResult

if TYPE_CHECKING:
    from godel.telemetry import Telemetry

__all__ = ["FabricSandbox"]


@dataclass
class _Ticket:
    job: Job
    enqueued: float
    done: threading.Event = field(default_factory=threading.Event)
    result: SandboxResult | None = None
    error: BaseException | None = None
    attempts: int = 0


class FabricSandbox:
    """A :class:`Sandbox` that schedules jobs over ``slots`` slots of ``inner`` by priority, with infrastructure
    retries. Thread-safe: any number of callers may wait in :meth:`run` at once."""

    def __init__(
        self,
        inner: Sandbox,
        slots: int,
        *,
        retries: int = 2,
        backoff_seconds: float = 0.2,
        telemetry: Telemetry | None = None,
    ) -> None:
        if slots < 1:
            raise SandboxError("the execution fabric needs at least one slot")
        self.inner = inner
        self.name = inner.name
        self.trusted = inner.trusted
        self.slots = slots
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        if telemetry is None:
            # Imported on first use: the metrics stack costs start-up that ``godel sandbox run`` never needs.
            from godel.telemetry import Telemetry

            telemetry = Telemetry()
        self.telemetry = telemetry
        self._queue: list[tuple[int, int, _Ticket]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._started = time.monotonic()
        self._waits: deque[float] = deque(maxlen=10_000)
        self._runs: deque[float] = deque(maxlen=10_000)
        self._starts: deque[float] = deque(maxlen=10_000)
        self._terminations: Counter[str] = Counter()
        self._retried = 0
        self._finished = 0
        self._threads = [
            threading.Thread(target=self._dispatch, name=f"godel-fabric-{i}", daemon=True)
            for i in range(slots)
        ]
        for t in self._threads:
            t.start()

    @property
    def isolation(self) -> Mapping[str, Any]:
        return self.inner.isolation

    @property
    def server_pids(self) -> Sequence[int]:
        return self.inner.server_pids

    def run(self, job: Job) -> SandboxResult:
        ticket = _Ticket(job, time.monotonic())
        with self._cond:
            if self._closed:
                raise SandboxError("the sandbox is closed")
            heapq.heappush(self._queue, (-job.priority, next(self._seq), ticket))
            self._cond.notify()
        ticket.done.wait()
        if ticket.error is not None:
            raise ticket.error
        assert ticket.result is not None
        return ticket.result

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed and not self._queue:
                    return
                _, _, ticket = heapq.heappop(self._queue)
            self._serve(ticket)

    def _serve(self, ticket: _Ticket) -> None:
        start = time.monotonic()
        wait = start - ticket.enqueued
        try:
            while True:
                ticket.attempts += 1
                try:
                    ticket.result = self.inner.run(ticket.job)
                    break
                except SandboxError as exc:
                    if ticket.attempts > self.retries or self._closed:
                        ticket.error = exc
                        break
                    with self._cond:
                        self._retried += 1
                    self.telemetry.sandbox_retry()
                    time.sleep(self.backoff_seconds * 2 ** (ticket.attempts - 1))
        except BaseException as exc:  # handed to the caller waiting in run()
            ticket.error = exc
        finally:
            ran = time.monotonic() - start
            termination = ticket.result.termination if ticket.result is not None else "infrastructure"
            started = ticket.result.start_seconds if ticket.result is not None else None
            with self._cond:
                self._waits.append(wait)
                self._runs.append(ran)
                if started is not None:
                    self._starts.append(started)
                self._terminations[termination] += 1
                self._finished += 1
            self.telemetry.sandbox_job(termination, wait, ran, started)
            ticket.done.set()

    def stats(self) -> dict[str, Any]:
        """KPIs since start: queue wait, start latency and start-to-result time (p50/p95, ms), throughput,
        outcomes, retries."""

        def pct(values: deque[float], q: float) -> float | None:
            if not values:
                return None
            ordered = sorted(values)
            return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

        with self._cond:
            elapsed = max(time.monotonic() - self._started, 1e-9)
            return {
                "backend": self.name,
                "slots": self.slots,
                "queued": len(self._queue),
                "finished": self._finished,
                "throughput_per_s": round(self._finished / elapsed, 3),
                "queue_wait_ms_p50": pct(self._waits, 0.5),
                "queue_wait_ms_p95": pct(self._waits, 0.95),
                "start_ms_p50": pct(self._starts, 0.5),
                "start_ms_p95": pct(self._starts, 0.95),
                "run_ms_p50": pct(self._runs, 0.5),
                "run_ms_p95": pct(self._runs, 0.95),
                "run_ms_mean": round(1000 * statistics.fmean(self._runs), 3) if self._runs else None,
                "terminations": dict(self._terminations),
                "infrastructure_retries": self._retried,
            }

    def close(self) -> None:
        with self._cond:
            self._closed = True
            pending = [t for _, _, t in self._queue]
            self._queue.clear()
            self._cond.notify_all()
        for ticket in pending:
            ticket.error = SandboxError("the sandbox was closed before this job ran")
            ticket.done.set()
        for t in self._threads:
            t.join(timeout=5)
        self.inner.close()
