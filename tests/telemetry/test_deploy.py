"""deploy/: every metric the alert rules and the Grafana dashboard use is one godel exports."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client.parser import text_string_to_metric_families

from godel.archive import open_archive
from godel.candidate import Candidate, Program, Status
from godel.telemetry import ArchiveCollector, Telemetry, render_metrics
from tests.helpers import ROOT


def _exported() -> set[str]:
    archive = open_archive("sqlite://")
    run = archive.create_run("r", "t", {})
    archive.add_candidate(
        Candidate(
            run_id=run.id, iteration=0, program=Program.single("a.py", "x"), status=Status.OK, score=1.0
        )
    )
    archive.add_event(run.id, "proposal", {})
    tel = Telemetry(run="deploy")
    tel.llm_call("m", 1, 1, 0.1, error=True)
    tel.queue_depth(1)
    tel.sandbox_kill("timeout")
    tel.event("proposal")
    tel.candidate(
        Candidate(
            run_id=run.id,
            iteration=1,
            program=Program.single("a.py", "y"),
            status=Status.OK,
            score=2.0,
            flags=["f"],
            timings={"evaluate": 0.1},
        )
    )
    tel.candidate(
        Candidate(
            run_id=run.id, iteration=2, program=Program.single("a.py", "z"), status=Status.OK, score=1.5
        )
    )
    body = render_metrics([ArchiveCollector(archive)])[0].decode()
    archive.close()
    names = set()
    for fam in text_string_to_metric_families(body):
        names.update(s.name for s in fam.samples)
    # Progress-derived gauges exist once a Progress was reported; their names are fixed in the code.
    return names | {
        "godel_valid_proposal_ratio",
        "godel_run_candidates_done",
        "godel_last_progress_timestamp_seconds",
    }


def test_alerts_and_dashboard_use_exported_metrics() -> None:
    exported = _exported()
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert {
        "GodelRunStalled",
        "GodelHackingFlags",
        "GodelScoreRegression",
        "GodelLLMEndpointFailing",
    } <= names
    dash = json.loads((ROOT / "deploy/grafana/godel.json").read_text())
    exprs += [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bgodel_[a-z_]+", e)}
    assert used and used <= exported, used - exported
