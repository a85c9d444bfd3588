"""Web sign-in with OpenID Connect: ``/auth/login``, ``/auth/callback``, ``/auth/logout``.

The authorization code flow with PKCE (S256), ``state`` and ``nonce``, through Authlib's
Starlette client, with providers only from the configured allow-list. The callback accepts an
ID token only when it is signed by a key of the provider's JWKS, names exactly the configured
issuer (which the discovery document must name too), has our client id as audience, carries the
nonce of this browser's login and has not expired. ``service.access.signin`` then decides who
the verified email address is.

The session cookie (Starlette's ``SessionMiddleware``: signed with itsdangerous, HttpOnly,
SameSite=Lax, Secure when ``secure_cookies``) holds the login's state while it runs and then only
the user id and the sign-in time. On ``/v1`` it is accepted for reading only
(``deps.get_principal``), so the API opens no cross-site request forgery; the web pages
(``service/web/``) write with it behind a CSRF token.
"""

from __future__ import annotations

import contextlib
import html
import importlib
import logging
import warnings
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, cast

import httpx
from authlib.common.errors import AuthlibBaseError
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc.errors import JoseError
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.sessions import SessionMiddleware

from service.access.signin import SignInRefused, sign_in_by_email
from service.api.deps import (
    SESSION_SIGNED_IN_AT,
    SESSION_USER,
    NowDep,
    SessionFactoryDep,
    SettingsDep,
)
from service.db import transaction
from service.settings import OidcProvider, Settings

with warnings.catch_warnings():
    # Authlib 1.9 prefers httpx2 and warns, once at import, that its httpx fallback will go.
    # The node uses httpx throughout and pins authlib below 1.10 (pyproject.toml). Importing
    # authlib.deprecate first: it installs an "always" filter that would override ours.
    import authlib.deprecate  # noqa: F401

    warnings.filterwarnings("ignore", "The httpx module is deprecated", DeprecationWarning)
    from authlib.integrations.starlette_client import OAuth

__all__ = ["install_web_sign_in", "local_path", "session_cookie_name"]

_SESSION_PROVIDER = "idp"
_PENDING = "signin"  # the provider and landing page of a login under way
_DEFAULT_LANDING = "/"
# Asymmetric algorithms only: the provider's JWKS is public, so an HMAC or "none" token could
# be made by anyone who read it.
_ID_TOKEN_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_CLOCK_LEEWAY_SECONDS = 60
_PROVIDER_TIMEOUT = 10.0  # seconds, for each call to a provider
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}

_log = logging.getLogger("trex.signin")


def _transport_error_types() -> tuple[type[Exception], ...]:
    """httpx's errors, and httpx2's: Authlib talks to providers through httpx2 when present."""
    types: list[type[Exception]] = [httpx.HTTPError]
    with contextlib.suppress(ImportError):
        types.append(importlib.import_module("httpx2").HTTPError)
    return tuple(types)


_TRANSPORT_ERRORS = _transport_error_types()
# ValueError: a discovery document that is not JSON.
_DISCOVERY_ERRORS: tuple[type[Exception], ...] = (*_TRANSPORT_ERRORS, ValueError)

router = APIRouter(prefix="/auth", tags=["sign-in"], include_in_schema=False)


