"""Who is looking at a page, and the CSRF check on every form post.

A page's viewer is the user of the browser session (``service.api.deps.web_session_principal``,
re-checked on every request), with that user's own rights: forms write with it. That is safe
only because every state-changing request is a POST that must carry the session's CSRF token
(synchronizer token, compared in constant time) and, when the browser sends one, an ``Origin``
of this node; the cookie is also ``SameSite=Lax``.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request

from service.access.policy import require_authenticated
from service.access.principal import ANONYMOUS, Principal
from service.api.deps import web_session_principal
from service.db import utcnow
from service.errors import NotPermitted

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "MemberDep",
    "ViewerDep",
    "check_csrf",
    "csrf_token",
    "page_principal",
]

CSRF_FIELD = "csrf_token"
"""The hidden field every form carries."""
CSRF_HEADER = "x-csrf-token"
"""The header the pages' scripts send instead, when they post with ``fetch``."""
_SESSION_CSRF = "csrf"
_CSRF_REFUSED = (
    "This form has expired or did not come from this node. Reload the page and try again."
)


def _session(request: Request) -> dict[str, Any]:
    session: dict[str, Any] = request.scope["session"]
    return session


def csrf_token(request: Request) -> str:
    """This browser session's CSRF token, made on first use."""
    session = _session(request)
    token = session.get(_SESSION_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[_SESSION_CSRF] = token
    return token


def renew_csrf_token(request: Request) -> None:
    """A fresh token at sign-in and sign-out, so one seen before cannot be replayed."""
    _session(request)[_SESSION_CSRF] = secrets.token_urlsafe(32)


def _same_origin(request: Request) -> bool:
    # Browsers send Origin with every POST; its absence means a client that is not a browser,
    # which the token alone holds back. "null" (a sandboxed or privacy-redirected page) fails.
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def check_csrf(request: Request, submitted: object) -> None:
    """Refuse (403) a post without this session's token, or sent from another site."""
    expected = _session(request).get(_SESSION_CSRF)
    given = submitted if isinstance(submitted, str) else request.headers.get(CSRF_HEADER)
    if (
        not isinstance(expected, str)
        or not isinstance(given, str)
        or not hmac.compare_digest(expected.encode(), given.encode())
        or not _same_origin(request)
    ):
        raise NotPermitted(_CSRF_REFUSED)


def page_principal(request: Request) -> Principal:
    """The viewer of this request, worked out once per request."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    app = request.app
    if "session" not in request.scope:
        return ANONYMOUS
    principal = web_session_principal(
        request, app.state.session_factory, app.state.settings, utcnow()
    )
    request.state.principal = principal
    return principal


def _viewer(request: Request) -> Principal:
    return page_principal(request)


def _member(request: Request) -> Principal:
    principal = page_principal(request)
    require_authenticated(principal)
    return principal


ViewerDep = Annotated[Principal, Depends(_viewer)]
"""Anyone, anonymous included."""
MemberDep = Annotated[Principal, Depends(_member)]
"""A signed-in user; an anonymous visitor is sent to the sign-in page."""
