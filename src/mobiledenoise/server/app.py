"""The challenge web server: upload page, leaderboard and the JSON API they use.

`create_app(state_dir, data_dir, phases)` builds a FastAPI app over a `Store`; evaluation
happens in the separate worker process (`server.worker`), never in a request.

JSON API (documented on `/api-docs`, schema at `/openapi.json`):
    POST /api/submissions         multipart field `file`, `Authorization: Bearer TOKEN`
                                  -> 202 {"id", "status": "queued"}; 4xx {"detail", "log"?}
    GET  /api/submissions         the caller's submissions
    GET  /api/submissions/{id}    status queued|running|scored|failed, figures or error log
    GET  /api/leaderboard?phase=  ranked rows (Table 1 columns)
    GET  /api/phases, /api/health
Design choices:
- Authentication is a per-team bearer token, checked before the upload body is read. Any
  submission the caller does not own is 404, indistinguishable from a missing one.
- No route reads from the hidden folder; responses carry aggregate figures only, and in the
  test phase not even those until `serve publish`.
- State faults (read-only folder, full disk, database deleted or corrupt) answer 503/507 with
  one JSON line (`faults.py`), and `/api/health` says which (503). Security headers and the
  pages' CSP come from `headers.py`. Hidden test-phase submissions show no timings either
  (they would leak evaluation time).
- Upload checks (`uploads.py`) run in a thread so a large model does not stall other requests,
  one at a time (a semaphore): the check is bounded by the file's size, and serialising the
  checks keeps a burst of hostile uploads from crowding the event loop out of the GIL.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.requests import ClientDisconnect

from mobiledenoise.server import faults, leaderboard
from mobiledenoise.server.headers import SecurityHeaders
from mobiledenoise.server.phases import Phase, Phases, load_phases
from mobiledenoise.server.store import LimitReached, Store, Team
from mobiledenoise.server.uploads import (UploadLimits, UploadRejected, check_model,
                                          load_checkers, receive_upload, store_model)

TEMPLATES = Path(__file__).with_name("templates")
FIGURES = ("psnr", "ssim", "runtime_ms", "score", "n_images")


def create_app(state_dir: str | Path, data_dir: str | Path, phases: Phases | str | Path | None = None,
               *, limits: UploadLimits = UploadLimits()) -> FastAPI:
    """The server app; `data_dir` is only recorded (the worker reads it, no route does)."""
    phases = phases if isinstance(phases, Phases) else load_phases(phases)
    store = Store(state_dir)
    load_checkers()
    app = FastAPI(title="mobiledenoise challenge server", docs_url=None, redoc_url=None,
                  description="Upload .tflite denoisers; see /api-docs.")
    app.state.store, app.state.phases, app.state.data_dir = store, phases, Path(data_dir)
    app.add_middleware(SecurityHeaders)
    for fault in faults.STATE_FAULTS:
        app.add_exception_handler(fault, lambda request, exc: faults.fault_response(exc, store))
    pages = Jinja2Templates(directory=str(TEMPLATES))
    one_check_at_a_time = asyncio.Semaphore(1)

    def current_team(request: Request) -> Team:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            received = f"a {scheme[:20]!r} one" if scheme else "none"
            raise HTTPException(401, "expected header 'Authorization: Bearer TOKEN', received "
                                     f"{received}; use the token printed by `serve add-team`",
                                headers={"WWW-Authenticate": "Bearer"})
        team = store.team_for_token(token.strip())
        if team is None:
            raise HTTPException(401, "expected a valid team token, received an unknown one; check "
                                     "the token", headers={"WWW-Authenticate": "Bearer"})
        return team

    def view(sub: dict) -> dict:
        """A submission as the API shows it: figures hidden in an unpublished test phase."""
        phase = phases.get(sub["phase"]) if sub["phase"] in _names(phases) else None
        hidden = bool(phase and phase.scores_hidden and not store.is_published(phase.name))
        data = {key: sub[key] for key in ("id", "team", "phase", "filename", "size_bytes",
                                          "status", "attempts", "error_log")}
        data.update({key: _iso(sub[key]) for key in ("created_at", "started_at", "finished_at")})
        if hidden:  # when it ran and for how long would leak the evaluation time
            data["started_at"] = data["finished_at"] = None
        data.update({key: None if hidden else sub[key] for key in FIGURES})
        data["scores_hidden"] = hidden
        return data

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request):
        return pages.TemplateResponse(request, "index.html", {"phase": phases.current,
                                                              "limits": limits})

    @app.get("/leaderboard", response_class=HTMLResponse, include_in_schema=False)
    def leaderboard_page(request: Request, phase: str | None = None):
        board = _board(store, phases, phase)
        return pages.TemplateResponse(request, "leaderboard.html", {**board, "phases": phases.phases})

    @app.get("/leaderboard.png", include_in_schema=False)
    def leaderboard_plot(phase: str | None = None):
        board = _board(store, phases, phase)
        png = _plot(tuple((r["team"], r["psnr"], r["runtime_ms"]) for r in board["rows"]),
                    f"{board['phase']} leaderboard")
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api-docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs(request: Request):
        return pages.TemplateResponse(request, "api.html", {"limits": limits})

    @app.get("/api/health")
    def health():
        """Liveness and queue length; 503 with a reason when the state folder is not usable."""
        reason = faults.probe(store, min_free_bytes=limits.max_bytes)
        if reason is not None:
            return JSONResponse({"status": "fault", "reason": reason}, status_code=503)
        return {"status": "ok", "queued": store.count("queued"), "running": store.count("running")}

    @app.get("/api/phases")
    def list_phases() -> dict:
        """The phases, which one takes uploads, and whether test scores are published."""
        return {"active": phases.active, "runtime_size": list(phases.runtime_size),
                "phases": [{"name": p.name, "kind": p.kind, "submissions_per_day": p.submissions_per_day,
                            "max_submissions": p.max_submissions, "scores_hidden": p.scores_hidden,
                            "published": store.is_published(p.name)} for p in phases.phases]}

    @app.post("/api/submissions", status_code=202)
    async def submit(request: Request, team: Team = Depends(current_team)):
        """Upload a .tflite (multipart field `file`); it is checked, stored and queued."""
        phase = phases.current
        try:
            received = await receive_upload(request.headers, request.stream(),
                                            store.state_dir / "tmp", limits)
        except UploadRejected as exc:
            return _rejection(exc)
        except ClientDisconnect:
            return JSONResponse({"detail": "upload interrupted"}, status_code=400)
        try:
            async with one_check_at_a_time:
                audit = await run_in_threadpool(check_model, received.path.read_bytes(), limits)
            await run_in_threadpool(store_model, received, store.models_dir)
            submission_id = await run_in_threadpool(
                store.add_submission, team, phase.name, received.filename, received.sha256,
                received.size_bytes, audit, per_day=phase.submissions_per_day,
                max_total=phase.max_submissions)
        except UploadRejected as exc:
            return _rejection(exc)
        except LimitReached as exc:
            return JSONResponse({"detail": exc.message}, status_code=429)
        finally:
            received.path.unlink(missing_ok=True)
        return {"id": submission_id, "status": "queued", "phase": phase.name}

    @app.get("/api/submissions")
    def my_submissions(team: Team = Depends(current_team)) -> list[dict]:
        """The caller's submissions, newest first."""
        return [view(s) for s in reversed(store.submissions(team_id=team.id))]

    @app.get("/api/submissions/{submission_id}")
    def one_submission(submission_id: int, team: Team = Depends(current_team)) -> dict:
        """Status, figures (when visible) or the error log of one of the caller's submissions."""
        sub = store.submission(submission_id) if 0 < submission_id < 2**63 else None
        if sub is None or sub["team_id"] != team.id:
            raise HTTPException(404, f"expected one of your submission ids, received {submission_id}")
        return view(sub)

    @app.get("/api/leaderboard")
    def leaderboard_json(phase: str | None = None) -> dict:
        """Ranked rows: rank, team, PSNR, SSIM, runtime, size, Final Score (Table 1)."""
        return _board(store, phases, phase)

    return app


def _names(phases: Phases) -> set[str]:
    return {p.name for p in phases.phases}


def _board(store: Store, phases: Phases, name: str | None) -> dict:
    if name is not None and name not in _names(phases):
        raise HTTPException(404, f"expected a phase of {sorted(_names(phases))}, received {name!r}")
    phase: Phase = phases.get(name or phases.active)
    hidden = phase.scores_hidden and not store.is_published(phase.name)
    rows = [] if hidden else leaderboard.rank(phase, store.submissions(phase=phase.name))
    for row in rows:
        row["submitted_at"] = _iso(row["submitted_at"])
    return {"phase": phase.name, "kind": phase.kind, "scores_hidden": hidden,
            "columns": list(leaderboard.COLUMNS), "rows": rows}


@lru_cache(maxsize=32)
def _plot(points: tuple, title: str) -> bytes:
    return leaderboard.plot_png([{"team": t, "psnr": p, "runtime_ms": r} for t, p, r in points], title)


def _rejection(exc: UploadRejected) -> JSONResponse:
    body = {"detail": exc.message}
    if exc.log:
        body["log"] = exc.log
    return JSONResponse(body, status_code=exc.status)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")