class _SignInFailed(Exception):
    """The flow broke (bad state, a token that fails a check, an unreachable provider)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def session_cookie_name(settings: Settings) -> str:
    """``__Host-`` when Secure: the browser then refuses the cookie from any other origin."""
    return "__Host-trex_session" if settings.secure_cookies else "trex_session"


def install_web_sign_in(app: FastAPI, settings: Settings) -> None:
    """Add the ``/auth`` routes; with providers configured, the OAuth clients and sessions."""
    app.include_router(router)
    # The web pages' sessions (token sign-in, CSRF tokens) need it with or without a provider.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.resolved_session_secret(),
        session_cookie=session_cookie_name(settings),
        max_age=settings.session_ttl_hours * 3600,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    oauth = OAuth()
    for provider in settings.oidc_providers:
        oauth.register(
            name=provider.name,
            client_id=provider.client_id,
            client_secret=provider.client_secret.get_secret_value(),
            server_metadata_url=provider.metadata_url,
            client_kwargs={
                "scope": " ".join(provider.scopes),
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic",
                "timeout": _PROVIDER_TIMEOUT,
            },
        )
    app.state.oauth = oauth


def _page(status: int, title: str, message: str, advice: str = "", link: str = "") -> HTMLResponse:
    """A small, self-contained HTML page; every value is escaped."""
    parts = [f"<p>{html.escape(message)}</p>"]
    if advice:
        parts.append(f"<p>{html.escape(advice)}</p>")
    if link:
        parts.append(f'<p><a href="{html.escape(link)}">Sign in again</a></p>')
    body = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} - trex</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:3em auto;padding:0 1em}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{''.join(parts)}</body></html>\n"
    )
    return HTMLResponse(body, status_code=status, headers=_PAGE_HEADERS)


def _not_configured() -> HTMLResponse:
    return _page(
        404,
        "Sign-in is not available",
        "This node has no sign-in with OpenID Connect configured.",
        "Use a bearer token from the node operator.",
    )


def _provider(settings: Settings, name: str | None) -> OidcProvider | None:
    providers = settings.oidc_providers
    if name is None:
        return providers[0] if len(providers) == 1 else None
    return next((p for p in providers if p.name == name), None)


def _session(request: Request) -> dict[str, Any] | None:
    """The request's session, or None when the node has no provider to sign in with."""
    settings: Settings = request.app.state.settings
    session = request.scope.get("session")
    if session is None or not settings.oidc_providers:
        return None
    return cast(dict[str, Any], session)


def local_path(value: str | None) -> str:
    """Where to land after sign-in: a path on this node, never another site."""
    # "//host" and "/\\host" are read by browsers as another site; no backslash anywhere.
    if (
        value
        and value.startswith("/")
        and not value.startswith("//")
        and all(c.isprintable() and c != "\\" for c in value)
    ):
        return value
    return _DEFAULT_LANDING


async def _checked_metadata(client: Any, provider: OidcProvider) -> None:
    """Load the discovery document and hold it to the configuration.

    Its ``issuer`` must be exactly the configured one (OpenID Connect Discovery, section 4.3),
    and ID tokens are accepted only with asymmetric algorithms it lists.
    """
    try:
        metadata = cast(dict[str, Any], await client.load_server_metadata())
    except _DISCOVERY_ERRORS as exc:
        _log.warning("provider %s: discovery failed: %s", provider.name, exc)
        raise _SignInFailed(502, "The identity provider could not be reached.") from None
    if metadata.get("issuer") != provider.issuer:
        _log.error(
            "provider %s: discovery names issuer %r, configured %r",
            provider.name,
            metadata.get("issuer"),
            provider.issuer,
        )
        raise _SignInFailed(502, "The identity provider is not configured correctly.")
    listed = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in listed if a in _ID_TOKEN_ALGORITHMS]
    if not algorithms:
        raise _SignInFailed(502, "The identity provider signs ID tokens in no accepted way.")
    # Authlib reads the accepted algorithms from the (cached) metadata when it checks a token.
    metadata["id_token_signing_alg_values_supported"] = algorithms


def _failed(request: Request, exc: _SignInFailed, provider: OidcProvider | None) -> HTMLResponse:
    session = _session(request)
    if session is not None:
        session.clear()
    link = f"/auth/login?provider={provider.name}" if provider is not None else ""
    title = "Sign-in failed" if exc.status < 500 else "Sign-in is unavailable"
    return _page(exc.status, title, exc.detail, "Start again from the sign-in link.", link)


@router.get("/login")
async def login(
    request: Request,
    settings: SettingsDep,
    provider: Annotated[str | None, Query(max_length=32)] = None,
    next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
) -> Response:
    """Send the browser to the provider's authorization endpoint (only allow-listed ones)."""
    session = _session(request)
    if session is None:
        return _not_configured()
    chosen = _provider(settings, provider)
    if chosen is None:
        names = ", ".join(p.name for p in settings.oidc_providers)
        return _page(
            404,
            "Unknown sign-in provider",
            "This node does not accept sign-in through that provider.",
            f"Choose one of: {names}.",
        )
    client = request.app.state.oauth.create_client(chosen.name)
    try:
        await _checked_metadata(client, chosen)
        # A new login replaces whatever this browser had: a half-done login, or a sign-in.
        session.clear()
        session[_PENDING] = {"provider": chosen.name, "next": local_path(next_path)}
        redirect = cast(
            Response,
            await client.authorize_redirect(request, f"{settings.public_url}/auth/callback"),
        )
    except _SignInFailed as exc:
        return _failed(request, exc, chosen)
    except _TRANSPORT_ERRORS as exc:
        _log.warning("provider %s: unreachable: %s", chosen.name, exc)
        return _failed(
            request, _SignInFailed(502, "The identity provider could not be reached."), chosen
        )
    redirect.headers["Cache-Control"] = "no-store"
    return redirect


