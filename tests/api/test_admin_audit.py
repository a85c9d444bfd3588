"""Every administrative change through the API lands in the audit log; refused ones do not."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.audit.chain import entries, verified
from tests.factories import Members

OPERATOR = "operator@node.example"


def test_admin_changes_are_audited_with_the_operator_as_actor(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    before = len(entries(session_factory))
    org = client.post(
        "/v1/admin/orgs",
        json={
            "name": "Northern University",
            "kind": "university",
            "email_domains": ["north.example"],
        },
        headers=members.auth(OPERATOR),
    ).json()
    user = client.post(
        "/v1/admin/users",
        json={"email": "r@north.example", "org_id": org["id"], "role": "reader"},
        headers=members.auth(OPERATOR),
    ).json()
    client.patch(
        f"/v1/admin/orgs/{org['id']}",
        json={"vetted_until": "2030-01-01"},
        headers=members.auth(OPERATOR),
    ).raise_for_status()
    client.patch(
        f"/v1/admin/users/{user['id']}", json={"role": "analyst"}, headers=members.auth(OPERATOR)
    ).raise_for_status()
    token = client.post(
        "/v1/admin/tokens", json={"user_id": user["id"]}, headers=members.auth(OPERATOR)
    ).json()
    client.post(
        f"/v1/admin/tokens/{token['id']}/revoke", headers=members.auth(OPERATOR)
    ).raise_for_status()

    log = entries(session_factory)[before:]
    assert [(e.action, e.target) for e in log] == [
        ("admin.org.add", org["id"]),
        ("admin.user.add", user["id"]),
        ("admin.org.update", org["id"]),
        ("admin.user.update", user["id"]),
        ("admin.token.create", token["id"]),
        ("admin.token.revoke", token["id"]),
    ]
    assert {e.actor for e in log} == {OPERATOR}
    assert log[2].detail == {"vetted_until": "2030-01-01"}
    # The token's text is shown to the operator once and never kept, not even in the log.
    assert all(token["token"] not in str(e.detail) for e in log)
    assert verified(session_factory).count == len(entries(session_factory))


def test_refused_admin_calls_leave_no_entry(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    before = entries(session_factory)
    refused = client.post(
        "/v1/admin/orgs",
        json={"name": "X", "kind": "university"},
        headers=members.auth("reader@example.edu"),
    )
    invalid = client.post(
        "/v1/admin/orgs", json={"name": "X", "kind": "castle"}, headers=members.auth(OPERATOR)
    )
    assert (refused.status_code, invalid.status_code) == (403, 422)
    assert entries(session_factory) == before


def test_a_read_only_operator_token_looks_but_never_changes(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    operator_id = client.get("/v1/me", headers=members.auth(OPERATOR)).json()["user_id"]
    looking = client.post(
        "/v1/admin/tokens",
        json={"user_id": operator_id, "read_only": True},
        headers=members.auth(OPERATOR),
    ).json()["token"]
    headers = {"Authorization": f"Bearer {looking}"}
    before = entries(session_factory)

    assert client.get("/v1/admin/orgs", headers=headers).status_code == 200
    assert client.get("/v1/admin/users", headers=headers).status_code == 200
    refused = client.post("/v1/admin/orgs", json={"name": "Y", "kind": "company"}, headers=headers)
    assert refused.status_code == 403
    assert "read-only" in refused.json()["detail"]
    assert entries(session_factory) == before
