"""Rate limits per token and per client address, security headers, and CORS (closed by default).

The rate limits are token buckets held in memory, so each worker process limits on its own: a
node served by N workers admits up to N times the configured rates. A store shared between
workers (PostgreSQL or Redis) is future work.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.access.tokens import TOKEN_PREFIX
from service.api.problems import PROBLEM_CONTENT
from service.errors import Problem
from service.settings import Settings

EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
"""Probes: a load balancer polling them must never be refused."""
_DOCS_PATHS = ("/docs", "/redoc")
RATE_LIMITED = "urn:trex:problem:rate-limited"
# Swagger UI and ReDoc load their scripts and styles from a CDN and run an inline script; the
# API's own responses need nothing of the kind.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    "default-src 'none'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "connect-src 'self'; worker-src blob:; frame-ancestors 'none'"
)
_MAX_BUCKETS = 100_000
_TOKEN_ID_LENGTH = 16


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Token buckets by key: ``rate`` per second refill, at most ``burst`` held.

    Bounded: past ``max_keys`` buckets, those that have refilled completely (idle callers) are
    dropped, and if that is not enough the oldest go, down to half; a dropped bucket starts
    full again.
    """

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = _MAX_BUCKETS,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Spend one token of ``key``: 0 when allowed, else the seconds until one is back."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [
            key
            for key, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        # Leave room, so that a flood of new keys does not rescan the dict on every request.
        if len(self._buckets) >= self._max_keys * 3 // 4:
            # Dicts keep insertion order: the first keys are the oldest callers.
            for key in list(self._buckets)[: len(self._buckets) - self._max_keys // 2]:
                del self._buckets[key]


def _networks(values: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


class ClientAddress:
    """The caller's address: the TCP peer, or ``X-Forwarded-For`` when the peer is a trusted proxy.

    The forwarded chain is read from the right; the first address that is not itself a trusted
    proxy is the client. Without trusted proxies the header is ignored, since anyone can send it.
    """

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted = _networks(trusted_proxies)

    def _is_trusted(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return address is not None and any(address in network for network in self._trusted)

    def of(self, scope: Scope) -> str:
        """The client address of the request ``scope``."""
        client = scope.get("client")
        peer = str(client[0]) if client else "unknown"
        if not self._trusted or not self._is_trusted(_parse_ip(peer)):
            return peer
        forwarded = Headers(scope=scope).getlist("x-forwarded-for")
        hops = [hop.strip() for value in forwarded for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _parse_ip(hop)
            # The first hop no trusted proxy vouches for (garbled or not) is the client: what
            # lies left of it was written by the client and proves nothing.
            if not self._is_trusted(address):
                return str(address) if address is not None else hop
        return hops[0] if hops else peer


def _token_key(scope: Scope, digest_key: bytes) -> tuple[str, str] | None:
    """The bucket key and printable id of a trex bearer token, or None for no such token.

    The key is the token's id with a keyed digest of the whole credential: a caller who knows
    a token id but not its secret gets a bucket of its own and cannot exhaust the owner's.
    """
    header = Headers(scope=scope).get("authorization")
    if header is None:
        return None
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials.startswith(TOKEN_PREFIX):
        return None
    token_id = credentials[len(TOKEN_PREFIX) :].partition("_")[0]
    if len(token_id) != _TOKEN_ID_LENGTH:
        return None
    digest = hashlib.blake2b(credentials.encode(), key=digest_key, digest_size=8).hexdigest()
    return f"{token_id}:{digest}", token_id


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    return path


class RateLimit:
    """ASGI middleware: 429 with ``Retry-After`` once a token or an address is over its limit.

    Every request counts against its client address; a request with a trex bearer token counts
    against that token too. Peers' signed federation requests carry no bearer token, so they
    are limited by address. A limit whose rate is 0 is off; ``/healthz`` and ``/readyz`` are
    never limited.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token_rate: float,
        token_burst: int,
        address_rate: float,
        address_burst: int,
        trusted_proxies: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self._tokens = (
            TokenBuckets(rate=token_rate, burst=token_burst, clock=clock) if token_rate else None
        )
        self._addresses = (
            TokenBuckets(rate=address_rate, burst=address_burst, clock=clock)
            if address_rate
            else None
        )
        self._client_address = ClientAddress(trusted_proxies)
        # Per process and never stored: token digests only have to be stable while it runs.
        self._digest_key = secrets.token_bytes(32)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _route_path(scope) in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        if self._addresses is not None:
            address = self._client_address.of(scope)
            wait = self._addresses.take(address)
            if wait:
                await _refuse(send, wait, "address", self._addresses)
                return
        if self._tokens is not None:
            token = _token_key(scope, self._digest_key)
            if token is not None:
                wait = self._tokens.take(token[0])
                if wait:
                    await _refuse(send, wait, "token", self._tokens)
                    return
        await self.app(scope, receive, send)


async def _refuse(send: Send, wait: float, limit: str, buckets: TokenBuckets) -> None:
    retry_after = max(1, math.ceil(wait))
    problem = Problem(
        429,
        "Too many requests",
        f"The per-{limit} rate limit ({buckets.rate:g} requests a second, bursts of "
        f"{buckets.burst}) is used up; retry after {retry_after} s.",
        RATE_LIMITED,
    ).to_dict()
    problem["limit"] = f"per-{limit}"
    payload = json.dumps(problem).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode()),
                (b"retry-after", str(retry_after).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class SecurityHeaders:
    """ASGI middleware: the security headers on every response, errors and streams included.

    ``Content-Security-Policy`` is the API's (nothing may load) except on the interactive docs,
    and a route that set its own keeps it. ``Cache-Control: no-store`` goes on every response to
    a request that carried credentials (a bearer token or a cookie).
    """

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        credentialed = "authorization" in request_headers or "cookie" in request_headers
        csp = DOCS_CSP if _route_path(scope).startswith(_DOCS_PATHS) else API_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Content-Security-Policy", csp)
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
                if credentialed:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_hardening(app: FastAPI, settings: Settings) -> None:
    """Add rate limits, CORS (only with ``cors_origins``) and security headers, outermost last.

    Call it after every other middleware is added, so its responses (429, CORS preflights) and
    everyone else's get the headers. Starlette answers an unhandled error (500) outside all
    middleware: those responses carry no security headers, and no detail either.
    """
    app.add_middleware(
        RateLimit,
        token_rate=settings.rate_limit_token_per_second,
        token_burst=settings.rate_limit_token_burst,
        address_rate=settings.rate_limit_address_per_second,
        address_burst=settings.rate_limit_address_burst,
        trusted_proxies=settings.trusted_proxies,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=False,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match"],
            expose_headers=["ETag", "Location", "Retry-After"],
        )
    app.add_middleware(SecurityHeaders, hsts=settings.public_url.lower().startswith("https://"))


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def document_refusals(app: FastAPI) -> None:
    """Put the middleware's refusals in the OpenAPI document, so clients expect them.

    Every operation may be rate limited (429, with ``Retry-After``); every one that takes a
    body may find it too large (413, from ``service.api.limits.BodySizeLimit``). Done on the
    generated document (FastAPI's documented way to extend it), once, when first asked for.
    """
    generate = app.openapi
    rate_limited = {
        "description": "Rate limit used up; retry after the Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        **PROBLEM_CONTENT,
    }
    too_large = {"description": "Body too large", **PROBLEM_CONTENT}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                if method not in _HTTP_METHODS:
                    continue
                responses = operation.setdefault("responses", {})
                responses.setdefault("429", rate_limited)
                if "requestBody" in operation:
                    responses.setdefault("413", too_large)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
