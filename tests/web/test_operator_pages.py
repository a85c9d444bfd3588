"""The operator pages: members, tokens, peers, quarantine and the audit log.

Without a browser (a TestClient on each backend): who may open them, that every form needs the
session's CSRF token and an operator that may write, the forms' refusals, and that no advisory
content reaches them. In the browser (the served demo node): an operator's day of work.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from federation.keys import b64url_encode, fingerprint
from service.access.models import ApiToken, Org, User
from service.access.service import create_token
from service.audit.models import AuditEntry
from service.db import transaction, utcnow
from service.peering.models import QuarantinedRecord
from tests.factories import Members, load_demo_advisories
from tests.node_process import node_environment, run_node_command
from tests.web.conftest import ANALYST, OPERATOR, READER, Node, PageFor, screenshot
from tests.web.pages import csrf_of, web_sign_in

POLYTECHNIC = "Example Polytechnic"
POLY_READER = "reader@poly.example"
TOKEN_TEXT = re.compile(r"trex_[0-9a-f]{16}_[A-Za-z0-9_-]+")


def _ids(factory: sessionmaker[Session]) -> tuple[str, str, str]:
    """An org, a user of it and one of that user's tokens, to put in the pages' URLs."""
    with factory() as session:
        user = session.scalars(select(User).where(User.email == POLY_READER)).one()
        token = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).first()
        assert token is not None
        return user.org_id, user.id, token.id


def _pages(org_id: str, user_id: str) -> list[str]:
    return [
        "/operator/members",
        f"/operator/members/orgs/{org_id}",
        f"/operator/members/users/{user_id}",
        "/operator/peers",
        "/operator/quarantine",
        "/operator/audit",
        "/operator/audit?verify=true",
    ]


def _posts(org_id: str, user_id: str, token_id: str) -> dict[str, dict[str, str]]:
    """Every form of the operator pages, with a valid body (CSRF token aside)."""
    return {
        "/operator/members": {"name": "Refused University", "kind": "university"},
        f"/operator/members/orgs/{org_id}": {"vetted_until": "2099-01-01", "status": "active"},
        f"/operator/members/orgs/{org_id}/users": {"email": "x@poly.example", "role": "reader"},
        f"/operator/members/users/{user_id}": {"role": "analyst", "status": "active"},
        f"/operator/members/users/{user_id}/tokens": {"label": "refused"},
        f"/operator/members/tokens/{token_id}/revoke": {},
    }


def _state(factory: sessionmaker[Session]) -> tuple[object, ...]:
    """What any of the forms would change: orgs, users, tokens."""
    with factory() as session:
        orgs = session.execute(
            select(Org.name, Org.vetted_until, Org.status).order_by(Org.name)
        ).all()
        users = session.execute(
            select(User.email, User.role, User.status).order_by(User.email)
        ).all()
        tokens = session.execute(
            select(ApiToken.id, ApiToken.revoked_at).order_by(ApiToken.id)
        ).all()
    return tuple(orgs), tuple(users), tuple(tokens)


# --- without a browser ----------------------------------------------------------------------


def test_only_operators_open_the_operator_pages(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    org_id, user_id, _ = _ids(session_factory)
    pages = _pages(org_id, user_id)
    for path in pages:
        anonymous = client.get(path, follow_redirects=False)
        assert anonymous.status_code == 303, path
        assert anonymous.headers["location"].startswith("/sign-in?next=%2Foperator%2F"), path
    for email in (READER, ANALYST):
        web_sign_in(client, members.tokens[email])
        for path in pages:
            refused = client.get(path)
            assert refused.status_code == 403, (email, path)
            assert "Only operators administer the node." in refused.text
            assert POLY_READER not in refused.text
    web_sign_in(client, members.tokens[OPERATOR])
    for path in pages:
        assert client.get(path).status_code == 200, path


def test_every_form_needs_the_csrf_token_and_an_operator_who_may_write(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    org_id, user_id, token_id = _ids(session_factory)
    forms = _posts(org_id, user_id, token_id)
    with transaction(session_factory) as session:
        read_only = create_token(
            session, email=OPERATOR, now=utcnow(), ttl=timedelta(days=1), read_only=True
        )
    before = _state(session_factory)

    web_sign_in(client, members.tokens[OPERATOR])
    good = csrf_of(client.get("/operator/members").text)
    for path, data in forms.items():
        for csrf in ({}, {"csrf_token": "x" * len(good)}):
            refused = client.post(path, data={**data, **csrf})
            assert refused.status_code == 403, path
            assert "did not come from this node" in refused.text

    # With the token, a reader is still no operator.
    web_sign_in(client, members.tokens[READER])
    reader_csrf = csrf_of(client.get("/").text)
    for path, data in forms.items():
        refused = client.post(path, data={**data, "csrf_token": reader_csrf})
        assert refused.status_code == 403, path
        assert "Only operators" in refused.text

    # A read-only operator token looks at every page but changes nothing, and sees no forms.
    web_sign_in(client, read_only)
    user_page = client.get(f"/operator/members/users/{user_id}")
    assert user_page.status_code == 200
    assert "Your session is read-only" in user_page.text
    assert "Issue token" not in user_page.text
    assert "Revoke" not in user_page.text
    ro_csrf = csrf_of(user_page.text)
    for path, data in forms.items():
        refused = client.post(path, data={**data, "csrf_token": ro_csrf})
        assert refused.status_code == 403, path
        assert "read-only" in refused.text

    assert _state(session_factory) == before


def test_forms_say_what_is_wrong_next_to_the_field(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    org_id, user_id, _ = _ids(session_factory)
    web_sign_in(client, members.tokens[OPERATOR])
    csrf = csrf_of(client.get("/operator/members").text)

    publisher = client.post(
        f"/operator/members/orgs/{org_id}/users",
        data={"email": "new.publisher@poly.example", "role": "publisher", "csrf_token": csrf},
    )
    assert publisher.status_code == 422
    assert 'id="role-error"' in publisher.text
    assert "publishers belong to government orgs" in publisher.text
    assert 'value="new.publisher@poly.example"' in publisher.text  # what was typed stays

    duplicate = client.post(
        "/operator/members", data={"name": POLYTECHNIC, "kind": "university", "csrf_token": csrf}
    )
    assert duplicate.status_code == 409
    assert "exists already" in duplicate.text

    bad_date = client.post(
        f"/operator/members/orgs/{org_id}",
        data={"vetted_until": "next year", "status": "active", "csrf_token": csrf},
    )
    assert bad_date.status_code == 422
    assert 'id="vetted_until-error"' in bad_date.text

    bad_ttl = client.post(
        f"/operator/members/users/{user_id}/tokens",
        data={"ttl_days": "0", "newest": _newest(session_factory, user_id), "csrf_token": csrf},
    )
    assert bad_ttl.status_code == 422
    assert 'id="ttl_days-error"' in bad_ttl.text
    assert not TOKEN_TEXT.search(bad_ttl.text)

    missing = client.get("/operator/members/orgs/no-such-org")
    assert missing.status_code == 404


def _newest(factory: sessionmaker[Session], user_id: str) -> str:
    with factory() as session:
        newest = session.scalars(
            select(ApiToken.id)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id)
        ).first()
    return newest or ""


def test_a_token_form_sent_twice_issues_one_token(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    _, user_id, _ = _ids(session_factory)
    web_sign_in(client, members.tokens[OPERATOR])
    page = client.get(f"/operator/members/users/{user_id}")
    newest = re.search(r'name="newest" value="([^"]*)"', page.text)
    assert newest is not None
    form = {"label": "twice", "newest": newest.group(1), "csrf_token": csrf_of(page.text)}
    path = f"/operator/members/users/{user_id}/tokens"

    first = client.post(path, data=form)
    assert first.status_code == 200
    shown = TOKEN_TEXT.findall(first.text)
    assert len(set(shown)) == 1
    assert "will not be shown again" in first.text
    assert first.headers["cache-control"] == "no-store"
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {shown[0]}"}).status_code == 200

    again = client.post(path, data=form, follow_redirects=True)
    assert "No token was issued" in again.text
    assert not TOKEN_TEXT.search(again.text)
    with session_factory() as session:
        labelled = session.scalars(select(ApiToken).where(ApiToken.label == "twice")).all()
    assert len(labelled) == 1
    # The text is nowhere in the audit log: only the token's id.
    with session_factory() as session:
        details = session.scalars(select(AuditEntry.detail)).all()
    assert not any(shown[0] in detail for detail in details)


def test_changes_are_audited_as_the_api_audits_them(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    org_id, user_id, token_id = _ids(session_factory)
    web_sign_in(client, members.tokens[OPERATOR])
    csrf = csrf_of(client.get("/operator/members").text)
    for path, data in _posts(org_id, user_id, token_id).items():
        if path.endswith("/tokens"):
            data = {**data, "newest": _newest(session_factory, user_id)}
        response = client.post(path, data={**data, "csrf_token": csrf})
        assert response.status_code in (200, 303), (path, response.text)
    with session_factory() as session:
        entries = session.execute(
            select(AuditEntry.actor, AuditEntry.action).order_by(AuditEntry.seq)
        ).all()
    assert [
        action for actor, action in entries if actor == OPERATOR and action.startswith("admin.")
    ] == [
        "admin.org.add",
        "admin.org.update",
        "admin.user.add",
        "admin.user.update",
        "admin.token.create",
        "admin.token.revoke",
    ]
    audit = client.get("/operator/audit?verify=true")
    assert "The audit chain is intact" in audit.text
    assert "admin.token.revoke" in audit.text
    earlier = client.get("/operator/audit?before=3")
    assert "Audit entries 1 to 2, newest first" in earlier.text
    assert "admin.token.revoke" not in earlier.text


def test_the_pages_show_no_advisory_content(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    documents = load_demo_advisories(session_factory, members)
    # A vetted reader reads every advisory it may: restricted reads are audited, by id only.
    for document in documents.values():
        client.get(f"/v1/advisories/{document['id']}", headers=members.auth(READER))
    # A record refused from a peer: the quarantine keeps its content, the page only its facts.
    held = next(iter(documents.values()))
    with transaction(session_factory) as session:
        session.add(
            QuarantinedRecord(
                received_at=utcnow(),
                sender="uk",
                origin="uk",
                advisory_id=held["id"],
                revision=1,
                reason="equivocation: same revision, different content",
                equivocation=True,
                record=json.dumps({"payload": json.dumps(held)}),
            )
        )
    org_id, user_id, _ = _ids(session_factory)
    web_sign_in(client, members.tokens[OPERATOR])
    quarantine = client.get("/operator/quarantine")
    assert "1 record in quarantine" in quarantine.text
    assert "same revision, different content" in quarantine.text
    assert held["id"] in quarantine.text
    revealing = [
        text
        for document in documents.values()
        for text in (document["subject"]["name"], document["summary"])
    ]
    for path in _pages(org_id, user_id):
        page = client.get(path)
        assert page.status_code == 200, path
        shown = [text for text in revealing if text in page.text]
        assert shown == [], (path, shown)


# --- in the browser -------------------------------------------------------------------------


def _bearer_me(node: Node, token: str) -> httpx.Response:
    return httpx.get(
        f"{node.base_url}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def test_an_operator_admits_a_user_issues_and_revokes_a_token_and_vets_an_org(
    node: Node, page_for: PageFor
) -> None:
    page = page_for(OPERATOR)
    main = page.get_by_role("main")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
    expect(main.get_by_role("heading", name="Members", level=1)).to_be_visible()
    orgs = main.get_by_role("table", name=re.compile("Member organisations"))
    polytechnic = orgs.get_by_role("row").filter(has_text=POLYTECHNIC)
    expect(polytechnic).to_contain_text("Not vetted")
    expect(orgs.get_by_role("row").filter(has_text="University of Example")).to_contain_text(
        "Vetted until"
    )
    screenshot(page, "operator-members")

    # A new user of Example Polytechnic.
    polytechnic.get_by_role("link", name=POLYTECHNIC).click()
    expect(main.get_by_role("heading", name=POLYTECHNIC, level=1)).to_be_visible()
    email = f"web-{secrets.token_hex(4)}@poly.example"
    add_user = main.locator("#add-user")
    add_user.get_by_label("Email", exact=True).fill(email)
    add_user.get_by_label("Role", exact=True).select_option("analyst")
    add_user.get_by_role("button", name="Add user").click()
    expect(main.get_by_role("heading", name=email, level=1)).to_be_visible()
    expect(main.get_by_role("status")).to_contain_text("The user was added")
    expect(main.get_by_role("table", name=re.compile("Tokens of"))).to_contain_text("No tokens yet")

    # A token for them, shown once.
    issue = main.locator("#issue-token")
    issue.get_by_label("Label", exact=True).fill("web test")
    issue.get_by_role("button", name="Issue token").click()
    expect(main.get_by_role("heading", name=f"Token issued for {email}")).to_be_visible()
    expect(main.get_by_role("alert")).to_contain_text("it will not be shown again")
    token = main.get_by_label("Token", exact=True).input_value()
    assert TOKEN_TEXT.fullmatch(token)
    expect(main.get_by_role("button", name="Copy token")).to_be_visible()
    screenshot(page, "operator-token-issued")
    me = _bearer_me(node, token)
    assert me.status_code == 200
    assert me.json()["email"] == email
    assert me.json()["role"] == "analyst"

    # Reloading sends the form again: nothing is issued, and the text is gone.
    page.reload()
    expect(main.get_by_role("heading", name=email, level=1)).to_be_visible()
    expect(main).not_to_contain_text(token)
    tokens = main.get_by_role("table", name=re.compile("Tokens of"))
    expect(tokens.get_by_role("row").filter(has_text="web test")).to_have_count(1)
    page.goto(page.url.split("?")[0])
    expect(main).not_to_contain_text(token)

    # Revoked after a confirmation: the token stops working at once.
    page.once("dialog", lambda dialog: dialog.accept())
    tokens.get_by_role("button", name=re.compile("^Revoke")).click()
    expect(main.get_by_role("status")).to_contain_text("The token was revoked")
    expect(tokens.get_by_role("row").filter(has_text="web test")).to_contain_text("Revoked")
    assert _bearer_me(node, token).status_code == 401

    # Example Polytechnic vetted for a while.
    main.get_by_role("link", name=POLYTECHNIC).first.click()
    change = main.locator("#change-org")
    change.get_by_label("Vetted until", exact=True).fill("2099-12-31")
    change.get_by_role("button", name="Save changes").click()
    expect(main.get_by_role("status")).to_contain_text("The organisation was changed")
    expect(main.locator("dl.facts")).to_contain_text("Vetted until 2099-12-31")
    # Back as it was, for the other tests on this node: the demo's Polytechnic is unvetted.
    change.get_by_label("Vetted until", exact=True).fill("")
    change.get_by_role("button", name="Save changes").click()
    expect(main.locator("dl.facts")).to_contain_text("Not vetted")


def test_an_operator_sees_peers_quarantine_and_an_intact_audit_chain(
    node: Node, page_for: PageFor
) -> None:
    peer_id = f"web-{secrets.token_hex(3)}"
    public_key = secrets.token_bytes(32)
    env = node_environment(node.data_dir)
    run_node_command(
        [
            "peers",
            "add",
            peer_id,
            "--public-key",
            b64url_encode(public_key),
            "--kid",
            f"{peer_id}-1",
        ],
        env,
    )
    run_node_command(
        ["groups", "add", f"{peer_id}-group", "--member", "demo", "--member", peer_id], env
    )

    page = page_for(OPERATOR)
    main = page.get_by_role("main")
    page.goto("/operator/peers")
    peers = main.get_by_role("table", name=re.compile("Peers"))
    row = peers.get_by_role("row").filter(has_text=peer_id)
    expect(row).to_contain_text("never")  # not synced: it has no URL to pull from
    expect(row).to_contain_text(fingerprint(public_key))
    expect(row).to_contain_text(f"{peer_id}-1")
    groups = main.get_by_role("table", name=re.compile("Sharing groups"))
    expect(groups.get_by_role("row").filter(has_text=f"{peer_id}-group")).to_contain_text(peer_id)
    screenshot(page, "operator-peers")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Quarantine").click()
    expect(main.get_by_role("status")).to_contain_text("Nothing is in quarantine")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    entries = main.get_by_role("table", name=re.compile("Audit entries"))
    expect(entries.get_by_role("row").filter(has_text="federation.peer.add")).to_contain_text(
        peer_id
    )
    main.get_by_role("button", name="Verify the audit chain").click()
    result = main.get_by_role("status")
    expect(result).to_contain_text("The audit chain is intact")
    checked = int(result.locator("dd").first.inner_text())
    assert checked >= 2
    expect(result.locator("code.hash")).to_have_text(re.compile("^[0-9a-f]{64}$"))
    screenshot(page, "operator-audit")


@pytest.mark.parametrize("email", [READER, ANALYST])
def test_members_get_the_refusal_page_in_the_browser(page_for: PageFor, email: str) -> None:
    page: Page = page_for(email)
    response = page.goto("/operator/members")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("Quarantine")
