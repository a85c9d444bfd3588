"""``/v1/admin``: orgs, users and tokens, as an operator uses them (SPEC section 6).

Who may call each endpoint is checked here too: every endpoint refuses anonymous callers (401)
and members who are not operators (403). ``tests/access/test_attacks.py`` sends every admin
endpoint every kind of caller (bad tokens, each non-operator role, a read-only operator token)
and checks that the refused ones changed nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.factories import Members, assert_problem

OPERATOR = "operator@node.example"
READER = "reader@example.edu"
ANALYST = "analyst@example.edu"
EXAMPLE = "University of Example"
GOV = "Office of Research Security"


@pytest.fixture
def operator(members: Members) -> dict[str, str]:
    return members.auth(OPERATOR)


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def parse_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def assert_refused_to_non_operators(
    client: TestClient, members: Members, method: str, path: str, body: Any = None
) -> None:
    """Anonymous: 401 with a challenge; a reader and an analyst: 403."""
    anonymous = client.request(method, path, json=body)
    assert_problem(anonymous, 401)
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    for email in (READER, ANALYST):
        assert_problem(client.request(method, path, json=body, headers=members.auth(email)), 403)


# --- orgs -----------------------------------------------------------------------------------------


def test_create_and_list_orgs(
    client: TestClient, members: Members, operator: dict[str, str]
) -> None:
    body = {
        "name": "Northern University",
        "kind": "university",
        "vetted_until": "2099-06-30",
        "email_domains": ["  North.EXAMPLE ", "@staff.north.example", "north.example"],
    }
    assert_refused_to_non_operators(client, members, "POST", "/v1/admin/orgs", body)
    assert_refused_to_non_operators(client, members, "GET", "/v1/admin/orgs")
    assert "Northern University" not in {
        o["name"] for o in ok(client.get("/v1/admin/orgs", headers=operator))
    }

    org = created(client.post("/v1/admin/orgs", json=body, headers=operator))

    assert org["name"] == "Northern University"
    assert (org["kind"], org["status"]) == ("university", "active")
    assert (org["vetted"], org["vetted_until"]) == (True, "2099-06-30")
    # Lower case, without "@" or spaces, once each, sorted.
    assert org["email_domains"] == ["north.example", "staff.north.example"]
    assert abs(parse_time(org["created_at"]) - datetime.now(UTC)) < timedelta(minutes=1)
    listed = {o["id"]: o for o in ok(client.get("/v1/admin/orgs", headers=operator))}
    assert listed[org["id"]] == org
    assert set(members.org_ids.values()) < set(listed)
    assert listed[members.org_ids["Example Polytechnic"]]["vetted"] is False


def test_an_org_without_vetting_is_not_vetted(client: TestClient, operator: dict[str, str]) -> None:
    org = created(
        client.post(
            "/v1/admin/orgs", json={"name": "Plain Co", "kind": "company"}, headers=operator
        )
    )

    assert (org["vetted"], org["vetted_until"], org["email_domains"]) == (False, None, [])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"name": "X Institute", "kind": "ministry"}, "kind", id="bad-kind"),
        pytest.param({"name": "X Institute"}, "kind", id="no-kind"),
        pytest.param({"name": "   ", "kind": "university"}, "name", id="blank-name"),
        pytest.param({"kind": "university"}, "name", id="no-name"),
        pytest.param(
            {"name": "X Institute", "kind": "other", "vetted_until": "soon"},
            "vetted_until",
            id="bad-date",
        ),
        pytest.param(
            {"name": "X Institute", "kind": "other", "email_domains": ["not a domain"]},
            "email_domains",
            id="bad-domain",
        ),
        pytest.param(
            {"name": "X Institute", "kind": "other", "email_domains": ["localhost"]},
            "email_domains",
            id="single-label-domain",
        ),
        pytest.param(
            {"name": "X Institute", "kind": "other", "status": "active"}, "status", id="extra"
        ),
    ],
)
def test_bad_org_is_422_naming_the_field(
    client: TestClient, operator: dict[str, str], body: dict[str, Any], field: str
) -> None:
    before = ok(client.get("/v1/admin/orgs", headers=operator))

    response = client.post("/v1/admin/orgs", json=body, headers=operator)

    problem = assert_problem(response, 422)
    assert any(e["field"].split(".")[0] == field for e in problem["errors"]), problem
    assert ok(client.get("/v1/admin/orgs", headers=operator)) == before


def test_org_name_and_domains_are_unique(
    client: TestClient, members: Members, operator: dict[str, str]
) -> None:
    created(
        client.post(
            "/v1/admin/orgs",
            json={
                "name": "Owner University",
                "kind": "university",
                "email_domains": ["own.example"],
            },
            headers=operator,
        )
    )
    before = ok(client.get("/v1/admin/orgs", headers=operator))

    same_name = client.post(
        "/v1/admin/orgs", json={"name": "Owner University", "kind": "other"}, headers=operator
    )
    taken_domain = client.post(
        "/v1/admin/orgs",
        json={"name": "Squatter", "kind": "company", "email_domains": ["OWN.example"]},
        headers=operator,
    )
    patched_to_taken = client.patch(
        f"/v1/admin/orgs/{members.org_ids[EXAMPLE]}",
        json={"email_domains": ["example.edu", "@own.example"]},
        headers=operator,
    )

    for response in (same_name, taken_domain, patched_to_taken):
        assert_problem(response, 409)
    assert ok(client.get("/v1/admin/orgs", headers=operator)) == before


def test_patch_org(client: TestClient, members: Members, operator: dict[str, str]) -> None:
    path = f"/v1/admin/orgs/{members.org_ids['Example Polytechnic']}"
    assert_refused_to_non_operators(client, members, "PATCH", path, {"vetted_until": "2099-01-01"})

    vetted = ok(client.patch(path, json={"vetted_until": "2099-01-01"}, headers=operator))
    assert (vetted["vetted"], vetted["vetted_until"]) == (True, "2099-01-01")
    assert client.get("/v1/me", headers=members.auth("reader@poly.example")).json()["vetted"]

    domains = ok(
        client.patch(
            path, json={"email_domains": ["Poly.example", "b.poly.example"]}, headers=operator
        )
    )
    assert domains["email_domains"] == ["b.poly.example", "poly.example"]
    # Replacing the domains with a set that keeps some of them.
    kept = ok(
        client.patch(
            path, json={"email_domains": ["poly.example", "c.poly.example"]}, headers=operator
        )
    )
    assert kept["email_domains"] == ["c.poly.example", "poly.example"]
    # Fields not sent are left alone; `{}` changes nothing.
    assert ok(client.patch(path, json={}, headers=operator)) == kept
    suspended = ok(client.patch(path, json={"status": "suspended"}, headers=operator))
    assert (suspended["status"], suspended["vetted_until"]) == ("suspended", "2099-01-01")
    assert suspended["email_domains"] == kept["email_domains"]

    ended = ok(
        client.patch(path, json={"vetted_until": None, "status": "active"}, headers=operator)
    )
    assert (ended["vetted"], ended["vetted_until"], ended["status"]) == (False, None, "active")
    cleared = ok(client.patch(path, json={"email_domains": []}, headers=operator))
    assert cleared["email_domains"] == []
    listed = {o["id"]: o for o in ok(client.get("/v1/admin/orgs", headers=operator))}
    assert listed[ended["id"]] == cleared


def test_vetting_ends_at_the_date_set(
    client: TestClient, members: Members, operator: dict[str, str]
) -> None:
    path = f"/v1/admin/orgs/{members.org_ids[EXAMPLE]}"
    today = datetime.now(UTC).date()

    for until, vetted in (
        (today + timedelta(days=1), True),
        (today, False),
        (today - timedelta(days=1), False),
    ):
        org = ok(client.patch(path, json={"vetted_until": until.isoformat()}, headers=operator))
        assert org["vetted"] is vetted, until
        me = client.get("/v1/me", headers=members.auth(READER)).json()
        assert me["vetted"] is vetted, until
        assert me["org"]["vetted_until"] == until.isoformat()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "deleted"}, "status"),
        ({"kind": "government"}, "kind"),
        ({"name": "Renamed"}, "name"),
        ({"vetted_until": "2099-13-01"}, "vetted_until"),
        ({"email_domains": ["bad domain.example"]}, "email_domains"),
    ],
)
def test_bad_org_patch_is_422_naming_the_field(
    client: TestClient,
    members: Members,
    operator: dict[str, str],
    body: dict[str, Any],
    field: str,
) -> None:
    before = ok(client.get("/v1/admin/orgs", headers=operator))

    response = client.patch(
        f"/v1/admin/orgs/{members.org_ids[EXAMPLE]}", json=body, headers=operator
    )

    problem = assert_problem(response, 422)
    assert any(e["field"].split(".")[0] == field for e in problem["errors"]), problem
    assert ok(client.get("/v1/admin/orgs", headers=operator)) == before


def test_patch_unknown_org_is_404(client: TestClient, operator: dict[str, str]) -> None:
    response = client.patch(
        "/v1/admin/orgs/00000000-0000-4000-8000-000000000000",
        json={"vetted_until": None},
        headers=operator,
    )

    assert_problem(response, 404)


# --- users ----------------------------------------------------------------------------------------


def test_create_list_and_patch_users(
    client: TestClient, members: Members, operator: dict[str, str]
) -> None:
    example_id = members.org_ids[EXAMPLE]
    body = {"email": "  New.Analyst@Example.EDU ", "org_id": example_id, "role": "analyst"}
    assert_refused_to_non_operators(client, members, "POST", "/v1/admin/users", body)
    assert_refused_to_non_operators(client, members, "GET", "/v1/admin/users")

    user = created(client.post("/v1/admin/users", json=body, headers=operator))

    assert user["email"] == "new.analyst@example.edu"
    assert (user["org_id"], user["org_name"]) == (example_id, EXAMPLE)
    assert (user["role"], user["status"]) == ("analyst", "active")
    everyone = ok(client.get("/v1/admin/users", headers=operator))
    assert user in everyone
    assert {u["email"] for u in everyone} >= set(members.tokens)
    of_example = ok(client.get("/v1/admin/users", params={"org_id": example_id}, headers=operator))
    assert {u["email"] for u in of_example} == {
        "new.analyst@example.edu",
        READER,
        ANALYST,
    }

    path = f"/v1/admin/users/{user['id']}"
    assert_refused_to_non_operators(client, members, "PATCH", path, {"role": "reader"})
    demoted = ok(client.patch(path, json={"role": "reader"}, headers=operator))
    assert (demoted["role"], demoted["status"]) == ("reader", "active")
    disabled = ok(client.patch(path, json={"status": "disabled"}, headers=operator))
    assert (disabled["role"], disabled["status"]) == ("reader", "disabled")
    assert ok(client.patch(path, json={}, headers=operator)) == disabled
    listed = {u["id"]: u for u in ok(client.get("/v1/admin/users", headers=operator))}
    assert listed[user["id"]] == disabled


def test_a_publisher_belongs_to_a_government_org(
    client: TestClient, members: Members, operator: dict[str, str]
) -> None:
    before = ok(client.get("/v1/admin/users", headers=operator))

    in_university = client.post(
        "/v1/admin/users",
        json={"email": "pub@example.edu", "org_id": members.org_ids[EXAMPLE], "role": "publisher"},
        headers=operator,
    )
    reader_id = next(u["id"] for u in before if u["email"] == READER)
    promoted = client.patch(
        f"/v1/admin/users/{reader_id}", json={"role": "publisher"}, headers=operator
    )

    assert_problem(in_university, 422, "role")
    assert_problem(promoted, 422, "role")
    assert ok(client.get("/v1/admin/users", headers=operator)) == before
    in_government = client.post(
        "/v1/admin/users",
        json={"email": "pub@gov.example", "org_id": members.org_ids[GOV], "role": "publisher"},
        headers=operator,
    )
    assert created(in_government)["role"] == "publisher"


def test_user_email_is_unique_whatever_its_case(
    client: TestClient, members: Members, operator: dict[str, str]
) -> None:
    before = ok(client.get("/v1/admin/users", headers=operator))

    for email in (READER, "Reader@Example.edu", " reader@example.edu "):
        response = client.post(
            "/v1/admin/users",
            json={"email": email, "org_id": members.org_ids[GOV], "role": "reader"},
            headers=operator,
        )
        assert_problem(response, 409)

    assert ok(client.get("/v1/admin/users", headers=operator)) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "no-at-sign", "role": "reader"}, "email"),
        ({"email": "x@localhost", "role": "reader"}, "email"),
        ({"email": "x@example.edu", "role": "admin"}, "role"),
        ({"email": "x@example.edu"}, "role"),
        ({"email": "x@example.edu", "role": "reader", "status": "active"}, "status"),
    ],
)
def test_bad_user_is_422_naming_the_field(
    client: TestClient,
    members: Members,
    operator: dict[str, str],
    body: dict[str, Any],
    field: str,
) -> None:
    before = ok(client.get("/v1/admin/users", headers=operator))

    response = client.post(
        "/v1/admin/users", json={"org_id": members.org_ids[EXAMPLE], **body}, headers=operator
    )

    assert_problem(response, 422, field)
    assert ok(client.get("/v1/admin/users", headers=operator)) == before


def test_users_of_unknown_orgs_and_unknown_users_are_404(
    client: TestClient, operator: dict[str, str]
) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"

    no_org = client.post(
        "/v1/admin/users",
        json={"email": "x@example.edu", "org_id": unknown, "role": "reader"},
        headers=operator,
    )
    no_user = client.patch(f"/v1/admin/users/{unknown}", json={"role": "reader"}, headers=operator)

    assert_problem(no_org, 404)
    assert_problem(no_user, 404)


# --- tokens ---------------------------------------------------------------------------------------


def _user_id(client: TestClient, operator: dict[str, str], email: str) -> str:
    users = ok(client.get("/v1/admin/users", headers=operator))
    return str(next(u["id"] for u in users if u["email"] == email))


def test_a_created_token_works_and_is_shown_once(
    client: TestClient, members: Members, operator: dict[str, str]
) -> None:
    user_id = _user_id(client, operator, ANALYST)
    body = {"user_id": user_id, "ttl_days": 7, "label": " grants system ", "read_only": True}
    assert_refused_to_non_operators(client, members, "POST", "/v1/admin/tokens", body)
    assert_refused_to_non_operators(client, members, "GET", "/v1/admin/tokens")

    token = created(client.post("/v1/admin/tokens", json=body, headers=operator))

    text = token["token"]
    assert text.startswith(f"trex_{token['id']}_")
    assert (token["user_id"], token["email"]) == (user_id, ANALYST)
    assert (token["label"], token["read_only"]) == ("grants system", True)
    assert token["revoked_at"] is None
    assert token["last_used_at"] is None
    lifetime = parse_time(token["expires_at"]) - parse_time(token["created_at"])
    assert lifetime == timedelta(days=7)
    # It works, for that user, with the scope it was given.
    me = ok(client.get("/v1/me", headers={"Authorization": f"Bearer {text}"}))
    assert (me["email"], me["role"], me["read_only"]) == (ANALYST, "analyst", True)
    # Never shown again: the list holds metadata only, in every form it can be asked for.
    secret = text.split("_", 2)[2]
    for params in ({}, {"user_id": user_id}):
        response = client.get("/v1/admin/tokens", params=params, headers=operator)
        assert secret not in response.text
        listed = {t["id"]: t for t in ok(response)}
        assert "token" not in listed[token["id"]]
        assert listed[token["id"]]["label"] == "grants system"
        assert listed[token["id"]]["read_only"] is True
    # A full-scope token by default, with the node's default lifetime.
    default = created(client.post("/v1/admin/tokens", json={"user_id": user_id}, headers=operator))
    assert (default["read_only"], default["label"]) == (False, None)
    default_lifetime = parse_time(default["expires_at"]) - parse_time(default["created_at"])
    assert default_lifetime == timedelta(days=90)


def test_last_use_is_recorded(
    client: TestClient, members: Members, operator: dict[str, str]
) -> None:
    user_id = _user_id(client, operator, READER)
    token = created(client.post("/v1/admin/tokens", json={"user_id": user_id}, headers=operator))

    def last_used() -> str | None:
        tokens = ok(client.get("/v1/admin/tokens", params={"user_id": user_id}, headers=operator))
        value: str | None = next(t for t in tokens if t["id"] == token["id"])["last_used_at"]
        return value

    assert last_used() is None
    before_use = datetime.now(UTC)
    assert client.get("/v1/advisories", headers={"Authorization": f"Bearer {token['token']}"})

    used = last_used()
    assert used is not None
    assert before_use - timedelta(seconds=1) <= parse_time(used) <= datetime.now(UTC)


def test_tokens_list_newest_first_and_filter_by_user(
    client: TestClient, members: Members, operator: dict[str, str]
) -> None:
    reader_id = _user_id(client, operator, READER)
    first = created(
        client.post(
            "/v1/admin/tokens", json={"user_id": reader_id, "label": "one"}, headers=operator
        )
    )
    second = created(
        client.post(
            "/v1/admin/tokens", json={"user_id": reader_id, "label": "two"}, headers=operator
        )
    )

    of_reader = ok(client.get("/v1/admin/tokens", params={"user_id": reader_id}, headers=operator))
    everyone = ok(client.get("/v1/admin/tokens", headers=operator))

    assert {t["user_id"] for t in of_reader} == {reader_id}
    assert [t["id"] for t in of_reader][:2] == [second["id"], first["id"]]
    # The fixture's own token for the reader is older.
    assert len(of_reader) == 3
    assert {t["email"] for t in everyone} == set(members.tokens)


def test_revoke_through_the_api(
    client: TestClient, members: Members, operator: dict[str, str]
) -> None:
    user_id = _user_id(client, operator, READER)
    token = created(client.post("/v1/admin/tokens", json={"user_id": user_id}, headers=operator))
    path = f"/v1/admin/tokens/{token['id']}/revoke"
    assert_refused_to_non_operators(client, members, "POST", path)
    assert (
        client.get("/v1/me", headers={"Authorization": f"Bearer {token['token']}"}).status_code
        == 200
    )

    revoked = ok(client.post(path, headers=operator))

    assert revoked["id"] == token["id"]
    assert revoked["revoked_at"] is not None
    refused = client.get("/v1/me", headers={"Authorization": f"Bearer {token['token']}"})
    assert_problem(refused, 401)
    listed = {t["id"]: t for t in ok(client.get("/v1/admin/tokens", headers=operator))}
    assert listed[token["id"]]["revoked_at"] == revoked["revoked_at"]
    assert_problem(client.post("/v1/admin/tokens/0000000000000000/revoke", headers=operator), 404)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"user_id": "00000000-0000-4000-8000-000000000000"}, 404, None),
        ({"user_id": "{reader}", "ttl_days": 0}, 422, "ttl_days"),
        ({"user_id": "{reader}", "ttl_days": 100000}, 422, "ttl_days"),
        ({"user_id": "{reader}", "label": "x" * 101}, 422, "label"),
        ({"user_id": "{reader}", "read_only": "maybe"}, 422, "read_only"),
        ({"user_id": "{reader}", "token": "trex_mine"}, 422, "token"),
        ({}, 422, "user_id"),
    ],
)
def test_bad_token_requests(
    client: TestClient,
    operator: dict[str, str],
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    reader_id = _user_id(client, operator, READER)
    body = {k: v.format(reader=reader_id) if isinstance(v, str) else v for k, v in body.items()}
    before = ok(client.get("/v1/admin/tokens", headers=operator))

    response = client.post("/v1/admin/tokens", json=body, headers=operator)

    assert_problem(response, status, field)
    assert len(ok(client.get("/v1/admin/tokens", headers=operator))) == len(before)


def test_no_token_for_a_disabled_user_or_a_suspended_org(
    client: TestClient, members: Members, operator: dict[str, str]
) -> None:
    reader_id = _user_id(client, operator, READER)
    gov_id = _user_id(client, operator, "publisher@gov.example")
    ok(client.patch(f"/v1/admin/users/{reader_id}", json={"status": "disabled"}, headers=operator))
    ok(
        client.patch(
            f"/v1/admin/orgs/{members.org_ids[GOV]}", json={"status": "suspended"}, headers=operator
        )
    )
    before = ok(client.get("/v1/admin/tokens", headers=operator))

    for user_id in (reader_id, gov_id):
        response = client.post("/v1/admin/tokens", json={"user_id": user_id}, headers=operator)
        assert_problem(response, 409)

    assert ok(client.get("/v1/admin/tokens", headers=operator)) == before


# --- text the database cannot or should not hold ---------------------------------------------


@pytest.mark.parametrize(
    "character",
    [
        pytest.param("\x00", id="nul"),
        pytest.param("\x07", id="bel"),
        pytest.param("\x1b", id="esc"),
    ],
)
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/admin/orgs", {"name": "Evil{c}Org", "kind": "university"}, "name"),
        (
            "/v1/admin/orgs",
            {"name": "Evil Org", "kind": "university", "email_domains": ["evil{c}.example"]},
            "email_domains",
        ),
        ("/v1/admin/users", {"email": "evil{c}@example.edu", "role": "reader"}, "email"),
        ("/v1/admin/tokens", {"label": "evil{c}label"}, "label"),
    ],
)
def test_control_characters_are_422_naming_the_field(
    client: TestClient,
    members: Members,
    operator: dict[str, str],
    path: str,
    body: dict[str, Any],
    field: str,
    character: str,
) -> None:
    """Never meaningful in a name, and PostgreSQL cannot store NUL at all (that was a 500)."""
    filled = {
        k: [x.format(c=character) for x in v] if isinstance(v, list) else v.format(c=character)
        for k, v in body.items()
    }
    if path == "/v1/admin/users":
        filled["org_id"] = members.org_ids[EXAMPLE]
    if path == "/v1/admin/tokens":
        filled["user_id"] = _user_id(client, operator, READER)
    listing = {"/v1/admin/orgs": "orgs", "/v1/admin/users": "users", "/v1/admin/tokens": "tokens"}
    before = ok(client.get(f"/v1/admin/{listing[path]}", headers=operator))

    response = client.post(path, json=filled, headers=operator)

    problem = assert_problem(response, 422)
    assert any(e["field"].split(".")[0] == field for e in problem["errors"]), problem
    assert ok(client.get(f"/v1/admin/{listing[path]}", headers=operator)) == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/v1/admin/orgs/%00", {"vetted_until": None}),
        ("PATCH", "/v1/admin/users/a%00b", {"role": "reader"}),
        ("POST", "/v1/admin/tokens/%00/revoke", None),
        ("POST", "/v1/admin/users", {"email": "x@example.edu", "org_id": "\x00", "role": "reader"}),
        ("POST", "/v1/admin/tokens", {"user_id": "\x00"}),
    ],
)
def test_ids_with_nul_are_unknown_not_errors(
    client: TestClient, operator: dict[str, str], method: str, path: str, body: Any
) -> None:
    """No stored id holds NUL: such an id names nothing (PostgreSQL refuses to even look)."""
    assert_problem(client.request(method, path, json=body, headers=operator), 404)


@pytest.mark.parametrize(
    ("path", "params"),
    [("/v1/admin/users", {"org_id": "\x00"}), ("/v1/admin/tokens", {"user_id": "a\x00"})],
)
def test_filtering_by_an_id_with_nul_finds_nothing(
    client: TestClient, operator: dict[str, str], path: str, params: dict[str, str]
) -> None:
    assert ok(client.get(path, params=params, headers=operator)) == []
