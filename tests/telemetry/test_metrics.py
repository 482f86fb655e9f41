"""Prometheus metrics: what Telemetry records from real candidates, several processes, the archive collector."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from godel.archive import open_archive
from godel.candidate import Candidate, Program, Status
from godel.telemetry import ArchiveCollector, ServeError, Telemetry, render_metrics, start_metrics_server
from tests.helpers import ROOT


def _samples(text: bytes | str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = text.decode() if isinstance(text, bytes) else text
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_candidates_from_a_real_run(run_archive: tuple[str, int]) -> None:
    url, run_id = run_archive
    archive = open_archive(url)
    cands = archive.candidates(run_id)
    archive.close()
    tel = Telemetry(run="real-run")
    before = _samples(render_metrics()[0])
    for c in cands:
        tel.candidate(c)
    after = _samples(render_metrics()[0])
    ok = sum(1 for c in cands if c.status == Status.OK)
    assert (
        _value(after, "godel_candidates_total", run="real-run", status="ok")
        - _value(before, "godel_candidates_total", run="real-run", status="ok")
        == ok
    )
    evaluated = sum(1 for c in cands if "evaluate" in c.timings)
    assert evaluated > 0
    assert _value(after, "godel_evaluation_seconds_count", run="real-run") == evaluated
    assert _value(after, "godel_hacking_flags_total", run="real-run") == 1  # the fixture's flagged candidate
    best = max(c.score for c in cands if c.status == Status.OK and not c.flags and c.score is not None)
    assert _value(after, "godel_best_score", run="real-run") == pytest.approx(best)
    # The fixture engine also reported progress through Telemetry.progress / .event.
    assert _value(after, "godel_valid_proposal_ratio", run="fixture") > 0
    assert _value(after, "godel_events_total", run="fixture", kind="evaluation") > 0


def test_kills_llm_and_queue() -> None:
    tel = Telemetry(run="unit")
    killed = Candidate(
        run_id=1,
        iteration=1,
        program=Program.single("a.py", "x"),
        status=Status.FAILED,
        reason="timeout",
        failure_stage="evaluate",
        timings={"evaluate": 2.0},
        evaluation={
            "stages": [
                {"stage": 1, "sandbox": {"termination": "timeout"}},
                {"stage": 2, "sandbox": {"termination": "ok"}},
            ]
        },
    )
    s0 = _samples(render_metrics()[0])
    tel.candidate(killed)
    tel.sandbox_kill("memory_limit")
    tel.llm_call("m-1", 100, 20, 0.5)
    tel.llm_call("m-1", 50, 0, 3.0, error=TimeoutError("slow"))
    tel.queue_depth(4)
    s1 = _samples(render_metrics()[0])
    d = lambda name, **lb: _value(s1, name, **lb) - _value(s0, name, **lb)  # noqa: E731
    assert d("godel_sandbox_kills_total", reason="timeout") == 1
    assert d("godel_sandbox_kills_total", reason="memory_limit") == 1
    assert d("godel_candidate_failures_total", run="unit", stage="evaluate") == 1
    assert d("godel_llm_tokens_total", system="openai", model="m-1", direction="input") == 150
    assert d("godel_llm_tokens_total", system="openai", model="m-1", direction="output") == 20
    assert d("godel_llm_requests_total", system="openai", model="m-1") == 2
    assert d("godel_llm_errors_total", system="openai", model="m-1", error="TimeoutError") == 1
    assert d("godel_llm_request_seconds_count", system="openai", model="m-1") == 2
    assert _value(s1, "godel_queue_depth", run="unit") == 4


_WORKER = """
import sys
from godel.telemetry import Telemetry
tel = Telemetry(run="mp")
for _ in range(int(sys.argv[1])):
    tel.llm_call("shared-model", 10, 1, 0.2)
tel.queue_depth(int(sys.argv[1]))
"""


def test_multiprocess_mode_sums_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mp = tmp_path / "prom"
    mp.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(mp), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(n)], env=env, cwd=ROOT) for n in (3, 4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(mp))
    s = _samples(render_metrics()[0])
    assert _value(s, "godel_llm_requests_total", system="openai", model="shared-model") == 7
    assert _value(s, "godel_llm_tokens_total", system="openai", model="shared-model", direction="input") == 70
    assert _value(s, "godel_llm_request_seconds_count", system="openai", model="shared-model") == 7
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with pytest.raises(Exception, match="not a directory"):
        render_metrics()


def test_archive_collector(run_archive: tuple[str, int]) -> None:
    url, run_id = run_archive
    archive = open_archive(url)
    body, ctype = render_metrics([ArchiveCollector(archive)])
    assert ctype.startswith("text/plain")
    s = _samples(body)
    name = archive.get_run(run_id).name
    for status in Status:
        assert _value(s, "godel_archive_candidates", run=name, status=status.value) == archive.count(
            run_id, status
        )
    assert _value(s, "godel_archive_flagged_candidates", run=name) == 1
    best = archive.best(run_id)
    assert best is not None and _value(s, "godel_archive_best_score", run=name) == pytest.approx(best.score)
    assert _value(s, "godel_archive_last_event_timestamp_seconds", run=name) == pytest.approx(
        archive.events(run_id)[-1].created_at
    )
    archive.close()


def test_metrics_server_and_port_in_use() -> None:
    server = start_metrics_server(0)
    port = server.server_address[1]
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert r.status_code == 200 and "godel_candidates" in r.text
        assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=10).status_code == 404
        with pytest.raises(ServeError, match="another --metrics-port"):
            start_metrics_server(port)
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as s:  # the port is free again (TIME_WAIT connections aside)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
