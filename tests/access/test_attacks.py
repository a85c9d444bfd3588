"""Attacks on the access rules, each refused the way SPEC sections 5 and 6 say.

Bad credentials of every kind are 401 with a challenge; a guessed id is indistinguishable from
an absent one; roles and tiers limit writes; the node decides the fields it manages; read-only
tokens read; operators read no more than anyone of their org, and only operators administer;
and what an operator changes (revocation, suspension, vetting) takes effect on the next request.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from service.access.service import get_user_by_email, new_token
from service.db import transaction, utcnow
from tests.factories import Members, advisory_payload, assert_problem, post_advisory, table_counts

ANALYST = "analyst@example.edu"  # University of Example: vetted university
READER = "reader@example.edu"
POLY_ANALYST = "analyst@poly.example"  # Example Polytechnic: never vetted
GOV_PUBLISHER = "publisher@gov.example"  # Office of Research Security: vetted government
AGENCY_PUBLISHER = "publisher@agency.example"  # Defence Research Agency: vetted government
OPERATOR = "operator@node.example"  # Node operations: never vetted
EXAMPLE = "University of Example"
NODE_OPS = "Node operations"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def listed_ids(client: TestClient, headers: dict[str, str], **params: str) -> set[str]:
    response = client.get("/v1/advisories", params={"limit": 500, **params}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return {item["id"] for item in response.json()["items"]}


def assert_unauthenticated(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer"), response.headers
    return body


def issue(
    factory: sessionmaker[Session],
    email: str,
    *,
    issued: timedelta = timedelta(0),
    ttl: timedelta = timedelta(days=1),
    read_only: bool = False,
) -> str:
    """A token for ``email`` issued ``issued`` ago, valid for ``ttl`` from then."""
    with transaction(factory) as session:
        user = get_user_by_email(session, email)
        _, text = new_token(session, user=user, now=utcnow() - issued, ttl=ttl, read_only=read_only)
    return text


# --- bad credentials --------------------------------------------------------------------------

# Reads and a write, on the advisory API and beyond it: bad credentials never fall back to
# anonymous, so a clear advisory is no more readable with them than an amber one.
PROBED = [
    ("GET", "/v1/advisories", None),
    ("GET", "/v1/advisories/{id}", None),
    ("GET", "/v1/advisories/{id}/revisions", None),
    ("POST", "/v1/advisories", advisory_payload()),
    ("PATCH", "/v1/advisories/{id}", {"base_revision": 1, "summary": "Changed."}),
    ("GET", "/v1/me", None),
    ("GET", "/v1/admin/orgs", None),
]


def _bad_tokens(factory: sessionmaker[Session], members: Members) -> dict[str, dict[str, str]]:
    """Authorization headers that must not hold, by what is wrong with them."""
    good = members.tokens[ANALYST]
    token_id, secret = good[len("trex_") :].split("_", 1)
    other_id = members.tokens[READER][len("trex_") :].split("_", 1)[0]
    expired = issue(factory, ANALYST, issued=timedelta(days=2), ttl=timedelta(days=1))
    return {
        "expired": bearer(expired),
        "malformed: no trex prefix": bearer(f"xyz_{token_id}_{secret}"),
        "malformed: no secret": bearer(f"trex_{token_id}"),
        "malformed: empty secret": bearer(f"trex_{token_id}_"),
        "malformed: short id": bearer(f"trex_{token_id[:8]}_{secret}"),
        "malformed: not a bearer token": {"Authorization": f"Basic {good}"},
        "malformed: no scheme": {"Authorization": good},
        "malformed: empty bearer": {"Authorization": "Bearer "},
        "truncated secret": bearer(good[:-1]),
        "truncated into the id": bearer(good[:12]),
        "unknown id": bearer(f"trex_{secrets.token_hex(8)}_{secret}"),
        "right id, wrong secret": bearer(f"trex_{token_id}_{secrets.token_urlsafe(32)}"),
        "another token's id with this secret": bearer(f"trex_{other_id}_{secret}"),
        "secret with a character appended": bearer(good + "A"),
    }


def test_bad_tokens_are_401_with_a_challenge_everywhere(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    clear = post_advisory(client, members.auth(ANALYST), tlp="clear")
    before = table_counts(session_factory)

    for what, headers in _bad_tokens(session_factory, members).items():
        for method, path, body in PROBED:
            url = path.format(id=clear["id"])
            response = client.request(method, url, json=body, headers=headers)
            assert response.status_code == 401, (what, method, url, response.text)
            assert_unauthenticated(response)

    assert table_counts(session_factory) == before
    # The token the bad ones were made from still works.
    assert client.get("/v1/me", headers=members.auth(ANALYST)).status_code == 200


def test_anonymous_callers_have_no_me(client: TestClient) -> None:
    assert_unauthenticated(client.get("/v1/me"))


def test_a_wrong_secret_is_answered_like_an_unknown_id(
    client: TestClient, members: Members
) -> None:
    """Nothing in the answer tells a guesser that the id part named a real token."""
    token_id = members.tokens[ANALYST][len("trex_") :].split("_", 1)[0]
    secret = secrets.token_urlsafe(32)

    wrong_secret = client.get("/v1/me", headers=bearer(f"trex_{token_id}_{secret}"))
    unknown_id = client.get("/v1/me", headers=bearer(f"trex_{secrets.token_hex(8)}_{secret}"))

    assert assert_unauthenticated(wrong_secret) == assert_unauthenticated(unknown_id)
    assert wrong_secret.headers["www-authenticate"] == unknown_id.headers["www-authenticate"]


def test_a_token_expires_at_its_expiry(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    about_to_expire = issue(session_factory, READER, issued=timedelta(days=1, seconds=-30))
    just_expired = issue(session_factory, READER, issued=timedelta(days=1, seconds=1))

    assert client.get("/v1/me", headers=bearer(about_to_expire)).status_code == 200
    assert_unauthenticated(client.get("/v1/me", headers=bearer(just_expired)))


def _set_org(client: TestClient, members: Members, org: str, **changes: Any) -> dict[str, Any]:
    response = client.patch(
        f"/v1/admin/orgs/{members.org_ids[org]}", json=changes, headers=members.auth(OPERATOR)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _user_id(client: TestClient, members: Members, email: str) -> str:
    users = client.get("/v1/admin/users", headers=members.auth(OPERATOR))
    assert users.status_code == 200, users.text
    return str(next(u["id"] for u in users.json() if u["email"] == email))


def test_suspending_an_org_stops_its_tokens_at_once_and_reinstating_restores_them(
    client: TestClient, members: Members
) -> None:
    amber = post_advisory(client, members.auth(ANALYST), tlp="amber")
    path = f"/v1/advisories/{amber['id']}"
    assert client.get(path, headers=members.auth(READER)).status_code == 200

    _set_org(client, members, EXAMPLE, status="suspended")

    for email in (READER, ANALYST):
        for method, url, body in PROBED:
            response = client.request(
                method, url.format(id=amber["id"]), json=body, headers=members.auth(email)
            )
            assert response.status_code == 401, (email, method, url, response.text)
            assert_unauthenticated(response)
    # Other orgs are untouched.
    assert client.get(path, headers=members.auth(GOV_PUBLISHER)).status_code == 200

    _set_org(client, members, EXAMPLE, status="active")

    assert client.get(path, headers=members.auth(READER)).status_code == 200
    assert client.get("/v1/me", headers=members.auth(ANALYST)).json()["vetted"] is True
    changed = client.patch(
        path, json={"base_revision": 1, "summary": "Back."}, headers=members.auth(ANALYST)
    )
    assert changed.status_code == 200, changed.text


def test_disabling_a_user_stops_their_tokens_only(client: TestClient, members: Members) -> None:
    user_id = _user_id(client, members, READER)

    disabled = client.patch(
        f"/v1/admin/users/{user_id}", json={"status": "disabled"}, headers=members.auth(OPERATOR)
    )

    assert disabled.status_code == 200, disabled.text
    for method, url, body in PROBED:
        response = client.request(
            method, url.format(id=uuid.uuid4()), json=body, headers=members.auth(READER)
        )
        assert response.status_code == 401, (method, url, response.text)
        assert_unauthenticated(response)
    assert client.get("/v1/me", headers=members.auth(ANALYST)).status_code == 200

    enabled = client.patch(
        f"/v1/admin/users/{user_id}", json={"status": "active"}, headers=members.auth(OPERATOR)
    )
    assert enabled.status_code == 200, enabled.text
    assert client.get("/v1/me", headers=members.auth(READER)).status_code == 200


def test_revoking_a_token_stops_it_at_once(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    token = issue(session_factory, READER)
    other = issue(session_factory, READER)
    token_id = token[len("trex_") :].split("_", 1)[0]
    assert client.get("/v1/advisories", headers=bearer(token)).status_code == 200

    revoked = client.post(f"/v1/admin/tokens/{token_id}/revoke", headers=members.auth(OPERATOR))

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    for method, url, body in PROBED:
        response = client.request(
            method, url.format(id=uuid.uuid4()), json=body, headers=bearer(token)
        )
        assert response.status_code == 401, (method, url, response.text)
        assert_unauthenticated(response)
    # The user's other tokens, and the user, are untouched.
    assert client.get("/v1/me", headers=bearer(other)).status_code == 200
    # Revoking again changes nothing, and the revocation stands.
    again = client.post(f"/v1/admin/tokens/{token_id}/revoke", headers=members.auth(OPERATOR))
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert_unauthenticated(client.get("/v1/me", headers=bearer(token)))


def test_a_role_change_takes_effect_on_the_next_request(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    operator = members.auth(OPERATOR)
    analyst_id = _user_id(client, members, ANALYST)
    path = f"/v1/admin/users/{analyst_id}"
    token = members.auth(ANALYST)
    before = table_counts(session_factory)

    assert client.patch(path, json={"role": "reader"}, headers=operator).status_code == 200
    assert_problem(client.post("/v1/advisories", json=advisory_payload(), headers=token), 403)
    assert_problem(client.get("/v1/admin/orgs", headers=token), 403)
    assert table_counts(session_factory) == before

    assert client.patch(path, json={"role": "operator"}, headers=operator).status_code == 200
    assert client.get("/v1/admin/orgs", headers=token).status_code == 200
    assert_problem(client.post("/v1/advisories", json=advisory_payload(), headers=token), 403)

    assert client.patch(path, json={"role": "analyst"}, headers=operator).status_code == 200
    assert_problem(client.get("/v1/admin/orgs", headers=token), 403)
    post_advisory(client, token)


# --- guessing ids -----------------------------------------------------------------------------


def _shape(response: httpx.Response, advisory_id: str) -> tuple[Any, ...]:
    """What a 404 shows, with the id asked for taken out: it must not depend on the id."""
    body = response.json()
    redacted = {
        k: v.replace(advisory_id, "<id>") if isinstance(v, str) else v for k, v in body.items()
    }
    return response.status_code, response.headers["content-type"], redacted


def _refusals(
    client: TestClient, headers: dict[str, str], advisory_id: str
) -> list[httpx.Response]:
    path = f"/v1/advisories/{advisory_id}"
    return [
        client.get(path, headers=headers),
        client.get(f"{path}/revisions", headers=headers),
        client.patch(path, json={"base_revision": 1, "summary": "Guess."}, headers=headers),
        client.post(
            f"{path}/withdraw", json={"base_revision": 1, "reason": "Guess."}, headers=headers
        ),
    ]


def test_guessed_ids_look_exactly_like_absent_ones(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    agency_id = members.org_ids["Defence Research Agency"]
    office_id = members.org_ids["Office of Research Security"]
    # (who guesses, what they must not find, who wrote it, how): the University of Example is
    # vetted, so only status and audience hide these from its analyst; the Polytechnic is not,
    # so vetting hides more from its analyst.
    hidden_cases: list[tuple[str, str, str, dict[str, Any]]] = [
        (ANALYST, "another org's draft", POLY_ANALYST, {"status": "draft"}),
        (
            ANALYST,
            "another org's government draft",
            GOV_PUBLISHER,
            {"tier": "government", "status": "draft"},
        ),
        (
            ANALYST,
            "red addressed to another org",
            POLY_ANALYST,
            {"tlp": "red", "audience": [agency_id]},
        ),
        (
            ANALYST,
            "government red addressed to another org",
            GOV_PUBLISHER,
            {"tier": "government", "tlp": "red", "audience": [agency_id]},
        ),
        (
            ANALYST,
            "government amber+strict addressed to another org",
            AGENCY_PUBLISHER,
            {"tier": "government", "tlp": "amber+strict", "audience": [office_id]},
        ),
        (POLY_ANALYST, "amber to an unvetted org", ANALYST, {"tlp": "amber"}),
        (
            POLY_ANALYST,
            "government green to an unvetted org",
            GOV_PUBLISHER,
            {"tier": "government", "tlp": "green"},
        ),
    ]
    hidden = [
        (guesser, what, owner, post_advisory(client, members.auth(owner), **overrides))
        for guesser, what, owner, overrides in hidden_cases
    ]
    before = table_counts(session_factory)

    for guesser in (ANALYST, POLY_ANALYST):
        headers = members.auth(guesser)
        absent_id = str(uuid.uuid4())
        absent = [_shape(r, absent_id) for r in _refusals(client, headers, absent_id)]
        assert {shape[0] for shape in absent} == {404}
        for who, what, _, advisory in hidden:
            if who == guesser:
                got = [
                    _shape(r, advisory["id"]) for r in _refusals(client, headers, advisory["id"])
                ]
                assert got == absent, (guesser, what)
                assert advisory["id"] not in listed_ids(client, headers, status="all"), what
        for _ in range(10):
            guess = str(uuid.uuid4())
            assert [_shape(r, guess) for r in _refusals(client, headers, guess)] == absent

    assert table_counts(session_factory) == before
    # Each is there, for its author.
    for _, what, owner, advisory in hidden:
        path = f"/v1/advisories/{advisory['id']}"
        assert client.get(path, headers=members.auth(owner)).status_code == 200, what


# --- write rules --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", [ANALYST, POLY_ANALYST])
def test_an_analyst_cannot_write_government_tier(
    client: TestClient, members: Members, session_factory: sessionmaker[Session], who: str
) -> None:
    own = post_advisory(client, members.auth(who))
    before = table_counts(session_factory)

    created = client.post(
        "/v1/advisories", json=advisory_payload(tier="government"), headers=members.auth(who)
    )
    moved = client.patch(
        f"/v1/advisories/{own['id']}",
        json={"base_revision": 1, "tier": "government"},
        headers=members.auth(who),
    )

    assert_problem(created, 403)
    assert_problem(moved, 403)
    assert table_counts(session_factory) == before


@pytest.mark.parametrize("how", ["patch", "withdraw"])
@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        pytest.param({"tlp": "green"}, 403, id="visible-green"),
        pytest.param({"tlp": "amber"}, 403, id="visible-amber"),
        pytest.param({"tlp": "clear"}, 403, id="visible-clear"),
        pytest.param({"tlp": "red", "audience": "agency"}, 403, id="red-naming-the-agency"),
        pytest.param({"tlp": "red", "audience": "office"}, 404, id="red-not-naming-it"),
        pytest.param({"tlp": "amber+strict", "audience": "office"}, 404, id="strict-not-naming-it"),
        pytest.param({"status": "draft"}, 404, id="draft"),
    ],
)
def test_one_agency_cannot_change_or_withdraw_another_agencys_notice(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    overrides: dict[str, Any],
    status: int,
    how: str,
) -> None:
    names = {"agency": "Defence Research Agency", "office": "Office of Research Security"}
    if "audience" in overrides:
        overrides = {**overrides, "audience": [members.org_ids[names[overrides["audience"]]]]}
    notice = post_advisory(client, members.auth(GOV_PUBLISHER), tier="government", **overrides)
    path = f"/v1/advisories/{notice['id']}"
    before = table_counts(session_factory)

    if how == "patch":
        response = client.patch(
            path,
            json={"base_revision": 1, "summary": "Rewritten by another agency."},
            headers=members.auth(AGENCY_PUBLISHER),
        )
    else:
        response = client.post(
            f"{path}/withdraw",
            json={"base_revision": 1, "reason": "Withdrawn by another agency."},
            headers=members.auth(AGENCY_PUBLISHER),
        )

    assert_problem(response, status)
    visible = client.get(path, headers=members.auth(AGENCY_PUBLISHER)).status_code
    assert visible == (200 if status == 403 else 404)
    assert table_counts(session_factory) == before
    assert client.get(path, headers=members.auth(GOV_PUBLISHER)).json() == notice


NODE_MANAGED = [
    ("id", "8c0e2f6e-2b1c-4a57-9c1e-000000000000"),
    ("origin", "ca"),
    ("revision", 7),
    ("contributor_org", "Defence Research Agency"),
    ("contributor_org_id", "00000000-0000-0000-0000-000000000000"),
    ("published_at", "2020-01-01T00:00:00Z"),
    ("updated_at", "2020-01-01T00:00:00Z"),
    ("withdrawal_reason", "none"),
]


@pytest.mark.parametrize(("field", "value"), NODE_MANAGED)
def test_fields_the_node_manages_cannot_be_supplied(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    field: str,
    value: Any,
) -> None:
    existing = post_advisory(client, members.auth(ANALYST))
    before = table_counts(session_factory)

    created = client.post(
        "/v1/advisories", json=advisory_payload(**{field: value}), headers=members.auth(ANALYST)
    )
    changed = client.patch(
        f"/v1/advisories/{existing['id']}",
        json={"base_revision": 1, field: value},
        headers=members.auth(ANALYST),
    )

    assert_problem(created, 422, field)
    assert_problem(changed, 422, field)
    assert table_counts(session_factory) == before


def test_withdrawn_cannot_be_set_as_a_status(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    existing = post_advisory(client, members.auth(ANALYST))
    before = table_counts(session_factory)

    created = client.post(
        "/v1/advisories", json=advisory_payload(status="withdrawn"), headers=members.auth(ANALYST)
    )
    changed = client.patch(
        f"/v1/advisories/{existing['id']}",
        json={"base_revision": 1, "status": "withdrawn"},
        headers=members.auth(ANALYST),
    )

    assert_problem(created, 422, "status")
    assert_problem(changed, 422, "status")
    assert table_counts(session_factory) == before


def test_a_read_only_token_reads_but_never_writes(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    amber = post_advisory(client, members.auth(ANALYST), tlp="amber")
    draft = post_advisory(client, members.auth(ANALYST), status="draft")
    read_only = bearer(issue(session_factory, ANALYST, read_only=True))
    before = table_counts(session_factory)

    refused = [
        client.post("/v1/advisories", json=advisory_payload(), headers=read_only),
        client.patch(
            f"/v1/advisories/{amber['id']}",
            json={"base_revision": 1, "summary": "Changed."},
            headers=read_only,
        ),
        client.patch(
            f"/v1/advisories/{draft['id']}",
            json={"base_revision": 1, "status": "published"},
            headers=read_only,
        ),
        client.post(
            f"/v1/advisories/{amber['id']}/withdraw",
            json={"base_revision": 1, "reason": "Gone."},
            headers=read_only,
        ),
    ]

    for response in refused:
        assert_problem(response, 403)
    assert table_counts(session_factory) == before
    full = members.auth(ANALYST)
    for advisory in (amber, draft):
        path = f"/v1/advisories/{advisory['id']}"
        assert client.get(path, headers=read_only).json() == client.get(path, headers=full).json()
        history = client.get(f"{path}/revisions", headers=read_only)
        assert history.status_code == 200
    assert listed_ids(client, read_only, status="all") == listed_ids(client, full, status="all")
    me = client.get("/v1/me", headers=read_only).json()
    assert (me["role"], me["read_only"]) == ("analyst", True)


def test_a_read_only_operator_token_looks_but_changes_nothing(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    read_only = bearer(issue(session_factory, OPERATOR, read_only=True))
    operator = members.auth(OPERATOR)
    before = {
        what: client.get(f"/v1/admin/{what}", headers=operator).json()
        for what in ("orgs", "users", "tokens", "peers", "groups")
    }

    for method, route, ids, body in _admin_requests(client, members):
        response = client.request(method, route.format(**ids), json=body, headers=read_only)
        if method == "GET":
            # Looking at members is not changing them.
            assert response.status_code == 200, (route, response.text)
            listed = response.json()
            expected = before[route.rsplit("/", 1)[1]]
            assert _without_last_use(listed) == _without_last_use(expected), route
            continue
        assert response.status_code == 403, (method, route, response.text)
        assert_problem(response, 403)

    after = {
        what: client.get(f"/v1/admin/{what}", headers=operator).json()
        for what in ("orgs", "users", "tokens", "peers", "groups")
    }
    assert after["orgs"] == before["orgs"]
    assert after["users"] == before["users"]
    assert _without_last_use(after["tokens"]) == _without_last_use(before["tokens"])
    assert (after["peers"], after["groups"]) == (before["peers"], before["groups"])


# --- operators: no extra read access --------------------------------------------------------


def test_an_operator_sees_exactly_what_a_reader_of_its_org_sees(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    operator = members.auth(OPERATOR)
    node_ops = members.org_ids[NODE_OPS]
    for email, role in (("reader@node.example", "reader"), ("analyst@node.example", "analyst")):
        response = client.post(
            "/v1/admin/users",
            json={"email": email, "org_id": node_ops, "role": role},
            headers=operator,
        )
        assert response.status_code == 201, response.text
    reader = bearer(issue(session_factory, "reader@node.example"))
    node_analyst = bearer(issue(session_factory, "analyst@node.example"))
    example, gov = members.auth(ANALYST), members.auth(GOV_PUBLISHER)
    created = (
        [post_advisory(client, example, tlp=tlp) for tlp in ("clear", "green", "amber")]
        + [
            post_advisory(client, gov, tier="government", tlp=tlp)
            for tlp in ("clear", "green", "amber")
        ]
        + [
            post_advisory(client, example, tlp="red", audience=[node_ops]),
            post_advisory(client, example, tlp="red", audience=[members.org_ids[EXAMPLE]]),
            post_advisory(client, gov, tier="government", tlp="red", audience=[node_ops]),
            post_advisory(client, example, status="draft"),
            post_advisory(client, node_analyst, status="draft"),
            post_advisory(client, node_analyst, tlp="amber"),
        ]
    )

    for params in ({}, {"status": "all"}, {"status": "draft"}, {"tier": "government"}):
        assert listed_ids(client, operator, **params) == listed_ids(client, reader, **params)
    for advisory in created:
        for suffix in ("", "/revisions"):
            path = f"/v1/advisories/{advisory['id']}{suffix}"
            as_operator, as_reader = (
                client.get(path, headers=operator),
                client.get(path, headers=reader),
            )
            assert as_operator.status_code == as_reader.status_code, (path, advisory["tlp"])
            assert as_operator.json() == as_reader.json(), path
    # Node operations is not vetted: clear and green academia, clear government, its own draft,
    # and the academia red that names it (the government one needs vetting).
    expected = [created[i]["id"] for i in (0, 1, 3, 6, 10)]
    assert listed_ids(client, operator, status="all") == set(expected)


# --- vetting ------------------------------------------------------------------------------------


def test_ending_vetting_hides_amber_and_government_from_that_org_at_once(
    client: TestClient, members: Members
) -> None:
    example, gov = members.auth(ANALYST), members.auth(GOV_PUBLISHER)
    office_id = members.org_ids["Office of Research Security"]
    stays = {
        "clear academia": post_advisory(client, members.auth(POLY_ANALYST), tlp="clear"),
        "green academia": post_advisory(client, members.auth(POLY_ANALYST), tlp="green"),
        "clear government": post_advisory(client, gov, tier="government", tlp="clear"),
        "own red academia": post_advisory(client, example, tlp="red", audience=[office_id]),
        "own draft": post_advisory(client, example, status="draft", tlp="amber"),
    }
    goes = {
        "amber academia": post_advisory(client, members.auth(POLY_ANALYST), tlp="amber"),
        "green government": post_advisory(client, gov, tier="government", tlp="green"),
        "amber government": post_advisory(client, gov, tier="government", tlp="amber"),
        "red government naming it": post_advisory(
            client, gov, tier="government", tlp="red", audience=[members.org_ids[EXAMPLE]]
        ),
    }
    for email in (READER, ANALYST):
        seen = listed_ids(client, members.auth(email), status="all")
        assert seen == {a["id"] for a in (*stays.values(), *goes.values())}, email

    ended = _set_org(client, members, EXAMPLE, vetted_until=None)

    assert (ended["vetted"], ended["vetted_until"]) == (False, None)
    for email in (READER, ANALYST):
        headers = members.auth(email)
        assert client.get("/v1/me", headers=headers).json()["vetted"] is False
        assert listed_ids(client, headers, status="all") == {a["id"] for a in stays.values()}
        for what, advisory in goes.items():
            for suffix in ("", "/revisions"):
                response = client.get(f"/v1/advisories/{advisory['id']}{suffix}", headers=headers)
                assert response.status_code == 404, (email, what, suffix)
                assert_problem(response, 404)
        for what, advisory in stays.items():
            path = f"/v1/advisories/{advisory['id']}"
            assert client.get(path, headers=headers).status_code == 200, (email, what)
    # Other orgs keep what they see.
    assert (
        client.get(
            f"/v1/advisories/{goes['amber academia']['id']}", headers=members.auth(GOV_PUBLISHER)
        ).status_code
        == 200
    )


# --- administration is for operators -----------------------------------------------------------


AU_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"


def _admin_requests(
    client: TestClient, members: Members
) -> list[tuple[str, str, dict[str, str], dict[str, Any] | None]]:
    """One request to every /v1/admin endpoint (method, route, path ids, body), valid if an
    operator made it."""
    example_id = members.org_ids[EXAMPLE]
    reader_id = _user_id(client, members, READER)
    token_id = members.tokens[READER][len("trex_") :].split("_", 1)[0]
    return [
        ("GET", "/v1/admin/orgs", {}, None),
        ("POST", "/v1/admin/orgs", {}, {"name": "Intruder Institute", "kind": "university"}),
        (
            "PATCH",
            "/v1/admin/orgs/{org_id}",
            {"org_id": members.org_ids["Example Polytechnic"]},
            {"vetted_until": "2099-01-01"},
        ),
        ("GET", "/v1/admin/users", {}, None),
        (
            "POST",
            "/v1/admin/users",
            {},
            {"email": "intruder@example.edu", "org_id": example_id, "role": "analyst"},
        ),
        ("PATCH", "/v1/admin/users/{user_id}", {"user_id": reader_id}, {"role": "analyst"}),
        ("GET", "/v1/admin/tokens", {}, None),
        ("POST", "/v1/admin/tokens", {}, {"user_id": reader_id}),
        ("POST", "/v1/admin/tokens/{token_id}/revoke", {"token_id": token_id}, None),
        ("GET", "/v1/admin/peers", {}, None),
        (
            "POST",
            "/v1/admin/peers",
            {},
            {"node_id": "au", "public_key": AU_KEY, "kid": "au-2026-01"},
        ),
        ("DELETE", "/v1/admin/peers/{node_id}", {"node_id": "au"}, None),
        ("GET", "/v1/admin/groups", {}, None),
        ("POST", "/v1/admin/groups", {}, {"name": "five-eyes", "members": ["test"]}),
    ]


def _without_last_use(tokens: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in token.items() if k != "last_used_at"} for token in tokens]


def test_every_admin_endpoint_is_for_operators_only(client: TestClient, members: Members) -> None:
    requests = _admin_requests(client, members)
    # The published API, so that an endpoint added later without a case here fails this test.
    paths = client.get("/openapi.json").json()["paths"]
    routes = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/v1/admin")
        for method in operations
    }
    assert routes == {(method, route) for method, route, _, _ in requests}, (
        "every /v1/admin endpoint needs an authorisation case here"
    )
    non_operators = {
        "anonymous": ({}, 401),
        "a bad token": (bearer("trex_0000000000000000_nope"), 401),
        **{email: (members.auth(email), 403) for email in (READER, ANALYST, GOV_PUBLISHER)},
    }
    operator = members.auth(OPERATOR)
    orgs_before = client.get("/v1/admin/orgs", headers=operator).json()
    users_before = client.get("/v1/admin/users", headers=operator).json()
    tokens_before = client.get("/v1/admin/tokens", headers=operator).json()

    for who, (headers, status) in non_operators.items():
        for method, route, ids, body in requests:
            response = client.request(method, route.format(**ids), json=body, headers=headers)
            assert response.status_code == status, (who, method, route, response.text)
            assert_problem(response, status)
            if status == 401:
                assert_unauthenticated(response)

    assert client.get("/v1/admin/orgs", headers=operator).json() == orgs_before
    assert client.get("/v1/admin/users", headers=operator).json() == users_before
    # Only last use moves: the refused callers' own tokens were used.
    tokens_after = client.get("/v1/admin/tokens", headers=operator).json()
    assert _without_last_use(tokens_after) == _without_last_use(tokens_before)
    # The same requests from an operator succeed: the refusals were about who asked.
    for method, route, ids, body in requests:
        response = client.request(method, route.format(**ids), json=body, headers=operator)
        assert response.status_code in (200, 201, 204), (method, route, response.text)
