"""``install_web(app)``: the pages' routes, their static files, and a page for unknown paths."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.problems import on_http_error
from service.web import advisories, home, operator, reviews, screening, sign_in
from service.web.render import STATIC_DIR, error_page

__all__ = ["install_web"]

# Machine paths keep problem documents whatever the client accepts.
_MACHINE_PREFIXES = ("/v1/", "/taxii2/", "/.well-known/", "/auth/", "/static/", "/openapi.json")


def _wants_page(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and not request.url.path.startswith(
        _MACHINE_PREFIXES
    )


async def _on_http_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 404 and _wants_page(request):
        return error_page(
            request, 404, "Page not found", "There is no page at this address on this node."
        )
    return await on_http_error(request, exc)


def install_web(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (home, sign_in, screening, advisories, reviews, operator):
        app.include_router(module.router)
    # Replaces the problem handler for HTTP errors: a browser asking for a missing page gets one.
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