@router.get("/callback")
async def callback(
    request: Request, settings: SettingsDep, factory: SessionFactoryDep, now: NowDep
) -> Response:
    """Finish the login: exchange the code, check the ID token, and sign the user in."""
    session = _session(request)
    if session is None:
        return _not_configured()
    pending = session.get(_PENDING)
    chosen = _provider(settings, pending.get("provider")) if isinstance(pending, dict) else None
    if not isinstance(pending, dict) or chosen is None:
        return _failed(
            request,
            _SignInFailed(400, "This sign-in was not started in this browser, or has expired."),
            _provider(settings, None),
        )
    try:
        claims = await _verified_claims(request, chosen)
    except _SignInFailed as exc:
        return _failed(request, exc, chosen)
    email = claims.get("email")
    verified = claims.get("email_verified") is True
    try:
        user_id = await run_in_threadpool(
            _sign_in, factory, email if isinstance(email, str) else "", verified, now
        )
    except SignInRefused as exc:
        _log.info("sign-in refused via %s: %s", chosen.name, exc.reason)
        session.clear()
        return _page(403, "Sign-in refused", exc.detail, exc.advice)
    landing = local_path(pending.get("next"))
    # A fresh session: nothing from before the sign-in is carried over into it.
    session.clear()
    session[SESSION_USER] = user_id
    session[SESSION_SIGNED_IN_AT] = int(now.timestamp())
    session[_SESSION_PROVIDER] = chosen.name
    _log.info("signed in via %s: user %s", chosen.name, user_id)
    return RedirectResponse(landing, status_code=303, headers={"Cache-Control": "no-store"})


async def _verified_claims(request: Request, provider: OidcProvider) -> Mapping[str, Any]:
    """The ID token's claims once every check has passed; ``_SignInFailed`` otherwise."""
    # RFC 9207: a provider may name itself in the response; a different name is a mix-up.
    returned_issuer = request.query_params.get("iss")
    if returned_issuer is not None and returned_issuer != provider.issuer:
        raise _SignInFailed(400, "The answer came from another identity provider.")
    client = request.app.state.oauth.create_client(provider.name)
    await _checked_metadata(client, provider)
    claims_options = {
        "iss": {"essential": True, "value": provider.issuer},
        "aud": {"essential": True, "value": provider.client_id},
        "exp": {"essential": True},
        "sub": {"essential": True},
    }
    try:
        token = await client.authorize_access_token(
            request, claims_options=claims_options, leeway=_CLOCK_LEEWAY_SECONDS
        )
    except _TRANSPORT_ERRORS as exc:
        _log.warning("provider %s: unreachable: %s", provider.name, exc)
        raise _SignInFailed(502, "The identity provider could not be reached.") from None
    except (AuthlibBaseError, JoseError) as exc:
        # Refused state, a provider error, or an ID token failing a check: all one answer to
        # the browser; the log says which.
        _log.warning("provider %s: sign-in refused: %r", provider.name, exc)
        raise _SignInFailed(
            400, "The identity provider's answer did not pass our checks."
        ) from None
    except (KeyError, TypeError, ValueError):
        _log.exception("provider %s: malformed answer", provider.name)
        raise _SignInFailed(400, "The identity provider's answer was malformed.") from None
    claims = token.get("userinfo") if isinstance(token, dict) else None
    if not isinstance(claims, Mapping):
        raise _SignInFailed(400, "The identity provider sent no ID token.")
    return claims


def _sign_in(factory: sessionmaker[Session], email: str, verified: bool, now: datetime) -> str:
    with transaction(factory) as db:
        return sign_in_by_email(db, email=email, verified=verified, now=now).id


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End this browser's session."""
    session = request.scope.get("session")
    if session is not None:
        session.clear()
    return _page(200, "Signed out", "You are signed out of this node.")
