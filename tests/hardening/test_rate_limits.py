"""Rate limits: per bearer token and per client address, 429 problems with ``Retry-After``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.api.hardening import TokenBuckets
from service.app import create_app
from service.settings import Settings
from tests.factories import Members, assert_problem

READER = "reader@example.edu"
ANALYST = "analyst@example.edu"


def _with(settings: Settings, **changes: Any) -> Settings:
    # Validated again, as an operator's settings would be.
    return Settings(**{**settings.model_dump(), **changes})


@pytest.fixture
def limited(settings: Settings) -> Settings:
    """Three requests a token and five an address, then (practically) nothing more."""
    return _with(
        settings,
        rate_limit_token_per_second=0.001,
        rate_limit_token_burst=3,
        rate_limit_address_per_second=0.001,
        rate_limit_address_burst=5,
    )


@pytest.fixture
def app_client(limited: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(limited)) as client:
        yield client


def _assert_limited(response: Any, limit: str) -> None:
    body = assert_problem(response, 429)
    assert body["type"] == "urn:trex:problem:rate-limited"
    assert body["limit"] == limit
    assert limit in body["detail"]
    assert int(response.headers["retry-after"]) >= 1


def test_a_token_gets_its_burst_then_429_and_other_tokens_go_on(
    app_client: TestClient, members: Members
) -> None:
    for _ in range(3):
        assert app_client.get("/v1/me", headers=members.auth(READER)).status_code == 200

    refused = app_client.get("/v1/me", headers=members.auth(READER))

    _assert_limited(refused, "per-token")
    assert members.tokens[READER].split("_", 2)[2] not in refused.text
    assert app_client.get("/v1/me", headers=members.auth(ANALYST)).status_code == 200


def test_a_guessed_secret_does_not_use_up_the_owners_bucket(
    app_client: TestClient, members: Members
) -> None:
    token_id = members.tokens[READER].split("_")[1]
    forged = {"Authorization": f"Bearer trex_{token_id}_not-the-secret"}
    for _ in range(3):
        assert app_client.get("/v1/me", headers=forged).status_code == 401
    _assert_limited(app_client.get("/v1/me", headers=forged), "per-token")

    assert app_client.get("/v1/me", headers=members.auth(READER)).status_code == 200


def test_an_address_gets_its_burst_and_probes_are_never_limited(
    limited: Settings, members: Members
) -> None:
    app = create_app(_with(limited, rate_limit_token_per_second=0))
    with (
        TestClient(app, client=("192.0.2.1", 5000)) as client,
        TestClient(app, client=("192.0.2.2", 5000)) as neighbour,
    ):
        # Anonymous and authenticated calls alike count against the address.
        for _ in range(3):
            assert client.get("/v1/advisories").status_code == 200
        for _ in range(2):
            assert client.get("/v1/me", headers=members.auth(READER)).status_code == 200

        _assert_limited(client.get("/v1/advisories"), "per-address")
        _assert_limited(client.get("/v1/me", headers=members.auth(ANALYST)), "per-address")
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert neighbour.get("/v1/advisories").status_code == 200


def test_peers_signed_requests_are_limited_by_address(limited: Settings) -> None:
    with TestClient(create_app(limited)) as client:
        # Unsigned here, so refused; a signed request carries no bearer token either.
        for _ in range(5):
            assert client.get("/v1/federation/feed").status_code == 401
        _assert_limited(client.get("/v1/federation/feed"), "per-address")


def test_the_bucket_refills_at_the_configured_rate(settings: Settings, members: Members) -> None:
    # One request a second: the second, sent at once, is refused even on a slow machine.
    slow = _with(settings, rate_limit_token_per_second=1, rate_limit_token_burst=1)
    with TestClient(create_app(slow)) as client:
        assert client.get("/v1/me", headers=members.auth(READER)).status_code == 200
        refused = client.get("/v1/me", headers=members.auth(READER))
        _assert_limited(refused, "per-token")
        assert refused.headers["retry-after"] == "1"
        time.sleep(int(refused.headers["retry-after"]))
        assert client.get("/v1/me", headers=members.auth(READER)).status_code == 200


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(limited: Settings) -> None:
    app = create_app(
        _with(limited, rate_limit_address_burst=1, trusted_proxies=("10.0.0.0/8", "::1"))
    )
    with (
        TestClient(app, client=("10.1.2.3", 4000)) as proxy,
        TestClient(app, client=("198.51.100.7", 4000)) as direct,
    ):
        first = {"X-Forwarded-For": "203.0.113.5"}
        assert proxy.get("/v1/advisories", headers=first).status_code == 200
        _assert_limited(proxy.get("/v1/advisories", headers=first), "per-address")
        # Another client behind the same proxy; the client's own claim left of it is ignored.
        second = {"X-Forwarded-For": "203.0.113.5, 203.0.113.6, 10.9.9.9"}
        assert proxy.get("/v1/advisories", headers=second).status_code == 200

        # Not a trusted proxy: its X-Forwarded-For is the caller's own word, ignored.
        assert direct.get("/v1/advisories", headers={"X-Forwarded-For": "1.1.1.1"}).is_success
        spoofed = direct.get("/v1/advisories", headers={"X-Forwarded-For": "2.2.2.2"})
        _assert_limited(spoofed, "per-address")


def test_zero_turns_a_limit_off(settings: Settings, members: Members) -> None:
    assert settings.rate_limit_token_per_second == 0
    with TestClient(create_app(settings)) as client:
        for _ in range(150):
            assert client.get("/v1/me", headers=members.auth(READER)).status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("trusted_proxies", ("proxy.internal",)),
        ("cors_origins", ("*",)),
        ("cors_origins", ("https://app.example.org/path",)),
        ("rate_limit_token_per_second", -1),
        ("rate_limit_address_burst", 0),
    ],
)
def test_bad_limit_settings_are_refused_naming_the_setting(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**{field: value})  # type: ignore[arg-type]
    assert field in str(refused.value)


def test_defaults_are_on(tmp_path: Path) -> None:
    defaults = Settings(data_dir=tmp_path)
    assert defaults.rate_limit_token_per_second == 20
    assert defaults.rate_limit_token_burst == 100
    assert defaults.rate_limit_address_per_second == 50
    assert defaults.rate_limit_address_burst == 200
    assert defaults.trusted_proxies == ()
    assert defaults.cors_origins == ()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_buckets_refill_and_stay_bounded() -> None:
    clock = _Clock()
    buckets = TokenBuckets(rate=2, burst=2, clock=clock, max_keys=4)
    assert buckets.take("a") == 0
    assert buckets.take("a") == 0
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("a") == 0

    for key in "bcdefgh":
        buckets.take(key)
    assert len(buckets._buckets) <= 4


def test_operators_set_proxies_and_origins_as_json_lists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TREX_TRUSTED_PROXIES", '["127.0.0.1", "10.0.0.0/8"]')
    monkeypatch.setenv("TREX_CORS_ORIGINS", '["https://app.example.org"]')
    monkeypatch.setenv("TREX_RATE_LIMIT_ADDRESS_PER_SECOND", "0")
    configured = Settings(data_dir=tmp_path)
    assert configured.trusted_proxies == ("127.0.0.1", "10.0.0.0/8")
    assert configured.cors_origins == ("https://app.example.org",)
    assert configured.rate_limit_address_per_second == 0


def test_the_openapi_document_names_the_refusals_of_the_middleware(client: TestClient) -> None:
    """Clients generated from /openapi.json expect 429 anywhere and 413 wherever a body goes."""
    paths = client.get("/openapi.json").json()["paths"]
    operations = [
        (method, path, operation)
        for path, by_method in paths.items()
        for method, operation in by_method.items()
    ]
    assert len(operations) > 30
    for method, path, operation in operations:
        responses = operation["responses"]
        assert "Retry-After" in responses["429"]["headers"], (method, path)
        assert "application/problem+json" in responses["429"]["content"], (method, path)
        if "requestBody" in operation:
            assert "413" in responses, (method, path)
    assert "413" in paths["/v1/admin/orgs"]["post"]["responses"]
    assert "413" not in paths["/v1/advisories"]["get"]["responses"]
