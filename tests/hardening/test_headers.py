"""Security headers on every response, and CORS closed unless origins are configured."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from service.api.hardening import API_CSP, DOCS_CSP
from service.app import create_app
from service.settings import Settings
from tests.factories import Members

READER = "reader@example.edu"
EVIL = "https://evil.example"


def _with(settings: Settings, **changes: Any) -> Settings:
    return Settings(**{**settings.model_dump(), **changes})


def _assert_secured(response: httpx.Response, csp: str = API_CSP) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == csp
    assert "access-control-allow-origin" not in response.headers


def test_every_kind_of_response_carries_the_headers(
    client: TestClient, members: Members, settings: Settings
) -> None:
    responses = {
        "probe": client.get("/healthz"),
        "not found": client.get("/v1/no-such-thing"),
        "wrong method": client.delete("/healthz"),
        "bad input": client.get("/v1/advisories", params={"limit": "many"}),
        "unauthenticated": client.get("/v1/me", headers={"Authorization": "Bearer nope"}),
        "too large": client.post(
            "/v1/advisories",
            content=b"x" * (settings.max_body_bytes + 1),
            headers=members.auth(READER),
        ),
        "taxii": client.get("/taxii2/", headers={"Accept": "application/taxii+json;version=2.1"}),
        "schema": client.get("/openapi.json"),
    }
    assert responses["probe"].status_code == 200
    assert responses["too large"].status_code == 413
    assert responses["taxii"].status_code in (200, 401)
    for name, response in responses.items():
        assert response.status_code < 500, name
        _assert_secured(response)


def test_429_carries_the_headers(settings: Settings) -> None:
    limited = _with(settings, rate_limit_address_per_second=0.001, rate_limit_address_burst=1)
    with TestClient(create_app(limited)) as client:
        client.get("/v1/advisories")
        refused = client.get("/v1/advisories")
    assert refused.status_code == 429
    _assert_secured(refused)


def test_the_docs_page_may_load_its_cdn_scripts_and_nothing_else(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    _assert_secured(docs, DOCS_CSP)
    assert "frame-ancestors 'none'" in DOCS_CSP


def test_authenticated_answers_are_never_stored(client: TestClient, members: Members) -> None:
    assert client.get("/v1/me", headers=members.auth(READER)).headers["cache-control"] == (
        "no-store"
    )
    assert client.get("/v1/advisories", headers=members.auth(READER)).headers["cache-control"] == (
        "no-store"
    )
    assert "cache-control" not in client.get("/healthz").headers


def test_hsts_only_when_the_public_url_is_https(client: TestClient, settings: Settings) -> None:
    assert "strict-transport-security" not in client.get("/healthz").headers
    https = _with(settings, public_url="https://trex.example.org")
    with TestClient(create_app(https)) as secure:
        hsts = secure.get("/healthz").headers["strict-transport-security"]
    assert hsts.startswith("max-age=")


def _preflight(client: TestClient, origin: str) -> httpx.Response:
    return client.options(
        "/v1/advisories",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def test_cors_is_closed_by_default(client: TestClient, members: Members) -> None:
    preflight = _preflight(client, EVIL)
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-credentials" not in preflight.headers
    simple = client.get("/v1/advisories", headers={"Origin": EVIL, **members.auth(READER)})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_grants_exactly_the_configured_origins(settings: Settings) -> None:
    app_origin = "https://app.example.org"
    with TestClient(create_app(_with(settings, cors_origins=(app_origin,)))) as client:
        granted = _preflight(client, app_origin)
        refused = _preflight(client, EVIL)
        simple = client.get("/v1/advisories", headers={"Origin": app_origin})

    assert granted.status_code == 200
    assert granted.headers["access-control-allow-origin"] == app_origin
    assert "access-control-allow-credentials" not in granted.headers
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == app_origin
    assert simple.headers["x-frame-options"] == "DENY"
