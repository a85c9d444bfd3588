"""Every page and form, for every kind of viewer: who gets it, who is sent to sign in, who is
refused. The table must name every page route the app has, so a new page cannot ship without
its access being tested; each page's own tests check what it shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import routing
from fastapi.testclient import TestClient

from service.web.render import WebRoute
from tests.factories import Members, post_advisory
from tests.web.pages import csrf_of, web_sign_in

READER = "reader@example.edu"
ANALYST = "analyst@example.edu"
OPERATOR = "operator@node.example"

ANYONE = "anyone"
MEMBER = "member"  # any signed-in user
WRITER = "writer"  # analysts and publishers, of the advisory's tier and org
REVIEWER = "reviewer"  # readers, analysts and publishers (not operators)
OPERATOR_ONLY = "operator"

PAGES: dict[tuple[str, str], str] = {
    ("GET", "/"): ANYONE,
    ("GET", "/sign-in"): ANYONE,
    ("POST", "/sign-in"): ANYONE,
    ("POST", "/sign-out"): ANYONE,
    ("GET", "/screen"): ANYONE,
    ("GET", "/screen/batch"): MEMBER,
    ("POST", "/screen/batch"): MEMBER,
    ("GET", "/advisories"): ANYONE,
    ("GET", "/advisories/{advisory_id}"): ANYONE,
    ("GET", "/advisories/new"): WRITER,
    ("POST", "/advisories/new"): WRITER,
    ("GET", "/advisories/{advisory_id}/edit"): WRITER,
    ("POST", "/advisories/{advisory_id}/edit"): WRITER,
    ("GET", "/advisories/{advisory_id}/withdraw"): WRITER,
    ("POST", "/advisories/{advisory_id}/withdraw"): WRITER,
    ("GET", "/reviews"): REVIEWER,
    ("GET", "/reviews/new"): REVIEWER,
    ("POST", "/reviews/new"): REVIEWER,
    ("GET", "/reviews/{review_id}"): REVIEWER,
    ("GET", "/operator/members"): OPERATOR_ONLY,
    ("POST", "/operator/members"): OPERATOR_ONLY,
    ("GET", "/operator/members/orgs/{org_id}"): OPERATOR_ONLY,
    ("POST", "/operator/members/orgs/{org_id}"): OPERATOR_ONLY,
    ("POST", "/operator/members/orgs/{org_id}/users"): OPERATOR_ONLY,
    ("GET", "/operator/members/users/{user_id}"): OPERATOR_ONLY,
    ("POST", "/operator/members/users/{user_id}"): OPERATOR_ONLY,
    ("POST", "/operator/members/users/{user_id}/tokens"): OPERATOR_ONLY,
    ("POST", "/operator/members/tokens/{token_id}/revoke"): OPERATOR_ONLY,
    ("GET", "/operator/peers"): OPERATOR_ONLY,
    ("GET", "/operator/quarantine"): OPERATOR_ONLY,
    ("GET", "/operator/audit"): OPERATOR_ONLY,
}

# Who may use a page of each audience, and who may not (signed in).
ALLOWED = {MEMBER: READER, WRITER: ANALYST, REVIEWER: READER, OPERATOR_ONLY: OPERATOR}
REFUSED = {WRITER: (READER, OPERATOR), REVIEWER: (OPERATOR,), OPERATOR_ONLY: (READER, ANALYST)}


def page_routes() -> set[tuple[str, str]]:
    from service.app import create_app
    from service.settings import Settings

    app = create_app(Settings(node_id="pages", data_dir="/nonexistent-not-created"))
    found = set()
    for context in routing.iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, WebRoute):
            found |= {(method, route.path) for method in route.methods}
    return found


def test_the_table_names_every_page_and_nothing_else() -> None:
    assert page_routes() == set(PAGES)


@dataclass
class Ids:
    values: dict[str, str]

    def path(self, template: str) -> str:
        return template.format(**self.values)


@pytest.fixture
def ids(client: TestClient, members: Members) -> Ids:
    advisory = post_advisory(client, members.auth(ANALYST), tlp="clear")
    review = client.post(
        "/v1/reviews",
        headers=members.auth(READER),
        json={
            "partners": [{"name": "University of Oxford", "country": "GB"}],
            "research_area": "Soil microbiology",
            "non_public_resources": {"kinds": ["none"]},
            "applications": "Better crop yields",
        },
    )
    assert review.status_code == 201, review.text
    users = client.get("/v1/admin/users", headers=members.auth(OPERATOR)).json()
    reader = next(u for u in users if u["email"] == READER)
    tokens = client.get("/v1/admin/tokens", headers=members.auth(OPERATOR)).json()
    return Ids(
        {
            "advisory_id": advisory["id"],
            "review_id": review.json()["id"],
            "org_id": members.org_ids["University of Example"],
            "user_id": reader["id"],
            "token_id": next(t["id"] for t in tokens if t["user_id"] == reader["id"]),
        }
    )


def _browser(client: TestClient, members: Members, email: str | None) -> TestClient:
    browser = TestClient(client.app, follow_redirects=False)
    if email is not None:
        web_sign_in(browser, members.tokens[email])
    return browser


def _request(browser: TestClient, method: str, path: str, *, csrf: bool) -> Any:
    if method == "GET":
        return browser.get(path)
    data = {"csrf_token": csrf_of(browser.get("/sign-in").text)} if csrf else {}
    return browser.post(path, data=data)


def _is_sign_in_redirect(response: Any) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/sign-in")


def test_each_page_admits_its_audience_and_no_one_else(
    client: TestClient, members: Members, ids: Ids
) -> None:
    anonymous = _browser(client, members, None)
    signed_in = {email: _browser(client, members, email) for email in (READER, ANALYST, OPERATOR)}
    for (method, template), audience in sorted(PAGES.items()):
        path = ids.path(template)
        where = f"{method} {path}"
        if audience == ANYONE:
            if method == "GET":
                assert anonymous.get(path).status_code == 200, where
                assert signed_in[READER].get(path).status_code == 200, where
            else:
                # Open to anyone, but only from this node's own form.
                assert _request(anonymous, method, path, csrf=False).status_code == 403, where
            continue
        assert _is_sign_in_redirect(_request(anonymous, method, path, csrf=True)), where
        for email in REFUSED.get(audience, ()):
            refused = _request(signed_in[email], method, path, csrf=True)
            assert refused.status_code == 403, (where, email, refused.status_code)
        allowed = signed_in[ALLOWED[audience]]
        if method == "GET":
            response = allowed.get(path)
            assert response.status_code == 200, (where, response.status_code)
            assert response.headers["content-type"].startswith("text/html")
        else:
            # The one who may use the form is still refused without this session's token.
            assert _request(allowed, method, path, csrf=False).status_code == 403, where


def test_the_pages_table_of_the_docs_lists_every_page() -> None:
    """docs/web.md's table of pages names every page a person opens (forms post to them)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "web.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(/[^`]*)` \|", text, flags=re.MULTILINE))
    opened = {
        template.replace("{advisory_id}", "{id}")
        for method, template in PAGES
        if method == "GET" and template != "/sign-in"
    }
    # Pages reached only from another page (one org, one user, one review) need no row.
    reached = {"/operator/members/orgs/{org_id}", "/operator/members/users/{user_id}"}
    assert documented == opened - reached - {"/reviews/{review_id}"}
