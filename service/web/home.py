"""``/``: the start page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.deps import NowDep
from service.web.render import WebRoute, render
from service.web.security import ViewerDep

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/")
def home(request: Request, viewer: ViewerDep, now: NowDep) -> Response:
    return render(request, "home.html", {"vetted": viewer.is_vetted(now.date())})
