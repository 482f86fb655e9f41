"""Events, metrics and tracing for runs.

- Events: :func:`iter_events` / :func:`follow_events` over the archive's hash-chained records (``godel events``).
- Metrics: :class:`Telemetry` (what the engine calls), :class:`ArchiveCollector` (what an archive shows),
  :func:`render_metrics` and :func:`start_metrics_server` (Prometheus exposition; multiprocess mode through
  ``PROMETHEUS_MULTIPROC_DIR``).
- Tracing: :func:`span` and :func:`llm_span` (OpenTelemetry API; no-op unless an SDK is configured), with the
  GenAI semantic-convention helpers :func:`genai_attributes` and :func:`genai_usage`.
"""

from __future__ import annotations

from godel.telemetry._errors import ServeError, TelemetryError
from godel.telemetry._events import event_line, event_record, follow_events, iter_events, last_event
from godel.telemetry._metrics import (
    CONTENT_TYPE_LATEST,
    ArchiveCollector,
    Telemetry,
    multiprocess_dir,
    render_metrics,
    start_metrics_server,
)
from godel.telemetry._tracing import genai_attributes, genai_usage, llm_span, span

__all__ = [
    "CONTENT_TYPE_LATEST",
    "ArchiveCollector",
    "ServeError",
    "Telemetry",
    "TelemetryError",
    "event_line",
    "event_record",
    "follow_events",
    "genai_attributes",
    "genai_usage",
    "iter_events",
    "last_event",
    "llm_span",
    "multiprocess_dir",
    "render_metrics",
    "span",
    "start_metrics_server",
]
