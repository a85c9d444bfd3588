"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready"}})
def readyz(request: Request) -> JSONResponse:
    """The database answers and its schema is at the newest migration."""
    engine: Engine = request.app.state.engine
    expected = head_revision()
    try:
        actual = current_revision(engine)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    if actual != expected:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "reachable",
                "schema": actual,
                "expected_schema": expected,
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "reachable", "schema": actual})
