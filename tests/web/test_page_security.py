"""The pages' security, without a browser: CSRF on every form, the Content-Security-Policy,
the session cookie, sessions that end with their token, and the API still closed to cookies.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.api.auth import session_cookie_name
from service.app import create_app
from service.settings import Settings
from tests.factories import Members, advisory_payload
from tests.web.pages import csrf_of, web_sign_in

READER = "reader@example.edu"
OPERATOR = "operator@node.example"
ANALYST = "analyst@example.edu"


def test_pages_carry_a_strict_policy_and_are_never_cached(client: TestClient) -> None:
    for path in ("/", "/sign-in", "/no-such-page"):
        response = client.get(path, headers={"Accept": "text/html"})
        assert response.headers["content-type"].startswith("text/html"), path
        policy = response.headers["content-security-policy"]
        for directive in (
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ):
            assert directive in policy, (path, directive)
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
        # Chromium sends "Origin: null" on form posts from a no-referrer page.
        assert response.headers["referrer-policy"] == "same-origin"
    assert client.get("/no-such-page", headers={"Accept": "text/html"}).status_code == 404
    # A machine asking gets a problem document, as on the API.
    missing = client.get("/no-such-page")
    assert missing.headers["content-type"] == "application/problem+json"


def test_a_form_post_without_the_sessions_token_is_refused(
    client: TestClient, members: Members
) -> None:
    token = members.tokens[READER]
    page = client.get("/sign-in")
    good = csrf_of(page.text)
    for data in (
        {"token": token},  # no CSRF token
        {"token": token, "csrf_token": "x" * len(good)},  # a wrong one
    ):
        refused = client.post("/sign-in", data=data)
        assert refused.status_code == 403
        assert "did not come from this node" in refused.text
    # The right token, but sent from another site's page.
    cross_site = client.post(
        "/sign-in",
        data={"token": token, "csrf_token": good},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    # Another browser's token is not this browser's.
    with TestClient(client.app) as other:
        other_token = csrf_of(other.get("/sign-in").text)
    assert (
        client.post("/sign-in", data={"token": token, "csrf_token": other_token}).status_code == 403
    )
    assert "Sign out" not in client.get("/").text
    signed_in = client.post(
        "/sign-in",
        data={"token": token, "csrf_token": good, "next": "/advisories"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/advisories"
    assert READER in client.get("/").text
    # Sign-out is a form too: a link on another site cannot sign a member out.
    assert client.post("/sign-out", data={}).status_code == 403
    assert READER in client.get("/").text


def test_the_landing_page_after_sign_in_is_on_this_node(
    client: TestClient, members: Members
) -> None:
    csrf = csrf_of(client.get("/sign-in").text)
    response = client.post(
        "/sign-in",
        data={"token": members.tokens[READER], "csrf_token": csrf, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_the_session_cookie_is_http_only_and_lax(client: TestClient, settings: Settings) -> None:
    response = client.get("/sign-in")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{session_cookie_name(settings)}=")
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()


def test_a_https_node_sets_a_secure_host_only_cookie(settings: Settings) -> None:
    secure = Settings(
        **{**settings.model_dump(), "public_url": "https://node.example", "secure_cookies": True}
    )
    with TestClient(create_app(secure), base_url="https://node.example") as https_client:
        cookie = https_client.get("/sign-in").headers["set-cookie"]
    assert cookie.startswith("__Host-trex_session=")
    assert "secure" in cookie.lower()
    assert "path=/" in cookie.lower()


def test_a_session_ends_when_its_sign_in_token_is_revoked(
    client: TestClient, members: Members
) -> None:
    web_sign_in(client, members.tokens[READER])
    assert READER in client.get("/").text
    me = client.get("/v1/me", headers=members.auth(READER)).json()
    tokens = client.get("/v1/admin/tokens", headers=members.auth(OPERATOR)).json()
    token_id = next(t["id"] for t in tokens if t["user_id"] == me["user_id"])
    revoked = client.post(f"/v1/admin/tokens/{token_id}/revoke", headers=members.auth(OPERATOR))
    assert revoked.status_code == 200
    page = client.get("/").text
    assert READER not in page
    assert "Sign in" in page


def test_the_api_still_takes_no_write_from_a_cookie(client: TestClient, members: Members) -> None:
    web_sign_in(client, members.tokens[ANALYST])
    # The pages write with the session (behind CSRF tokens); /v1 only reads with it.
    me = client.get("/v1/me").json()
    assert me["email"] == ANALYST
    assert me["read_only"] is True
    refused = client.post("/v1/advisories", json=advisory_payload())
    assert refused.status_code == 401
    assert client.get("/v1/advisories?status=all").status_code == 200
