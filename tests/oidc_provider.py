"""A small, real OpenID Connect provider for tests, served over HTTP on a loopback port.

It speaks the authorization code flow with PKCE the way a real provider does: discovery,
``/authorize`` (which approves the configured test identity at once, records the request's
nonce and code challenge, and redirects back with ``code``, ``state`` and ``iss``), ``/token``
(client authentication, single-use code, the same ``redirect_uri``, the PKCE ``code_verifier``)
answering with an RS256 ID token, and ``/jwks``. Its own RSA key is generated fresh.

``Misbehaviour`` makes it lie in one way at a time, so tests can show the node refuses each lie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

SIGNING_ALGORITHM = "RS256"


@dataclass
class Identity:
    """Who the provider says signed in."""

    sub: str = "user-1"
    email: str | None = "reader@example.edu"
    email_verified: object = True
    """Sent as is: ``True``, ``False``, a string such as ``"true"``, or ``None`` to leave it out."""


@dataclass
class Misbehaviour:
    """Ways the provider can lie in its ID token; all off by default."""

    wrong_nonce: bool = False
    wrong_aud: bool = False
    wrong_iss: bool = False
    expired: bool = False
    foreign_key: bool = False
    """Sign with a key that is not in the JWKS (but claim the published key's ``kid``)."""
    discovery_issuer: str | None = None
    """Name this issuer in the discovery document instead of the real one."""


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str
    identity: Identity


@dataclass
class Provider:
    """The provider's state: its client, keys, knobs and what it has seen."""

    issuer: str = ""
    client_id: str = "trex-test-client"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    redirect_uris: tuple[str, ...] = (
        "http://127.0.0.1:8000/auth/callback",
        "https://trex.example/auth/callback",
    )
    key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "key-1"})
    )
    foreign_key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "key-1"})
    )
    identity: Identity = field(default_factory=Identity)
    misbehaviour: Misbehaviour = field(default_factory=Misbehaviour)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    token_errors: list[str] = field(default_factory=list)
    _grants: dict[str, _Grant] = field(default_factory=dict)

    def reset(self) -> None:
        """Back to an honest provider with the default identity, and nothing recorded."""
        self.identity = Identity()
        self.misbehaviour = Misbehaviour()
        self.authorize_requests.clear()
        self.token_requests.clear()
        self.token_errors.clear()
        self._grants.clear()

    # --- endpoints ---------------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.misbehaviour.discovery_issuer or self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [SIGNING_ALGORITHM],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        if params.get("client_id") != self.client_id:
            return PlainTextResponse("unknown client", status_code=400)
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            # Never redirect to an unregistered address, not even with an error.
            return PlainTextResponse("unregistered redirect_uri", status_code=400)
        state = params.get("state", "")

        def error(code: str) -> Response:
            query = urlencode({"error": code, "state": state, "iss": self.issuer})
            return RedirectResponse(f"{redirect_uri}?{query}", status_code=302)

        if params.get("response_type") != "code":
            return error("unsupported_response_type")
        if "openid" not in params.get("scope", "").split():
            return error("invalid_scope")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return error("invalid_request")
        code = secrets.token_urlsafe(24)
        self._grants[code] = _Grant(
            client_id=self.client_id,
            redirect_uri=redirect_uri,
            nonce=params.get("nonce"),
            code_challenge=params["code_challenge"],
            identity=self.identity,
        )
        query = urlencode({"code": code, "state": state, "iss": self.issuer})
        return RedirectResponse(f"{redirect_uri}?{query}", status_code=302)

    async def token(self, request: Request) -> Response:
        # Parsed by hand: Starlette's form parser needs python-multipart, which the node lacks.
        form = dict(parse_qsl((await request.body()).decode("ascii")))
        self.token_requests.append(form)

        def refuse(code: str, status: int = 400) -> Response:
            self.token_errors.append(code)
            return JSONResponse({"error": code}, status_code=status)

        if not self._client_authenticated(request):
            return refuse("invalid_client", 401)
        if form.get("grant_type") != "authorization_code":
            return refuse("unsupported_grant_type")
        grant = self._grants.pop(form.get("code", ""), None)  # a code works once
        if grant is None or grant.client_id != self.client_id:
            return refuse("invalid_grant")
        if form.get("redirect_uri") != grant.redirect_uri:
            return refuse("invalid_grant")
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if not verifier or not hmac.compare_digest(challenge, grant.code_challenge):
            return refuse("invalid_grant")
        access_token = secrets.token_urlsafe(24)
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self._id_token(grant),
            },
            headers={"Cache-Control": "no-store"},
        )

    def _client_authenticated(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return client_id == self.client_id and hmac.compare_digest(secret, self.client_secret)

    def _id_token(self, grant: _Grant) -> str:
        lie = self.misbehaviour
        now = int(time.time())
        issued = now - 7200 if lie.expired else now
        claims: dict[str, Any] = {
            "iss": "https://impostor.example" if lie.wrong_iss else self.issuer,
            "sub": grant.identity.sub,
            "aud": "someone-else" if lie.wrong_aud else grant.client_id,
            "iat": issued,
            "exp": issued + 600,
            "auth_time": issued,
        }
        if grant.nonce is not None:
            claims["nonce"] = "not-the-nonce" if lie.wrong_nonce else grant.nonce
        if grant.identity.email is not None:
            claims["email"] = grant.identity.email
        if grant.identity.email_verified is not None:
            claims["email_verified"] = grant.identity.email_verified
        key = self.foreign_key if lie.foreign_key else self.key
        header = {"alg": SIGNING_ALGORITHM, "kid": "key-1"}
        return jwt.encode(header, claims, key, algorithms=[SIGNING_ALGORITHM])

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )


@contextmanager
def running_provider(start_timeout: float = 10.0) -> Iterator[Provider]:
    """A provider served by uvicorn on a free 127.0.0.1 port in a thread; stopped after."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    provider = Provider(issuer=f"http://127.0.0.1:{port}")
    config = uvicorn.Config(provider.app(), log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="oidc-provider", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test OpenID provider did not start")
        time.sleep(0.01)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
