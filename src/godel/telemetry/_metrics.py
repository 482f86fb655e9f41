"""Prometheus metrics: what the engine reports through :class:`Telemetry`, and what an archive shows on scrape.

Several worker processes: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty, writable directory in the environment of
*every* process before it starts (prometheus-client reads it at import). Each process then writes its samples to
memory-mapped files there and :func:`render_metrics` (the dashboard's ``/metrics``, :func:`start_metrics_server`)
sums them, so counters and histograms are correct across processes; gauges use the aggregation named in their
definition (``max`` for the best score, ``livesum`` for the queue depth...). Empty the directory between runs.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from godel.candidate import Candidate, Status
from godel.telemetry._errors import ServeError, TelemetryError

if TYPE_CHECKING:
    from godel.archive import Archive
    from godel.progress import Progress

__all__ = [
    "CONTENT_TYPE_LATEST",
    "KILL_TERMINATIONS",
    "ArchiveCollector",
    "Telemetry",
    "multiprocess_dir",
    "render_metrics",
    "start_metrics_server",
]

KILL_TERMINATIONS = frozenset({"timeout", "cpu_limit", "memory_limit", "output_limit"})
_EVAL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_LLM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)


def multiprocess_dir() -> str | None:
    """The multiprocess directory in use, or None (single-process mode)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path or None


