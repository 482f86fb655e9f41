"""The dashboard in a real browser (Debian's Chromium driven by Playwright) over a real run's archive.

Needs /usr/bin/chromium (``scripts/browser-deps`` installs it); fails, never skips, without it. Screenshots go to
test-artifacts/dashboard/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from godel.archive import open_archive
from godel.candidate import Status
from tests.dashboard.builder import CLI, SECRET
from tests.helpers import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-token-0123456789"
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(fresh_archive: tuple[str, int]) -> Iterator[tuple[str, str, int]]:
    url, run_id = fresh_archive
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLI,
            "dashboard",
            "--storage",
            url,
            "--port",
            str(port),
            "--allow-approve",
            "--token",
            TOKEN,
            "--refresh",
            "0.5",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.2)
        yield base, url, run_id
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_dashboard_in_chromium(server: tuple[str, str, int]) -> None:
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: run scripts/browser-deps"
    base, url, run_id = server
    archive = open_archive(url)
    cands = archive.candidates(run_id)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            foreign: list[str] = []
            page.on("request", lambda req: foreign.append(req.url) if not req.url.startswith(base) else None)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(base + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            # The lineage shows every candidate.
            ids = {
                int(x) for x in page.eval_on_selector_all("circle.node", "els => els.map(e => e.dataset.id)")
            }
            assert ids == {c.id for c in cands}
            assert page.text_content("[data-card='candidates'] b") == str(len(cands))
            page.screenshot(path=str(ARTIFACTS / "01-overview.png"), full_page=True)
            # Clicking a node shows its diff against its parent.
            child = next(c for c in cands if c.parent_id is not None and c.diff and c.status == Status.OK)
            page.click(f"circle.node[data-id='{child.id}']")
            page.wait_for_selector("#detail-panel:not([hidden])")
            assert f"Diff against parent #{child.parent_id}" in (page.text_content("#detail") or "")
            added = [
                ln[1:]
                for ln in (child.diff or "").splitlines()
                if ln.startswith("+") and not ln.startswith("+++")
            ]
            shown = page.eval_on_selector_all(
                "#detail pre.diff span.add", "els => els.map(e => e.textContent)"
            )
            assert added and [s[1:] for s in shown] == added
            page.screenshot(path=str(ARTIFACTS / "02-candidate-diff.png"), full_page=True)
            # The secret in the flagged candidate is masked in the page.
            flagged = next(c for c in cands if c.flags)
            page.click(f"circle.node[data-id='{flagged.id}']")
            page.wait_for_function(
                f"() => document.getElementById('detail-title').textContent.includes('#{flagged.id}')"
            )
            assert SECRET not in page.content() and "***" in (page.text_content("#detail") or "")
            # Approving without the token is refused and changes nothing.
            waiting = next(c for c in cands if c.status == Status.AWAITING_APPROVAL)
            page.click(f"#review button.approve[data-id='{waiting.id}']")
            page.wait_for_selector("#message:not([hidden])")
            assert "refused" in (page.text_content("#message") or "")
            assert archive.get_candidate(waiting.id or 0).status == Status.AWAITING_APPROVAL
            refused = page.request.post(f"{base}/api/candidates/{waiting.id}/approve")
            assert refused.status == 401
            page.screenshot(path=str(ARTIFACTS / "03-approve-refused.png"), full_page=True)
            # With the token, approval changes the candidate's state, and the page follows.
            page.fill("#token", TOKEN)
            page.dispatch_event("#token", "change")
            page.click(f"#review button.approve[data-id='{waiting.id}']")
            page.wait_for_function(
                "() => document.getElementById('review-count').textContent === '1 waiting'"
            )
            assert archive.get_candidate(waiting.id or 0).status == Status.PENDING
            page.wait_for_selector(f"circle.node.pending[data-id='{waiting.id}']")
            page.screenshot(path=str(ARTIFACTS / "04-approved.png"), full_page=True)
            # Live refresh: a candidate another process adds appears without reloading.
            before = page.get_attribute("body", "data-version")
            archive.add_event(run_id, "warning", {"message": "poke"})
            page.wait_for_function(f"() => document.body.dataset.version !== {before!r}", timeout=15_000)
            # "live" only while the run runs: an ended run says how it ended.
            ended = archive.get_run(run_id).status
            assert ended != "running" and page.text_content("#live") == ended
            archive.update_run(run_id, status="running")
            page.wait_for_function(
                "() => document.getElementById('live').textContent === 'live'", timeout=15_000
            )
            assert not foreign, f"requests left the dashboard: {foreign}"
            assert not errors, errors
        finally:
            browser.close()
    archive.close()
