"""Rendering pages: the template environment, the page response and its headers, error pages."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pycountry
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service.access.principal import ANONYMOUS, Principal
from service.api.problems import database_problem, log_database_problem
from service.errors import Conflict, NotAuthenticated, NotFound, NotPermitted, TrexError
from service.web.security import csrf_token, page_principal

__all__ = [
    "PAGE_CSP",
    "STATIC_DIR",
    "PageError",
    "WebRoute",
    "country_name",
    "error_page",
    "redirect",
    "render",
]

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""No inline script or style anywhere: markup injected into a page could not run."""

_log = logging.getLogger("trex.web")

templates = Jinja2Templates(directory=_HERE / "templates")
# Jinja2Templates escapes .html templates; say so for any other name too.
templates.env.autoescape = True
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


def _asset_versions() -> dict[str, str]:
    # A content hash in each asset's URL lets browsers cache it until it changes.
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in STATIC_DIR.iterdir()
        if path.is_file()
    }


_ASSETS = _asset_versions()


def country_name(code: str | None) -> str:
    """The country's common name for an ISO code; the code itself if unknown."""
    if not code:
        return ""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return str(getattr(country, "common_name", None) or country.name)


def static_url(name: str) -> str:
    return f"/static/{name}?v={_ASSETS.get(name, '0')}"


templates.env.globals["static_url"] = static_url
templates.env.globals["country_name"] = country_name


class PageError(Exception):
    """A page that cannot be shown: rendered as an error page with this status."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    principal: Principal | None = None,
) -> HTMLResponse:
    """The page ``template`` for this request, with the layout's context and the page headers."""
    viewer = principal if principal is not None else page_principal(request)
    settings = request.app.state.settings
    full = {
        "viewer": viewer,
        "csrf_token": csrf_token(request),
        "node_name": settings.node_name or settings.node_id or "trex node",
        "node_id": settings.node_id,
        "path": request.url.path,
        "oidc_providers": [p.name for p in settings.oidc_providers],
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, full, status_code=status)
    response.headers["Content-Security-Policy"] = PAGE_CSP
    # Not "no-referrer" (the API's): with it Chromium sends "Origin: null" on form posts, which
    # the CSRF check must refuse. Other sites still learn nothing.
    response.headers["Referrer-Policy"] = "same-origin"
    # Pages show what their viewer may read: never kept by a shared cache or the back button.
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(url: str) -> RedirectResponse:
    """After a form post: the browser fetches ``url`` with GET (303)."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _sign_in_redirect(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return redirect(f"/sign-in?next={quote(target, safe='')}")


def error_page(request: Request, status: int, title: str, detail: str) -> Response:
    return render(request, "error.html", {"title": title, "detail": detail}, status=status)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("query", "path", "body")]
        parts.append(f"{'.'.join(loc) or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts[:5])


class WebRoute(APIRoute):
    """A page route: domain errors become HTML pages, never problem documents.

    Not found and not visible are the same page, as on the API; an anonymous visitor asked
    to sign in is sent to the sign-in page and back.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except PageError as exc:
                return error_page(request, exc.status, exc.title, exc.detail)
            except RequestValidationError as exc:
                return error_page(request, 400, "Bad request", _validation_detail(exc))
            except NotAuthenticated:
                if page_principal(request) is ANONYMOUS:
                    return _sign_in_redirect(request)
                return error_page(request, 401, "Signed out", "Sign in again to continue.")
            except NotFound:
                return error_page(
                    request,
                    404,
                    "Not found",
                    "There is nothing here that you may see. It may not exist, or it may be "
                    "restricted to other members.",
                )
            except NotPermitted as exc:
                return error_page(request, 403, "Not allowed", exc.detail)
            except Conflict as exc:
                return error_page(request, 409, "Changed meanwhile", exc.detail)
            except TrexError as exc:
                _log.info("page %s refused: %s", request.url.path, exc.detail)
                return error_page(request, 400, "Not done", exc.detail)
            except (DBAPIError, PoolTimeout) as exc:
                # As on the API: the transaction was rolled back, and the page says why.
                found = database_problem(exc)
                if found is None:
                    raise
                problem, headers = found
                log_database_problem(request, problem, exc)
                page = error_page(request, problem.status, problem.title, problem.detail)
                page.headers.update(headers)
                return page

        return page_handler
