"""The dashboard's web app (FastAPI): a JSON API over an :class:`ArchiveView`, static files, ``/metrics``.

Read-only unless created with ``allow_approve=True`` and a token; state-changing requests must then carry the
token in the ``X-Godel-Token`` header (a header, not a cookie, so another site cannot make the browser send it).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.middleware.trustedhost import TrustedHostMiddleware

from godel.archive import Archive
from godel.dashboard._data import ArchiveView
from godel.errors import ArchiveError, GodelError, GuardError, UnknownCandidate, UnknownRun
from godel.guard import approve as approve_candidate
from godel.guard import checkpoint, load_audit_key
from godel.guard import reject as reject_candidate
from godel.redact import redact, redact_obj
from godel.telemetry import ArchiveCollector, ServeError, render_metrics

__all__ = ["TOKEN_HEADER", "create_app", "static_dir"]

TOKEN_HEADER = "X-Godel-Token"
_ACTOR = "dashboard"
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def static_dir() -> Path:
    return Path(str(resources.files("godel.dashboard") / "static"))


class Rejection(BaseModel):
    why: str


def _sign(archive: Archive, run_id: int) -> None:
    """A decision made in the dashboard is signed into the run's trail at once, as `godel approve` does (with the
    machine's audit key; one is created, with its warning, if there is none yet)."""
    checkpoint(archive, run_id, load_audit_key())


def create_app(
    archive: Archive,
    *,
    allow_approve: bool = False,
    token: str | None = None,
    refresh_seconds: float = 2.0,
    allowed_hosts: Sequence[str] | None = None,
    warm: bool = True,
) -> FastAPI:
    """The app over ``archive``. ``allowed_hosts`` (e.g. ``["127.0.0.1", "localhost"]``) refuses other Host
    headers, which stops DNS-rebinding pages from reading a loopback dashboard."""
    if allow_approve and not token:
        raise ServeError(
            "--allow-approve needs a token", hint="pass --token TOKEN (or set GODEL_DASHBOARD_TOKEN)"
        )
    view = ArchiveView(archive)
    if warm:
        view.warm()  # the newest run's rows load while the user opens the browser
    collector = ArchiveCollector(archive, flagged_count=view.flagged_count, stats=view.stats)
    app = FastAPI(title="godel dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.view = view
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(GodelError)
    async def _godel_error(_request: Request, exc: GodelError) -> JSONResponse:
        code = 500
        if isinstance(exc, UnknownRun | UnknownCandidate):
            code = 404
        elif isinstance(exc, GuardError):
            code = 409
        elif isinstance(exc, ArchiveError):
            code = 400
        return JSONResponse({"error": redact(str(exc))}, status_code=code)

    def check_token(given: str | None) -> None:
        if not allow_approve:
            raise HTTPException(
                403, "the dashboard is read-only; start it with --allow-approve --token TOKEN"
            )
        assert token is not None
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, f"missing or wrong {TOKEN_HEADER} header")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static_dir() / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    @app.get("/api/config")
    def config() -> dict[str, Any]:
        return {
            "allow_approve": allow_approve,
            "refresh_seconds": refresh_seconds,
            "token_header": TOKEN_HEADER,
        }

    @app.get("/api/runs")
    def runs() -> dict[str, Any]:
        return {"items": view.runs()}

    @app.get("/api/runs/{run}/summary")
    def summary(run: str) -> dict[str, Any]:
        return view.summary(view.run(run).id)

    @app.get("/api/runs/{run}/scores")
    def scores(run: str, max_points: int = 1500) -> dict[str, Any]:
        return view.scores(view.run(run).id, max(10, min(max_points, 20_000)))

    @app.get("/api/runs/{run}/lineage")
    def lineage(run: str, limit: int = 1500, focus: int | None = None) -> dict[str, Any]:
        return view.lineage(view.run(run).id, limit, focus)

    @app.get("/api/runs/{run}/candidates")
    def candidates(
        run: str,
        status: str | None = None,
        flagged: bool | None = None,
        sort: str = "iteration",
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        return view.candidates(
            view.run(run).id, status=status, flagged=flagged, sort=sort, limit=limit, offset=offset
        )

    @app.get("/api/runs/{run}/review")
    def review(run: str, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        return view.review(view.run(run).id, limit=limit, offset=offset)

    @app.get("/api/runs/{run}/events")
    def events(run: str, since: int = 0, limit: int = 100) -> dict[str, Any]:
        return view.events(view.run(run).id, since=since, limit=limit)

    @app.get("/api/candidates/{cid}")
    def candidate(cid: int) -> dict[str, Any]:
        return view.candidate(cid)

    @app.post("/api/candidates/{cid}/approve")
    def approve(cid: int, x_godel_token: str | None = Header(default=None)) -> dict[str, Any]:
        check_token(x_godel_token)
        c = approve_candidate(archive, cid, _ACTOR)
        _sign(archive, c.run_id)
        view.invalidate(c.run_id)
        return {"id": c.id, "status": c.status.value, "verdict": redact_obj(c.verdict)}

    @app.post("/api/candidates/{cid}/reject")
    def reject(cid: int, body: Rejection, x_godel_token: str | None = Header(default=None)) -> dict[str, Any]:
        check_token(x_godel_token)
        c = reject_candidate(archive, cid, body.why, _ACTOR)
        _sign(archive, c.run_id)
        view.invalidate(c.run_id)
        return {"id": c.id, "status": c.status.value, "reason": redact(c.reason or "")}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        body, ctype = render_metrics([collector])
        return Response(body, media_type=ctype)

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
