"""``/operator/peers`` and ``/operator/quarantine``: what ``GET /v1/federation/status`` says.

Both pages show the answer of that route's use case (``service.peering.admin``), so they show
what an operator may fetch there and nothing more: sync state, pinned key fingerprints, groups,
and quarantined records' metadata (never their content).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.deps import NowDep, SessionFactoryDep
from service.db import read_only
from service.peering.admin import federation_status
from service.web.render import WebRoute, render
from service.web.security import ViewerDep

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_TIMES = ("last_pull_at", "last_success_at", "caught_up_at", "received_at")


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _with_times(row: dict[str, Any]) -> dict[str, Any]:
    """The status row with its RFC 3339 stamps as datetimes, for the pages' time elements."""
    return {**row, **{name: _moment(row[name]) for name in _TIMES if name in row}}


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@router.get("/operator/peers")
def peers(request: Request, viewer: ViewerDep, factory: SessionFactoryDep, now: NowDep) -> Response:
    with read_only(factory) as session:
        status = federation_status(session, principal=viewer, now=now)
    rows = [
        {**_with_times(peer), "lag": _duration(peer["lag_seconds"])} for peer in status["peers"]
    ]
    return render(request, "operator_peers.html", {"peers": rows, "groups": status["groups"]})


@router.get("/operator/quarantine")
def quarantine(
    request: Request, viewer: ViewerDep, factory: SessionFactoryDep, now: NowDep
) -> Response:
    with read_only(factory) as session:
        held = federation_status(session, principal=viewer, now=now)["quarantine"]
    return render(
        request,
        "operator_quarantine.html",
        {
            "count": held["count"],
            "recent": [_with_times(row) for row in held["recent"]],
            "equivocations": [_with_times(row) for row in held["equivocations"]],
        },
    )
