"""`godel report`: one self-contained HTML file over a real run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from godel.archive import open_archive
from godel.dashboard import render_report
from tests.dashboard.builder import CLI, SECRET
from tests.helpers import ROOT


@pytest.mark.slow
def test_report_is_self_contained_and_complete(run_archive: tuple[str, int], tmp_path: Path) -> None:
    url, run_id = run_archive
    out = tmp_path / "sub" / "report.html"
    r = subprocess.run(
        [sys.executable, "-c", CLI, "report", "--storage", url, "--run", str(run_id), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    # No external resource of any kind: no script, stylesheet link, image or frame source.
    assert not re.search(r"<(script|link|img|iframe)\b", html, re.I)
    assert not re.search(r"\b(src|href)\s*=", html, re.I)
    assert "url(" not in html and "@import" not in html
    archive = open_archive(url)
    best = archive.best(run_id)
    assert best is not None and best.score is not None
    assert f"{best.score:.6g}" in html
    assert "Diff from the seed" in html and "<svg" in html and "Line of descent" in html
    assert html.count("<circle") >= archive.count(run_id)  # score dots + every lineage node
    assert "Flags and review queue (2)" in html
    assert "Tokens and cost" in html
    assert SECRET not in html and "***" in html
    archive.close()


@pytest.mark.slow
def test_report_bad_input(run_archive: tuple[str, int], tmp_path: Path) -> None:
    url, _ = run_archive
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            CLI,
            "report",
            "--storage",
            url,
            "--run",
            "nope",
            "--out",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 2 and "no run" in r.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = subprocess.run(
        [sys.executable, "-c", CLI, "report", "--storage", url, "--out", str(blocker / "r.html")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 2 and "cannot write the report" in r.stderr


def test_empty_run_report() -> None:
    archive = open_archive("sqlite://")
    run = archive.create_run("empty", "t", {})
    html = render_report(archive, run)
    assert "no successfully evaluated" in html and "no scored candidate" in html
    archive.close()