class _Metrics:
    """The process-wide metric objects (a metric name can be registered only once per process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.lock = threading.Lock()
        self.best_seen: dict[str, float] = {}  # per run label; the gauge itself has no public getter
        r = self.registry
        self.candidates = Counter(
            "godel_candidates", "Candidates finished, by outcome status", ["run", "status"], registry=r
        )
        self.failures = Counter(
            "godel_candidate_failures",
            "Failed or rejected candidates, by stage",
            ["run", "stage"],
            registry=r,
        )
        self.proposals = Counter(
            "godel_proposals",
            "Proposals made, by validity (an edit that applied)",
            ["run", "valid"],
            registry=r,
        )
        self.evaluation = Histogram(
            "godel_evaluation_seconds",
            "Wall time of one candidate's evaluation",
            ["run"],
            buckets=_EVAL_BUCKETS,
            registry=r,
        )
        self.kills = Counter(
            "godel_sandbox_kills",
            "Sandbox jobs ended by a limit, by termination reason",
            ["reason"],
            registry=r,
        )
        self.jobs = Counter(
            "godel_sandbox_jobs", "Sandbox jobs finished, by termination", ["termination"], registry=r
        )
        self.queue_wait = Histogram(
            "godel_sandbox_queue_wait_seconds",
            "Time a job waited for a sandbox slot",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120),
            registry=r,
        )
        self.start_seconds = Histogram(
            "godel_sandbox_start_seconds",
            "Start latency of a sandbox job: hand-over to its first line of code (backends that can tell)",
            buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1),
            registry=r,
        )
        self.job_seconds = Histogram(
            "godel_sandbox_job_seconds",
            "Start-to-result time of a sandbox job",
            buckets=(0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120),
            registry=r,
        )
        self.infra_retries = Counter(
            "godel_sandbox_infra_retries", "Jobs re-run after an infrastructure failure", registry=r
        )
        self.flags = Counter(
            "godel_hacking_flags", "Candidates flagged by the objective-hacking detector", ["run"], registry=r
        )
        self.events = Counter(
            "godel_events", "Events appended to the run's chain, by kind", ["run", "kind"], registry=r
        )
        self.llm_requests = Counter(
            "godel_llm_requests", "Model requests, by model", ["system", "model"], registry=r
        )
        self.llm_errors = Counter(
            "godel_llm_errors",
            "Failed model requests, by model and error type",
            ["system", "model", "error"],
            registry=r,
        )
        self.llm_tokens = Counter(
            "godel_llm_tokens",
            "Model tokens, by model and direction (input|output)",
            ["system", "model", "direction"],
            registry=r,
        )
        self.llm_seconds = Histogram(
            "godel_llm_request_seconds",
            "Latency of one model request",
            ["system", "model"],
            buckets=_LLM_BUCKETS,
            registry=r,
        )
        # Gauges: the multiprocess aggregation says how several processes' values combine.
        self.best = Gauge(
            "godel_best_score", "Best score of the run so far", ["run"], multiprocess_mode="max", registry=r
        )
        self.valid_rate = Gauge(
            "godel_valid_proposal_ratio",
            "Share of proposals that produced a program",
            ["run"],
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self.done = Gauge(
            "godel_run_candidates_done",
            "Candidates finished in this session of the run",
            ["run"],
            multiprocess_mode="max",
            registry=r,
        )
        self.last_progress = Gauge(
            "godel_last_progress_timestamp_seconds",
            "Unix time of the run's last finished candidate",
            ["run"],
            multiprocess_mode="max",
            registry=r,
        )
        self.queue = Gauge(
            "godel_queue_depth",
            "Candidates in flight (proposed, not yet evaluated)",
            ["run"],
            multiprocess_mode="livesum",
            registry=r,
        )


_metrics: _Metrics | None = None
_metrics_lock = threading.Lock()


def _get_metrics() -> _Metrics:
    global _metrics
    with _metrics_lock:
        if _metrics is None:
            _metrics = _Metrics()
        return _metrics


def _label(value: object, limit: int = 80) -> str:
    text = str(value) if value is not None else ""
    return text[:limit] or "unknown"


def _kill_reasons(evaluation: Mapping[str, Any]) -> Iterator[str]:
    stages = evaluation.get("stages")
    if not isinstance(stages, list):
        return
    for stage in stages:
        doc = stage.get("sandbox") if isinstance(stage, Mapping) else None
        docs: Iterable[Any]
        if isinstance(doc, Mapping) and "termination" in doc:
            docs = [doc]
        elif isinstance(doc, Mapping):  # several documents (one per repeat), keyed by name
            docs = [v for v in doc.values() if isinstance(v, Mapping)]
        elif isinstance(doc, list):
            docs = doc
        else:
            continue
        for d in docs:
            if isinstance(d, Mapping) and d.get("termination") in KILL_TERMINATIONS:
                yield str(d["termination"])


class Telemetry:
    """What the engine reports: call it from the loop; every method is cheap, thread-safe and never raises on data.

    >>> tel = Telemetry(run="demo")
    >>> tel.candidate(cand)            # after a candidate reached its outcome
    >>> tel.progress(progress)         # from Engine(on_progress=...)
    >>> tel.event(kind, payload)       # from Engine(on_event=...)
    >>> tel.llm_call("gpt-4o-mini", 812, 240, 1.9, error=None)

    LLM tokens are counted by :meth:`llm_call` only (not by :meth:`candidate`), so wire it in the LLM client.
    """

    def __init__(self, run: str = "") -> None:
        self.run = run
        self._m = _get_metrics()

    def bind(self, run: str) -> Telemetry:
        """The same metrics, labelled with another run name."""
        return Telemetry(run)

    @property
    def registry(self) -> CollectorRegistry:
        return self._m.registry

    def candidate(self, cand: Candidate) -> None:
        m, run = self._m, _label(self.run or cand.run_id)
        status = cand.status.value if isinstance(cand.status, Status) else str(cand.status)
        m.candidates.labels(run, status).inc()
        m.proposals.labels(run, "false" if cand.failure_stage == "propose" else "true").inc()
        if cand.status in (Status.FAILED, Status.REJECTED):
            m.failures.labels(run, _label(cand.failure_stage)).inc()
        seconds = cand.timings.get("evaluate")
        if isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0:
            m.evaluation.labels(run).observe(float(seconds))
        for reason in _kill_reasons(cand.evaluation):
            m.kills.labels(reason).inc()
        if cand.flags:
            m.flags.labels(run).inc()
        if (
            cand.status == Status.OK
            and cand.score is not None
            and not cand.flags
            and math.isfinite(cand.score)
        ):
            with m.lock:
                if cand.score > m.best_seen.get(run, -math.inf):
                    m.best_seen[run] = cand.score
                    m.best.labels(run).set(cand.score)

    def progress(self, p: Progress) -> None:
        m, run = self._m, _label(self.run or p.run_name)
        if p.best_score is not None and math.isfinite(p.best_score):
            with m.lock:
                m.best_seen[run] = p.best_score
                m.best.labels(run).set(p.best_score)
        m.valid_rate.labels(run).set(p.valid_rate)
        m.done.labels(run).set(p.done)
        m.last_progress.labels(run).set(time.time())

    def event(self, kind: str, payload: Mapping[str, Any] | None = None) -> None:
        self._m.events.labels(_label(self.run), _label(kind, 40)).inc()

    def queue_depth(self, n: int) -> None:
        self._m.queue.labels(_label(self.run)).set(n)

    def sandbox_job(
        self, termination: str, queue_seconds: float, run_seconds: float, start_seconds: float | None = None
    ) -> None:
        """One job through the execution fabric: its outcome, time waiting for a slot, start latency (when the
        backend can tell), time in the sandbox."""
        m = self._m
        m.jobs.labels(_label(termination, 40)).inc()
        if math.isfinite(queue_seconds) and queue_seconds >= 0:
            m.queue_wait.observe(queue_seconds)
        if start_seconds is not None and math.isfinite(start_seconds) and start_seconds >= 0:
            m.start_seconds.observe(start_seconds)
        if math.isfinite(run_seconds) and run_seconds >= 0:
            m.job_seconds.observe(run_seconds)

    def sandbox_retry(self) -> None:
        """A job re-run after an infrastructure failure (never after the candidate's own failure)."""
        self._m.infra_retries.inc()

    def sandbox_kill(self, reason: str) -> None:
        self._m.kills.labels(_label(reason, 40)).inc()

    def llm_call(
        self,
        model: str,
        tokens_in: int,
        tokens_out: int,
        seconds: float,
        error: str | BaseException | bool | None = None,
        *,
        system: str = "openai",
    ) -> None:
        """One model request; ``error`` is the failure (exception, its type name, or True) or None."""
        m, model_l, system_l = self._m, _label(model), _label(system, 40)
        m.llm_requests.labels(system_l, model_l).inc()
        if tokens_in > 0:
            m.llm_tokens.labels(system_l, model_l, "input").inc(tokens_in)
        if tokens_out > 0:
            m.llm_tokens.labels(system_l, model_l, "output").inc(tokens_out)
        if math.isfinite(seconds) and seconds >= 0:
            m.llm_seconds.labels(system_l, model_l).observe(seconds)
        if error:
            kind = (
                type(error).__name__
                if isinstance(error, BaseException)
                else ("error" if error is True else _label(error, 40))
            )
            m.llm_errors.labels(system_l, model_l, kind).inc()


@dataclass
class _RunState:
    last_seq: int = 0
    last_time: float = 0.0


class ArchiveCollector(Collector):
    """Gauges read from an archive at scrape time: what any process (even a dead one) left in it.

    Per run (the running ones and the ``max_runs`` newest): candidates by status, flagged candidates, best score,
    whether it is running, and the time of its last event (for the stalled-run alert). Cost per run: a handful of
    indexed queries; the last event is found by galloping search and then followed incrementally.
    """

    def __init__(
        self,
        archive: Archive,
        *,
        max_runs: int = 10,
        flagged_count: Callable[[int], int] | None = None,
        stats: Callable[[int], tuple[Mapping[str, int], float | None]] | None = None,
        rows_ttl: float = 30.0,
    ) -> None:
        self.archive = archive
        self.max_runs = max_runs
        self._flagged_fn = flagged_count
        self._stats = stats
        self._rows_ttl = rows_ttl
        self._flagged: dict[int, tuple[float, int]] = {}
        self._state: dict[int, _RunState] = {}
        self._lock = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        from godel.telemetry._events import last_event

        t0 = time.perf_counter()
        by_status = GaugeMetricFamily(
            "godel_archive_candidates", "Candidates in the archive by status", labels=["run", "status"]
        )
        flagged = GaugeMetricFamily(
            "godel_archive_flagged_candidates", "Candidates with hacking flags", labels=["run"]
        )
        best = GaugeMetricFamily(
            "godel_archive_best_score", "Best unflagged score in the archive", labels=["run"]
        )
        running = GaugeMetricFamily(
            "godel_archive_run_running", "1 while the run's status is running", labels=["run"]
        )
        last = GaugeMetricFamily(
            "godel_archive_last_event_timestamp_seconds",
            "Unix time of the run's newest event",
            labels=["run"],
        )
        runs = self.archive.runs()
        chosen = sorted(runs, key=lambda r: r.id)[-self.max_runs :]
        chosen_ids = {r.id for r in chosen}
        chosen += [r for r in runs if r.status == "running" and r.id not in chosen_ids]
        for run in chosen:
            name = run.name
            if self._stats is not None:  # the dashboard's cached view of the rows: no query at all
                counts, best_score = self._stats(run.id)
            else:
                # Counts per status come from the (run, status, score) index alone; Archive.stats() would also
                # sum tokens and cost, which reads every row (~0.2 s per 100,000 candidates on SQLite).
                counts = {s.value: self.archive.count(run.id, s) for s in Status}
                b = self.archive.best(run.id)
                best_score = b.score if b is not None else None
            for status in Status:
                by_status.add_metric([name, status.value], counts.get(status.value, 0))
            if best_score is not None:
                best.add_metric([name], best_score)
            running.add_metric([name], 1.0 if run.status == "running" else 0.0)
            with self._lock:
                state = self._state.setdefault(run.id, _RunState())
                ev = last_event(self.archive, run.id, hint=state.last_seq)
                if ev is not None:
                    state.last_seq, state.last_time = ev.seq, ev.created_at
            if state.last_time:
                last.add_metric([name], state.last_time)
            flagged.add_metric([name], self._flagged_count(run.id))
        scrape = GaugeMetricFamily(
            "godel_archive_scrape_seconds", "Time spent reading the archive for this scrape"
        )
        scrape.add_metric([], time.perf_counter() - t0)
        return [by_status, flagged, best, running, last, scrape]

    def _flagged_count(self, run_id: int) -> int:
        # The archive has no count of flagged rows; a row scan costs ~0.1 s per 100,000 candidates, so its result
        # is reused for rows_ttl seconds (or comes from the dashboard's own row cache).
        if self._flagged_fn is not None:
            return self._flagged_fn(run_id)
        now = time.monotonic()
        cached = self._flagged.get(run_id)
        if cached is not None and now - cached[0] < self._rows_ttl:
            return cached[1]
        n = sum(1 for r in self.archive.rows(run_id) if r.flagged)
        self._flagged[run_id] = (now, n)
        return n


def render_metrics(extra: Sequence[Collector] = ()) -> tuple[bytes, str]:
    """The Prometheus text exposition of this process's metrics (or every process's, in multiprocess mode).

    ``extra`` collectors (e.g. an :class:`ArchiveCollector`) are added to the output.
    """
    path = multiprocess_dir()
    if path is not None:
        from prometheus_client import multiprocess

        if not os.path.isdir(path):
            raise TelemetryError(
                f"PROMETHEUS_MULTIPROC_DIR={path} is not a directory",
                hint="create it (empty) before starting the workers, or unset the variable",
            )
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_RegistryCollector(_get_metrics().registry))
    for c in extra:
        registry.register(c)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _RegistryCollector(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


def start_metrics_server(port: int, host: str = "127.0.0.1", extra: Sequence[Collector] = ()) -> Any:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread (for ``--metrics-port``); returns the server.

    Raises :class:`ServeError` when the port is taken.
    """
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body, ctype = render_metrics(extra)
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # scrapes every few seconds would flood the terminal

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise ServeError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
            hint="pick another --metrics-port, or stop the process using it",
        ) from exc
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="godel-metrics", daemon=True).start()
    return server
