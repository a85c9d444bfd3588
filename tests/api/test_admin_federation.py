"""``/v1/admin/peers`` and ``/v1/admin/groups``: peers and sharing groups over HTTP.

Pinning with a URL talks to a real node (``trex-node serve`` on loopback, its key rotated once)
whose descriptor lists the key an operator was given out of band.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from federation.keys import b64url_encode
from service.settings import Settings
from tests.audit.chain import entries, verified
from tests.factories import Members, assert_problem
from tests.federation.cluster import Node, cluster
from tests.node_process import free_port

OPERATOR = "operator@node.example"
READER = "reader@example.edu"
ANALYST = "analyst@example.edu"
# A key as an operator receives it: 32 raw bytes, base64url without padding.
AU_KEY = b64url_encode(bytes(range(32)))
AU_FINGERPRINT = "SHA256:" + hashlib.sha256(bytes(range(32))).hexdigest()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No sync loop in the node under test: it would pull from the peers added here and change
    # their last_error and counts while a test reads them.
    return settings.model_copy(update={"sync_interval_seconds": 0})


@pytest.fixture
def operator(members: Members) -> dict[str, str]:
    return members.auth(OPERATOR)


@pytest.fixture
def read_only_operator(client: TestClient, operator: dict[str, str]) -> dict[str, str]:
    operator_id = client.get("/v1/me", headers=operator).json()["user_id"]
    response = client.post(
        "/v1/admin/tokens", json={"user_id": operator_id, "read_only": True}, headers=operator
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


class Rotated:
    """A served node ``uk`` that rotated its key once: ``old`` signed the statement for ``new``."""

    def __init__(self, node: Node, new_kid: str, new_key: str, new_fingerprint: str) -> None:
        self.url = node.url
        self.old_kid, self.old_fingerprint = node.kid, node.fingerprint
        self.new_kid, self.new_key, self.new_fingerprint = new_kid, new_key, new_fingerprint


@pytest.fixture(scope="module")
def uk(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Rotated]:
    with cluster(tmp_path_factory.mktemp("remote"), request) as nodes:
        node = nodes.add("uk")
        printed = {}
        for line in node.run("keys", "rotate").stdout.splitlines():
            label, _, value = line.strip().rpartition(" ")
            printed[label.strip()] = value
        yield Rotated(node, printed["kid"], printed["public key"], printed["fingerprint"])


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def listed_peers(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/admin/peers", headers=headers)
    assert response.status_code == 200, response.text
    return {peer["node_id"]: peer for peer in response.json()}


def listed_groups(client: TestClient, headers: dict[str, str]) -> dict[str, list[str]]:
    response = client.get("/v1/admin/groups", headers=headers)
    assert response.status_code == 200, response.text
    return {group["name"]: group["members"] for group in response.json()}


def key_only(node_id: str = "au", kid: str = "au-2026-01", key: str = AU_KEY) -> dict[str, str]:
    return {"node_id": node_id, "public_key": key, "kid": kid}


# --- who may call ---------------------------------------------------------------------------

CHANGES = [
    pytest.param("POST", "/v1/admin/peers", key_only(), id="add-peer"),
    pytest.param("DELETE", "/v1/admin/peers/au", None, id="remove-peer"),
    pytest.param(
        "POST", "/v1/admin/groups", {"name": "five-eyes", "members": ["test"]}, id="add-group"
    ),
]
LOOKS = [
    pytest.param("GET", "/v1/admin/peers", None, id="list-peers"),
    pytest.param("GET", "/v1/admin/groups", None, id="list-groups"),
]


@pytest.mark.parametrize(("method", "path", "body"), [*CHANGES, *LOOKS])
def test_anonymous_callers_and_non_operators_are_refused(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    method: str,
    path: str,
    body: Any,
) -> None:
    before = entries(session_factory)

    anonymous = client.request(method, path, json=body)
    assert_problem(anonymous, 401)
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    for email in (READER, ANALYST):
        assert_problem(client.request(method, path, json=body, headers=members.auth(email)), 403)

    assert entries(session_factory) == before


def test_a_read_only_operator_token_looks_but_never_changes(
    client: TestClient,
    operator: dict[str, str],
    read_only_operator: dict[str, str],
    session_factory: sessionmaker[Session],
) -> None:
    created(client.post("/v1/admin/peers", json=key_only(), headers=operator))
    created(
        client.post(
            "/v1/admin/groups", json={"name": "five-eyes", "members": ["au"]}, headers=operator
        )
    )
    before = entries(session_factory)

    assert set(listed_peers(client, read_only_operator)) == {"au"}
    assert listed_groups(client, read_only_operator) == {"five-eyes": ["au"]}
    for method, path, body in [
        ("POST", "/v1/admin/peers", key_only("nz", "nz-2026-01")),
        ("DELETE", "/v1/admin/peers/au", None),
        ("POST", "/v1/admin/groups", {"name": "five-eyes", "members": ["nz"]}),
    ]:
        refused = client.request(method, path, json=body, headers=read_only_operator)
        assert "read-only" in assert_problem(refused, 403)["detail"]

    assert set(listed_peers(client, operator)) == {"au"}
    assert listed_groups(client, operator) == {"five-eyes": ["au"]}
    assert entries(session_factory) == before


# --- peers without a URL --------------------------------------------------------------------


def test_pin_a_key_only_peer_list_it_and_remove_it(
    client: TestClient, operator: dict[str, str]
) -> None:
    assert listed_peers(client, operator) == {}

    peer = created(client.post("/v1/admin/peers", json=key_only(), headers=operator))

    assert peer == {
        "node_id": "au",
        "url": None,
        "status": "active",
        "keys": [{"kid": "au-2026-01", "fingerprint": AU_FINGERPRINT, "source": "pinned"}],
        "last_success_at": None,
        "accepted": 0,
        "rejected": 0,
        "last_error": None,
    }
    assert listed_peers(client, operator) == {"au": peer}

    removed = client.delete("/v1/admin/peers/au", headers=operator)

    assert removed.status_code == 204, removed.text
    assert removed.content == b""
    assert listed_peers(client, operator) == {}
    assert_problem(client.delete("/v1/admin/peers/au", headers=operator), 404)
    # Its key is forgotten: the same kid may now be pinned to another key (a conflict before).
    other = b64url_encode(bytes(range(1, 33)))
    assert (
        client.post("/v1/admin/peers", json=key_only(key=other), headers=operator).status_code
        == 201
    )


def test_removing_an_unknown_peer_is_404(client: TestClient, operator: dict[str, str]) -> None:
    assert_problem(client.delete("/v1/admin/peers/nobody", headers=operator), 404)


def test_without_a_url_the_kid_is_required(client: TestClient, operator: dict[str, str]) -> None:
    body = {"node_id": "au", "public_key": AU_KEY}

    assert_problem(client.post("/v1/admin/peers", json=body, headers=operator), 422, "kid")
    assert listed_peers(client, operator) == {}


def test_adding_again_adds_keys_and_a_kid_pinned_to_another_key_is_refused(
    client: TestClient, operator: dict[str, str]
) -> None:
    created(client.post("/v1/admin/peers", json=key_only(), headers=operator))
    second = b64url_encode(bytes(range(1, 33)))

    again = created(
        client.post(
            "/v1/admin/peers", json=key_only(kid="au-2026-02", key=second), headers=operator
        )
    )
    clash = client.post("/v1/admin/peers", json=key_only(key=second), headers=operator)

    assert [k["kid"] for k in again["keys"]] == ["au-2026-01", "au-2026-02"]
    assert_problem(clash, 409)
    assert listed_peers(client, operator)["au"]["keys"] == again["keys"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(key_only(node_id="UK"), "node_id", id="upper-case-id"),
        pytest.param(key_only(node_id="1uk"), "node_id", id="id-starts-with-digit"),
        pytest.param(key_only(node_id="uk_1"), "node_id", id="underscore-id"),
        pytest.param(key_only(node_id="a" * 33), "node_id", id="long-id"),
        pytest.param(key_only(node_id="test"), "node_id", id="this-node"),
        pytest.param(key_only(key="not base64url!"), "public_key", id="not-base64url"),
        pytest.param(key_only(key=AU_KEY + "="), "public_key", id="padded"),
        pytest.param(key_only(key=b64url_encode(bytes(16))), "public_key", id="16-bytes"),
        pytest.param(key_only(key=""), "public_key", id="empty-key"),
        pytest.param({"node_id": "au", "kid": "au-1"}, "public_key", id="no-key"),
        pytest.param(key_only(kid=""), "kid", id="empty-kid"),
        pytest.param(key_only(kid="k" * 101), "kid", id="long-kid"),
        pytest.param(key_only(kid="au\x00"), "kid", id="nul-in-kid"),
        pytest.param({**key_only(), "url": "h" * 501}, "url", id="long-url"),
        pytest.param({**key_only(), "only_this_key": "perhaps"}, "only_this_key", id="bad-flag"),
        pytest.param({**key_only(), "status": "active"}, "status", id="extra-field"),
    ],
)
def test_bad_peer_is_422_naming_the_field(
    client: TestClient,
    operator: dict[str, str],
    session_factory: sessionmaker[Session],
    body: dict[str, Any],
    field: str,
) -> None:
    before = entries(session_factory)

    assert_problem(client.post("/v1/admin/peers", json=body, headers=operator), 422, field)

    assert listed_peers(client, operator) == {}
    assert entries(session_factory) == before


# --- peers with a URL -----------------------------------------------------------------------


def test_with_a_url_the_given_key_and_those_it_replaced_are_pinned(
    client: TestClient, operator: dict[str, str], uk: Rotated
) -> None:
    body = {"node_id": "uk", "url": uk.url, "public_key": uk.new_key}

    peer = created(client.post("/v1/admin/peers", json=body, headers=operator))

    assert peer["url"] == uk.url
    # The kid came from the descriptor; the old key is proven by the statement it signed.
    assert {k["kid"]: k["fingerprint"] for k in peer["keys"]} == {
        uk.new_kid: uk.new_fingerprint,
        uk.old_kid: uk.old_fingerprint,
    }
    assert listed_peers(client, operator)["uk"] == peer


def test_only_this_key_pins_the_given_key_alone(
    client: TestClient, operator: dict[str, str], uk: Rotated
) -> None:
    body = {"node_id": "uk", "url": uk.url, "public_key": uk.new_key, "only_this_key": True}

    peer = created(client.post("/v1/admin/peers", json=body, headers=operator))

    assert peer["keys"] == [
        {"kid": uk.new_kid, "fingerprint": uk.new_fingerprint, "source": "pinned"}
    ]


def test_a_key_the_node_does_not_list_is_422_naming_public_key(
    client: TestClient, operator: dict[str, str], uk: Rotated
) -> None:
    stranger = b64url_encode(os.urandom(32))
    body = {"node_id": "uk", "url": uk.url, "public_key": stranger}

    assert_problem(client.post("/v1/admin/peers", json=body, headers=operator), 422, "public_key")
    assert listed_peers(client, operator) == {}


def test_a_kid_the_node_does_not_give_that_key_is_422(
    client: TestClient, operator: dict[str, str], uk: Rotated
) -> None:
    body = {"node_id": "uk", "url": uk.url, "public_key": uk.new_key, "kid": uk.old_kid}

    assert_problem(client.post("/v1/admin/peers", json=body, headers=operator), 422, "public_key")
    assert listed_peers(client, operator) == {}


def test_a_node_that_calls_itself_otherwise_is_422_naming_node_id(
    client: TestClient, operator: dict[str, str], uk: Rotated
) -> None:
    body = {"node_id": "nz", "url": uk.url, "public_key": uk.new_key}

    problem = assert_problem(
        client.post("/v1/admin/peers", json=body, headers=operator), 422, "node_id"
    )
    assert "'uk'" in problem["detail"]
    assert listed_peers(client, operator) == {}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        pytest.param("http://127.0.0.1:{closed}", "refused", id="nothing-listening"),
        pytest.param("ftp://127.0.0.1", "protocol", id="not-http"),
        pytest.param("http://[::1", "", id="malformed"),
        pytest.param("http://" + "a" * 64 + ".example", "", id="label-too-long"),
    ],
)
def test_a_url_without_a_descriptor_is_422_naming_url_with_the_reason(
    client: TestClient, operator: dict[str, str], url: str, reason: str
) -> None:
    url = url.format(closed=free_port())
    body = {"node_id": "uk", "url": url, "public_key": AU_KEY}

    problem = assert_problem(
        client.post("/v1/admin/peers", json=body, headers=operator), 422, "url"
    )

    assert reason in problem["detail"].lower()
    assert url in problem["detail"]
    assert listed_peers(client, operator) == {}


def test_a_url_that_serves_no_descriptor_is_422_naming_url(
    client: TestClient, operator: dict[str, str], uk: Rotated
) -> None:
    body = {"node_id": "uk", "url": uk.url + "/v1/advisories", "public_key": uk.new_key}

    problem = assert_problem(
        client.post("/v1/admin/peers", json=body, headers=operator), 422, "url"
    )

    assert "404" in problem["detail"]


# --- groups ---------------------------------------------------------------------------------


def test_create_a_group_add_members_and_list(client: TestClient, operator: dict[str, str]) -> None:
    assert listed_groups(client, operator) == {}

    group = created(
        client.post(
            "/v1/admin/groups",
            json={"name": "five-eyes", "members": ["uk", "test", "uk"]},
            headers=operator,
        )
    )
    grown = created(
        client.post(
            "/v1/admin/groups",
            json={"name": "five-eyes", "members": ["ca", "uk"]},
            headers=operator,
        )
    )
    created(
        client.post(
            "/v1/admin/groups", json={"name": "nordic", "members": ["no"]}, headers=operator
        )
    )

    assert group == {"name": "five-eyes", "members": ["test", "uk"]}
    assert grown == {"name": "five-eyes", "members": ["ca", "test", "uk"]}
    assert listed_groups(client, operator) == {
        "five-eyes": ["ca", "test", "uk"],
        "nordic": ["no"],
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"name": "Five Eyes", "members": ["uk"]}, "name", id="bad-name"),
        pytest.param({"name": "five-eyes", "members": []}, "members", id="no-members"),
        pytest.param({"name": "five-eyes"}, "members", id="members-missing"),
        pytest.param({"name": "five-eyes", "members": ["uk", "UK"]}, "members.1", id="bad-member"),
        pytest.param({"name": "five-eyes", "members": "uk"}, "members", id="not-a-list"),
        pytest.param(
            {"name": "five-eyes", "members": ["uk"], "scope": "x"}, "scope", id="extra-field"
        ),
    ],
)
def test_bad_group_is_422_naming_the_field(
    client: TestClient, operator: dict[str, str], body: dict[str, Any], field: str
) -> None:
    assert_problem(client.post("/v1/admin/groups", json=body, headers=operator), 422, field)
    assert listed_groups(client, operator) == {}


# --- audit ----------------------------------------------------------------------------------


def test_peer_and_group_changes_are_audited_with_the_operator_as_actor(
    client: TestClient, operator: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    before = len(entries(session_factory))

    created(client.post("/v1/admin/peers", json=key_only(), headers=operator))
    created(
        client.post(
            "/v1/admin/groups",
            json={"name": "five-eyes", "members": ["test", "au"]},
            headers=operator,
        )
    )
    client.delete("/v1/admin/peers/au", headers=operator).raise_for_status()
    # Refused changes leave no entry.
    assert client.delete("/v1/admin/peers/au", headers=operator).status_code == 404
    assert (
        client.post("/v1/admin/peers", json=key_only(kid=""), headers=operator).status_code == 422
    )

    log = entries(session_factory)[before:]
    assert [(e.action, e.target, e.detail) for e in log] == [
        (
            "federation.peer.add",
            "au",
            {"url": None, "keys": [{"kid": "au-2026-01", "fingerprint": AU_FINGERPRINT}]},
        ),
        ("federation.group.add", "five-eyes", {"members": ["au", "test"]}),
        ("federation.peer.remove", "au", {}),
    ]
    assert {e.actor for e in log} == {OPERATOR}
    assert verified(session_factory).count == len(entries(session_factory))


def test_pinning_with_a_url_is_audited_with_every_key_pinned(
    client: TestClient,
    operator: dict[str, str],
    session_factory: sessionmaker[Session],
    uk: Rotated,
) -> None:
    before = len(entries(session_factory))
    body = {"node_id": "uk", "url": uk.url, "public_key": uk.new_key}

    created(client.post("/v1/admin/peers", json=body, headers=operator))

    (entry,) = entries(session_factory)[before:]
    assert (entry.action, entry.target, entry.actor) == ("federation.peer.add", "uk", OPERATOR)
    assert entry.detail["url"] == uk.url
    assert sorted(entry.detail["keys"], key=lambda k: k["kid"]) == sorted(
        [
            {"kid": uk.new_kid, "fingerprint": uk.new_fingerprint},
            {"kid": uk.old_kid, "fingerprint": uk.old_fingerprint},
        ],
        key=lambda k: k["kid"],
    )
