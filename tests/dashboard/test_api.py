"""The dashboard's JSON API over a real run's archive: views, pagination, redaction, approvals and their guard."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from godel.archive import open_archive
from godel.candidate import Candidate, Program, Status
from godel.dashboard import ArchiveView
from godel.dashboard.web import create_app
from godel.telemetry import ServeError
from tests.dashboard.builder import SECRET

TOKEN = "test-token-0123456789"


@pytest.fixture(scope="module")
def client(run_archive: tuple[str, int]) -> TestClient:
    return TestClient(create_app(open_archive(run_archive[0])))


def test_views_of_a_real_run(client: TestClient, run_archive: tuple[str, int]) -> None:
    url, run_id = run_archive
    archive = open_archive(url)
    cands = archive.candidates(run_id)
    runs = client.get("/api/runs").json()["items"]
    assert [r["id"] for r in runs] == [run_id] and runs[0]["candidates"] == len(cands)
    s = client.get(f"/api/runs/{run_id}/summary").json()
    assert s["total"] == len(cands)
    assert s["counts"]["ok"] == sum(c.status == Status.OK for c in cands)
    assert s["counts"]["awaiting_approval"] == 1 and s["flagged"] == 1
    best = archive.best(run_id)
    assert best is not None and s["best"]["id"] == best.id  # the flagged +100 candidate is not the best
    assert client.get(f"/api/runs/{s['run']['name']}/summary").json()["total"] == len(cands)  # by name too
    lin = client.get(f"/api/runs/{run_id}/lineage").json()
    assert lin["mode"] == "full" and {n["id"] for n in lin["nodes"]} == {c.id for c in cands}
    assert sum(g["count"] for g in lin["generations"]) == len(cands)
    scores = client.get(f"/api/runs/{run_id}/scores").json()
    assert scores["ok"] == s["counts"]["ok"] and scores["best"][-1][1] == pytest.approx(best.score)
    child = next(c for c in cands if c.parent_id is not None and c.diff)
    d = client.get(f"/api/candidates/{child.id}").json()
    assert (
        d["diff"] == child.diff
        and d["parent_id"] == child.parent_id
        and d["files"] == dict(child.program.files)
    )
    review = client.get(f"/api/runs/{run_id}/review").json()
    assert review["total"] == 2 and {i["kind"] for i in review["items"]} == {"approval", "flagged"}
    page = client.get(
        f"/api/runs/{run_id}/candidates", params={"limit": 5, "offset": 5, "sort": "score"}
    ).json()
    assert page["total"] == len(cands) and len(page["items"]) == 5
    assert client.get(f"/api/runs/{run_id}/candidates", params={"status": "ok,failed"}).json()[
        "total"
    ] == sum(c.status in (Status.OK, Status.FAILED) for c in cands)
    ev = client.get(f"/api/runs/{run_id}/events", params={"since": 2, "limit": 3}).json()["items"]
    assert [e["seq"] for e in ev] == [3, 4, 5]
    archive.close()


def test_secrets_never_leave_the_server(client: TestClient, run_archive: tuple[str, int]) -> None:
    _, run_id = run_archive
    items = client.get(f"/api/runs/{run_id}/candidates", params={"limit": 500}).json()["items"]
    bodies = [client.get(f"/api/candidates/{i['id']}").text for i in items]
    bodies += [client.get(f"/api/runs/{run_id}/{v}").text for v in ("review", "summary", "lineage", "events")]
    assert any("***" in b for b in bodies)  # the secret was there and got masked
    assert all(SECRET not in b for b in bodies)


def test_bad_input(client: TestClient) -> None:
    assert client.get("/api/runs/999/summary").status_code == 404
    assert "no run" in client.get("/api/runs/nope/lineage").json()["error"]
    assert client.get("/api/candidates/99999").status_code == 404
    assert client.get("/api/runs/1/candidates", params={"limit": 0}).status_code == 400
    assert client.get("/api/runs/1/candidates", params={"status": "bogus"}).status_code == 400
    assert client.get("/api/runs/1/candidates", params={"sort": "bogus"}).status_code == 400
    assert client.get("/api/runs/1/lineage", params={"focus": 99999}).status_code == 404


def test_read_only_by_default(client: TestClient) -> None:
    r = client.post("/api/candidates/1/approve", headers={"X-Godel-Token": TOKEN})
    assert r.status_code == 403 and "read-only" in r.json()["detail"]
    r = client.get("/")
    assert r.status_code == 200 and "/static/app.js" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200
    assert "godel_archive_candidates" in client.get("/metrics").text
    assert client.get("/api/config").json()["allow_approve"] is False


def test_approvals_need_the_token(fresh_archive: tuple[str, int]) -> None:
    url, run_id = fresh_archive
    archive = open_archive(url)
    with pytest.raises(ServeError):
        create_app(archive, allow_approve=True)
    c = TestClient(create_app(archive, allow_approve=True, token=TOKEN))
    waiting, flagged = (
        i["id"] for i in sorted(c.get(f"/api/runs/{run_id}/review").json()["items"], key=lambda i: i["kind"])
    )
    assert c.post(f"/api/candidates/{waiting}/approve").status_code == 401
    assert (
        c.post(f"/api/candidates/{waiting}/approve", headers={"X-Godel-Token": "wrong-token"}).status_code
        == 401
    )
    assert archive.get_candidate(waiting).status == Status.AWAITING_APPROVAL
    r = c.post(f"/api/candidates/{waiting}/approve", headers={"X-Godel-Token": TOKEN})
    assert r.status_code == 200 and r.json()["status"] == "pending"
    assert archive.get_candidate(waiting).status == Status.PENDING
    assert c.post(f"/api/candidates/{waiting}/approve", headers={"X-Godel-Token": TOKEN}).status_code == 409
    r = c.post(f"/api/candidates/{flagged}/reject", headers={"X-Godel-Token": TOKEN}, json={"why": "cheats"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    got = archive.get_candidate(flagged)
    assert got.status == Status.REJECTED and "cheats" in (got.reason or "")
    audit = [e for e in archive.events(run_id) if e.actor == "dashboard"]
    assert [(e.kind, e.payload["candidate"]) for e in audit] == [
        ("approval", waiting),
        ("rejection", flagged),
    ]
    assert c.get(f"/api/runs/{run_id}/review").json()["total"] == 0
    archive.close()


def test_host_header_check(run_archive: tuple[str, int]) -> None:
    app = create_app(open_archive(run_archive[0]), allowed_hosts=["127.0.0.1", "localhost"])
    assert TestClient(app, base_url="http://evil.example").get("/api/runs").status_code == 400
    assert TestClient(app, base_url="http://127.0.0.1:8765").get("/api/runs").status_code == 200


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parents=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=60),
    scores=st.lists(st.floats(min_value=-5, max_value=5) | st.none(), min_size=60, max_size=60),
    limit=st.integers(min_value=10, max_value=40),
)
def test_cut_lineage_is_closed_under_parents(
    parents: list[int], scores: list[float | None], limit: int
) -> None:
    """However the tree is shaped, a cut lineage never exceeds its limit and never shows an orphan."""
    archive = open_archive("sqlite://")
    run = archive.create_run("r", "t", {})
    prog = Program.single("p.py", "x = 1\n")
    seed = Candidate(run_id=run.id, iteration=0, program=prog, status=Status.OK, score=0.0)
    ids = [archive.add_candidate(seed)]
    for i, p in enumerate(parents, start=1):
        score = scores[i - 1]
        c = Candidate(
            run_id=run.id,
            iteration=i,
            program=prog,
            parent_id=ids[p % len(ids)],
            status=Status.OK if score is not None else Status.FAILED,
            score=score,
            reason=None if score is not None else "boom",
        )
        ids.append(archive.add_candidate(c))
    view = ArchiveView(archive)
    lin = view.lineage(run.id, limit=limit)
    shown = {n["id"] for n in lin["nodes"]}
    assert len(shown) <= max(limit, 10)
    assert ids[0] in shown
    assert all(n["parent_id"] is None or n["parent_id"] in shown for n in lin["nodes"])
    if len(ids) <= max(limit, 10):
        assert shown == set(ids)
    else:  # the best candidate is always in view
        best = archive.best(run.id)
        assert best is not None and best.id in shown
    json.dumps(lin)
    archive.close()
