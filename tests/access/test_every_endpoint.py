"""Every endpoint of the published API has a stated audience, and refuses everyone else.

The table below must name every (method, path) of ``/openapi.json``: an endpoint added without
an entry fails ``test_the_table_covers_the_published_api``. The other tests then hold each
endpoint to its entry. Finer rules (who sees which advisory) have their own tests
(``test_access_matrix``, ``test_attacks``, the screening and review API tests).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.access.test_attacks import (
    ANALYST,
    AU_KEY,
    OPERATOR,
    READER,
    assert_unauthenticated,
    bearer,
)
from tests.factories import Members, advisory_payload, assert_problem, post_advisory

# Who may call each endpoint:
#   public    anyone, no credentials needed or read (health, node descriptor)
#   anyone    anonymous callers too, but what they get is filtered by the access policy
#   member    a signed-in user of a member org (any role)
#   writer    an analyst or publisher (a reader is refused)
#   operator  operators only
#   peer      another node, by an RFC 9421 signature (never a bearer token)
AUDIENCE: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
    ("GET", "/.well-known/trex-node"): "public",
    ("GET", "/v1/me"): "member",
    ("GET", "/v1/advisories"): "anyone",
    ("POST", "/v1/advisories"): "writer",
    ("GET", "/v1/advisories/{advisory_id}"): "anyone",
    ("PATCH", "/v1/advisories/{advisory_id}"): "writer",
    ("GET", "/v1/advisories/{advisory_id}/revisions"): "anyone",
    ("POST", "/v1/advisories/{advisory_id}/withdraw"): "writer",
    ("GET", "/v1/screen"): "anyone",
    ("POST", "/v1/screen/batch"): "anyone",
    ("GET", "/v1/reviews"): "member",
    ("POST", "/v1/reviews"): "member",
    ("GET", "/v1/reviews/{review_id}"): "member",
    ("GET", "/v1/federation/feed"): "peer",
    ("POST", "/v1/federation/notify"): "peer",
    ("GET", "/v1/federation/status"): "operator",
    ("GET", "/metrics"): "operator",
    ("GET", "/v1/admin/orgs"): "operator",
    ("POST", "/v1/admin/orgs"): "operator",
    ("PATCH", "/v1/admin/orgs/{org_id}"): "operator",
    ("GET", "/v1/admin/users"): "operator",
    ("POST", "/v1/admin/users"): "operator",
    ("PATCH", "/v1/admin/users/{user_id}"): "operator",
    ("GET", "/v1/admin/tokens"): "operator",
    ("POST", "/v1/admin/tokens"): "operator",
    ("POST", "/v1/admin/tokens/{token_id}/revoke"): "operator",
    ("GET", "/v1/admin/peers"): "operator",
    ("POST", "/v1/admin/peers"): "operator",
    ("DELETE", "/v1/admin/peers/{node_id}"): "operator",
    ("GET", "/v1/admin/groups"): "operator",
    ("POST", "/v1/admin/groups"): "operator",
    # TAXII 2.1 (docs/taxii.md): anonymous callers get the TLP:CLEAR objects.
    ("GET", "/taxii2/"): "anyone",
    ("GET", "/taxii2/api/"): "anyone",
    ("GET", "/taxii2/api/collections/"): "anyone",
    ("GET", "/taxii2/api/collections/{collection_id}/"): "anyone",
    ("GET", "/taxii2/api/collections/{collection_id}/objects/"): "anyone",
    ("GET", "/taxii2/api/collections/{collection_id}/objects/{object_id}/"): "anyone",
    ("GET", "/taxii2/api/collections/{collection_id}/objects/{object_id}/versions/"): "anyone",
    ("GET", "/taxii2/api/collections/{collection_id}/manifest/"): "anyone",
    ("GET", "/taxii2/schemas/advisory-extension-1.json"): "public",
}

_IDS = {
    "advisory_id": "00000000-0000-4000-8000-000000000000",
    "review_id": "00000000-0000-4000-8000-000000000000",
    "org_id": "00000000-0000-4000-8000-000000000000",
    "user_id": "00000000-0000-4000-8000-000000000000",
    "token_id": "0000000000000000",
    "node_id": "zz",
    "collection_id": "00000000-0000-4000-8000-000000000000",
    "object_id": "report--00000000-0000-4000-8000-000000000000",
}
# A body that is valid where one is needed, so a refusal is about the caller, not the body.
_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/advisories"): advisory_payload(),
    ("PATCH", "/v1/advisories/{advisory_id}"): {"base_revision": 1, "risk": "high"},
    ("POST", "/v1/advisories/{advisory_id}/withdraw"): {"base_revision": 1, "reason": "Merged."},
    ("POST", "/v1/admin/orgs"): {"name": "Intruder Institute", "kind": "university"},
    ("PATCH", "/v1/admin/orgs/{org_id}"): {"vetted_until": "2099-01-01"},
    ("POST", "/v1/admin/users"): {
        "email": "intruder@example.edu",
        "org_id": _IDS["org_id"],
        "role": "analyst",
    },
    ("PATCH", "/v1/admin/users/{user_id}"): {"role": "analyst"},
    ("POST", "/v1/admin/tokens"): {"user_id": _IDS["user_id"]},
    ("POST", "/v1/admin/peers"): {"node_id": "au", "public_key": AU_KEY, "kid": "au-2026-01"},
    ("POST", "/v1/admin/groups"): {"name": "five-eyes", "members": ["test"]},
    ("POST", "/v1/screen/batch"): ["Harbin Institute of Technology"],
    ("POST", "/v1/reviews"): {
        "partners": ["Harbin Institute of Technology"],
        "research_area": "Materials for turbine blades",
        "applications": "Civil aviation engines",
        "non_public_resources": {"kinds": ["none"]},
    },
}


_QUERIES: dict[tuple[str, str], dict[str, str]] = {("GET", "/v1/screen"): {"q": "HIT"}}


def _call(
    client: TestClient, method: str, route: str, headers: dict[str, str], **ids: str
) -> Response:
    return client.request(
        method,
        route.format(**(_IDS | ids)),
        params=_QUERIES.get((method, route)),
        json=_BODIES.get((method, route)),
        headers=headers,
    )


def _routes(audience: str) -> list[tuple[str, str]]:
    return [route for route, who in AUDIENCE.items() if who == audience]


def test_the_table_covers_the_published_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    published = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert published == set(AUDIENCE), "give every endpoint its audience in AUDIENCE"


def test_a_bad_token_is_refused_everywhere_it_is_read(client: TestClient, members: Members) -> None:
    # A wrong token is never treated as anonymous, not even where anonymous callers are welcome.
    for method, route in [r for r, who in AUDIENCE.items() if who not in ("public", "peer")]:
        response = _call(client, method, route, bearer("trex_0000000000000000_nope"))
        assert response.status_code == 401, (method, route, response.text)
        if route.startswith("/taxii2/"):
            # TAXII clients read TAXII error resources, not problem documents.
            assert response.json()["http_status"] == "401"
            assert response.headers["www-authenticate"].startswith("Bearer")
        else:
            assert_unauthenticated(response)


@pytest.mark.parametrize("audience", ["member", "writer", "operator"])
def test_anonymous_callers_are_asked_to_sign_in(
    client: TestClient, members: Members, audience: str
) -> None:
    for method, route in _routes(audience):
        response = _call(client, method, route, {})
        assert response.status_code == 401, (method, route, response.text)
        assert_unauthenticated(response)


def test_readers_do_not_write_or_administer(client: TestClient, members: Members) -> None:
    # An advisory the reader sees: for one it does not, the answer is 404 (absent).
    visible = post_advisory(client, members.auth(ANALYST))
    for method, route in _routes("writer") + _routes("operator"):
        response = _call(client, method, route, members.auth(READER), advisory_id=visible["id"])
        assert response.status_code == 403, (method, route, response.text)
        assert_problem(response, 403)


def test_operators_do_not_read_members_work(client: TestClient, members: Members) -> None:
    # Operators run the node; reviews are a member org's own business.
    for method, route in [r for r in _routes("member") if r[1].startswith("/v1/reviews")]:
        response = _call(client, method, route, members.auth(OPERATOR))
        assert response.status_code == 403, (method, route, response.text)


def test_peer_endpoints_refuse_bearer_tokens_and_unsigned_calls(
    client: TestClient, members: Members
) -> None:
    for method, route in _routes("peer"):
        for headers in ({}, members.auth(OPERATOR)):
            response = _call(client, method, route, headers)
            assert response.status_code == 401, (method, route, response.text)
            assert_problem(response, 401)


@pytest.mark.parametrize("audience", ["public", "anyone"])
def test_open_endpoints_answer_anonymous_callers(
    client: TestClient, members: Members, audience: str
) -> None:
    for method, route in _routes(audience):
        response = _call(client, method, route, {})
        # 404 for the made-up advisory id: absent and invisible look the same.
        assert response.status_code in (200, 404), (method, route, response.text)
