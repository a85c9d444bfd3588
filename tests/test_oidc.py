"""Web sign-in with OpenID Connect, against a real provider on a loopback port.

The node runs in-process (``TestClient``); the provider (``tests/oidc_provider.py``) is a real
HTTP server the node talks to over the network. Redirects are followed by hand, as a browser
would: node -> provider ``/authorize`` (over HTTP) -> node ``/auth/callback``.
"""

from __future__ import annotations

import json
import logging
import socket
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.access.models import User
from service.access.schemas import OrgUpdate
from service.access.service import get_org, get_user_by_email, update_org, update_user
from service.access.signin import SignInRefused, principal_for_web_session, sign_in_by_email
from service.api.auth import session_cookie_name
from service.api.deps import get_now
from service.app import create_app
from service.db import transaction, utcnow
from service.settings import SESSION_SECRET_FILE, Settings
from tests.audit.chain import entries, verified
from tests.factories import Members, advisory_payload, table_counts
from tests.oidc_provider import Identity, Provider, running_provider

PROVIDER_NAME = "uni"
HTTPS_PUBLIC_URL = "https://trex.example"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def oidc_server() -> Iterator[Provider]:
    with running_provider() as provider:
        yield provider


@pytest.fixture
def provider(oidc_server: Provider) -> Iterator[Provider]:
    oidc_server.reset()
    yield oidc_server
    oidc_server.reset()


def _provider_config(provider: Provider) -> dict[str, Any]:
    return {
        "name": PROVIDER_NAME,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
    }


def _node_settings(database_url: str, data_dir: Path, provider: Provider, **extra: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        node_id="test",
        node_name="Test node",
        node_country="CA",
        oidc_providers=[_provider_config(provider)],
        **extra,
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path, provider: Provider) -> Settings:
    """The suite's settings, with the test provider on the allow-list (over plain http)."""
    return _node_settings(database_url, tmp_path, provider)


@pytest.fixture
def domains(members: Members, session_factory: sessionmaker[Session]) -> Members:
    """The demo members, with email domains registered for two universities."""
    with transaction(session_factory) as session:
        for name, domain in (
            ("University of Example", "example.edu"),
            ("Example Polytechnic", "poly.example"),
        ):
            org = get_org(session, members.org_ids[name])
            update_org(session, org, OrgUpdate(email_domains=[domain]))
    return members


# --- driving the flow ----------------------------------------------------------------------------


def _start(client: TestClient, provider_name: str = PROVIDER_NAME) -> str:
    """``/auth/login``; the provider's authorization URL it redirects to."""
    response = client.get("/auth/login", params={"provider": provider_name}, follow_redirects=False)
    assert response.status_code == 302, response.text
    location: str = response.headers["location"]
    return location


def _authorize(provider: Provider, authorize_url: str) -> httpx.URL:
    """The browser at the provider (real HTTP): it approves and redirects back to the node."""
    assert authorize_url.startswith(f"{provider.issuer}/authorize?")
    answer = httpx.get(authorize_url, follow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = httpx.URL(answer.headers["location"])
    assert back.path == "/auth/callback"
    return back


def _callback(client: TestClient, back: httpx.URL) -> httpx.Response:
    response: httpx.Response = client.get(back.raw_path.decode("ascii"), follow_redirects=False)
    return response


def sign_in(client: TestClient, provider: Provider, email: str | None = None) -> httpx.Response:
    """The whole flow as ``email`` (default: the provider's identity); the callback's answer."""
    if email is not None:
        provider.identity = Identity(sub=f"sub-{email}", email=email)
    return _callback(client, _authorize(provider, _start(client)))


def _set_cookie(response: httpx.Response, name: str) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0]


def _cookie_attributes(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


def _assert_signed_out(client: TestClient) -> None:
    me = client.get("/v1/me")
    assert me.status_code == 401, me.text


def _assert_session_dropped(response: httpx.Response, settings: Settings) -> None:
    """A refusal sets no session: it can only delete the cookie the login had started."""
    cleared = _set_cookie(response, session_cookie_name(settings))
    assert cleared.split(";")[0] == f"{session_cookie_name(settings)}=null"
    assert "expires=thu, 01 jan 1970" in cleared.lower()


def _assert_refusal_page(response: httpx.Response, status: int, *phrases: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "Traceback" not in page
    for phrase in phrases:
        assert phrase in page, page
    return page


# --- the happy path ------------------------------------------------------------------------------


def test_sign_ins_and_the_accounts_they_create_are_audited(
    client: TestClient,
    provider: Provider,
    domains: Members,
    session_factory: sessionmaker[Session],
) -> None:
    assert sign_in(client, provider, "reader@example.edu").status_code == 303
    assert sign_in(client, provider, "newcomer@example.edu").status_code == 303

    log = [(e.actor, e.action, e.detail) for e in entries(session_factory)]
    assert log[-2:] == [
        (
            "reader@example.edu",
            "auth.sign_in",
            {"created_user": False, "role": "reader", "method": "oidc"},
        ),
        (
            "newcomer@example.edu",
            "auth.sign_in",
            {"created_user": True, "role": "reader", "method": "oidc"},
        ),
    ]
    assert verified(session_factory).count == len(log)


def test_sign_in_sets_a_safe_cookie_and_identifies_the_user(
    client: TestClient, provider: Provider, domains: Members, settings: Settings
) -> None:
    response = sign_in(client, provider, "reader@example.edu")

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    cookie = _set_cookie(response, session_cookie_name(settings))
    attributes = _cookie_attributes(cookie)
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes  # public_url is http here
    me = client.get("/v1/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["email"] == "reader@example.edu"
    assert body["org"]["name"] == "University of Example"
    assert body["org"]["id"] == domains.org_ids["University of Example"]
    assert body["role"] == "reader"
    assert body["read_only"] is True  # a web session reads; writing takes a token
    # The flow was the code flow with PKCE S256, state and nonce; the provider checked the
    # client's secret and the code verifier before answering.
    (authorize,) = provider.authorize_requests
    assert authorize["response_type"] == "code"
    assert authorize["code_challenge_method"] == "S256"
    assert len(authorize["code_challenge"]) >= 43
    assert authorize["state"]
    assert authorize["nonce"]
    assert set(authorize["scope"].split()) >= {"openid", "email"}
    assert authorize["redirect_uri"] == "http://127.0.0.1:8000/auth/callback"
    (token_request,) = provider.token_requests
    assert token_request["code_verifier"]
    assert provider.token_errors == []


def test_secure_cookie_when_the_public_url_is_https(
    database_url: str, tmp_path: Path, provider: Provider, domains: Members
) -> None:
    settings = _node_settings(database_url, tmp_path, provider, public_url=HTTPS_PUBLIC_URL)
    assert settings.secure_cookies is True
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        response = sign_in(client, provider, "reader@example.edu")
        assert response.status_code == 303, response.text
        name = session_cookie_name(settings)
        assert name.startswith("__Host-")
        attributes = _cookie_attributes(_set_cookie(response, name))
        assert {"httponly", "samesite=lax", "secure", "path=/"} <= attributes
        assert not any(a.startswith("domain=") for a in attributes)
        assert client.get("/v1/me").json()["email"] == "reader@example.edu"
    assert provider.authorize_requests[0]["redirect_uri"] == f"{HTTPS_PUBLIC_URL}/auth/callback"


def test_an_unknown_user_of_a_known_domain_is_created_as_a_reader(
    client: TestClient,
    provider: Provider,
    domains: Members,
    session_factory: sessionmaker[Session],
) -> None:
    response = sign_in(client, provider, "New.Person@Example.edu")

    assert response.status_code == 303, response.text
    me = client.get("/v1/me").json()
    assert me["email"] == "new.person@example.edu"
    assert me["role"] == "reader"
    assert me["org"]["id"] == domains.org_ids["University of Example"]
    with session_factory() as session:
        user = get_user_by_email(session, "new.person@example.edu")
        assert (user.role, user.status, user.org.name) == (
            "reader",
            "active",
            "University of Example",
        )
    # Signing in again finds the same user; no second one.
    client.cookies.clear()
    assert sign_in(client, provider, "new.person@example.edu").status_code == 303
    with session_factory() as session:
        users = session.scalars(select(User).where(User.email == "new.person@example.edu")).all()
        assert len(users) == 1


def test_the_landing_page_is_a_path_on_this_node(
    client: TestClient, provider: Provider, domains: Members
) -> None:
    for asked, landing in (
        ("/v1/advisories", "/v1/advisories"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ):
        client.cookies.clear()
        start = client.get(
            "/auth/login",
            params={"provider": PROVIDER_NAME, "next": asked},
            follow_redirects=False,
        )
        response = _callback(client, _authorize(provider, start.headers["location"]))
        assert response.status_code == 303, response.text
        assert response.headers["location"] == landing, asked


# --- refusals: who the address is ----------------------------------------------------------------


def test_an_unknown_domain_gets_a_page_saying_what_to_do(
    client: TestClient,
    provider: Provider,
    domains: Members,
    session_factory: sessionmaker[Session],
) -> None:
    response = sign_in(client, provider, "someone@elsewhere.example")

    _assert_refusal_page(response, 403, "elsewhere.example", "operator", "admit")
    _assert_signed_out(client)
    with session_factory() as session:
        assert session.scalars(select(User).where(User.email.like("%elsewhere%"))).all() == []


@pytest.mark.parametrize("claim", [False, None, "true", 1], ids=repr)
def test_an_unverified_email_is_refused(
    client: TestClient, provider: Provider, domains: Members, claim: object
) -> None:
    provider.identity = Identity(sub="u", email="reader@example.edu", email_verified=claim)

    response = _callback(client, _authorize(provider, _start(client)))

    _assert_refusal_page(response, 403, "not verified")
    _assert_signed_out(client)


def test_a_user_whose_org_does_not_own_the_domain_is_refused(
    client: TestClient, provider: Provider, members: Members
) -> None:
    # No domains are registered: the existing user may not sign in with the web.
    response = sign_in(client, provider, "reader@example.edu")

    _assert_refusal_page(response, 403, "University of Example", "example.edu")
    _assert_signed_out(client)


def test_a_suspended_org_or_disabled_user_cannot_sign_in(
    client: TestClient,
    provider: Provider,
    domains: Members,
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        org = get_org(session, domains.org_ids["Example Polytechnic"])
        update_org(session, org, OrgUpdate(status="suspended"))
        update_user(session, get_user_by_email(session, "analyst@example.edu"), status="disabled")

    for email, phrase in (
        ("reader@poly.example", "suspended"),
        ("newcomer@poly.example", "suspended"),
        ("analyst@example.edu", "disabled"),
    ):
        client.cookies.clear()
        _assert_refusal_page(sign_in(client, provider, email), 403, phrase, "operator")
        _assert_signed_out(client)
    with session_factory() as session:
        assert (
            session.scalars(select(User).where(User.email == "newcomer@poly.example")).all() == []
        )


# --- refusals: the protocol ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lie", "caught"),
    [
        ("wrong_nonce", "InvalidClaimError(\"invalid_claim: Invalid claim: 'nonce'\")"),
        ("wrong_aud", "InvalidClaimError(\"invalid_claim: Invalid claim: 'aud'\")"),
        ("wrong_iss", "InvalidClaimError(\"invalid_claim: Invalid claim: 'iss'\")"),
        ("expired", "ExpiredTokenError"),
        ("foreign_key", "BadSignatureError"),
    ],
)
def test_an_id_token_failing_a_check_is_refused(
    client: TestClient,
    provider: Provider,
    domains: Members,
    session_factory: sessionmaker[Session],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    lie: str,
    caught: str,
) -> None:
    setattr(provider.misbehaviour, lie, True)

    with caplog.at_level(logging.WARNING, logger="trex.signin"):
        response = sign_in(client, provider, "fresh@example.edu")

    _assert_refusal_page(response, 400, "did not pass")
    # Refused by the check meant for this lie, not by some other accident.
    assert any(caught in record.getMessage() for record in caplog.records), caplog.text
    assert provider.token_errors == []  # the provider answered; the node refused its answer
    _assert_session_dropped(response, settings)
    _assert_signed_out(client)
    with session_factory() as session:
        assert session.scalars(select(User).where(User.email == "fresh@example.edu")).all() == []


def test_a_wrong_state_is_refused_and_ends_the_login(
    client: TestClient, provider: Provider, domains: Members
) -> None:
    back = _authorize(provider, _start(client))
    forged = back.copy_set_param("state", "forged-state")

    _assert_refusal_page(_callback(client, forged), 400)
    _assert_signed_out(client)
    # The refusal ended the login: the genuine answer no longer works either.
    _assert_refusal_page(_callback(client, back), 400)
    _assert_signed_out(client)
    assert provider.token_requests == []  # the code was never exchanged


def test_a_callback_from_another_browser_is_refused(
    client: TestClient, provider: Provider, domains: Members, settings: Settings
) -> None:
    back = _authorize(provider, _start(client))
    with TestClient(create_app(settings)) as other_browser:
        _assert_refusal_page(_callback(other_browser, back), 400, "not started in this browser")
        assert other_browser.get("/v1/me").status_code == 401


def test_a_callback_cannot_be_replayed(
    client: TestClient, provider: Provider, domains: Members
) -> None:
    back = _authorize(provider, _start(client))
    assert _callback(client, back).status_code == 303
    client.post("/auth/logout")

    _assert_refusal_page(_callback(client, back), 400)
    _assert_signed_out(client)


def test_an_answer_naming_another_issuer_is_refused(
    client: TestClient, provider: Provider, domains: Members
) -> None:
    back = _authorize(provider, _start(client)).copy_set_param("iss", "https://impostor.example")

    _assert_refusal_page(_callback(client, back), 400, "another identity provider")
    _assert_signed_out(client)
    assert provider.token_requests == []


def test_a_provider_error_is_refused(
    client: TestClient, provider: Provider, domains: Members
) -> None:
    authorize_url = _start(client)
    state = httpx.URL(authorize_url).params["state"]
    back = httpx.URL(
        "http://127.0.0.1:8000/auth/callback",
        params={"error": "access_denied", "state": state, "iss": provider.issuer},
    )

    _assert_refusal_page(_callback(client, back), 400)
    _assert_signed_out(client)


def test_a_provider_whose_discovery_names_another_issuer_is_not_used(
    client: TestClient, provider: Provider, domains: Members
) -> None:
    provider.misbehaviour.discovery_issuer = "https://impostor.example"

    response = client.get("/auth/login", params={"provider": PROVIDER_NAME}, follow_redirects=False)

    _assert_refusal_page(response, 502, "not configured correctly")
    assert provider.authorize_requests == []


def test_an_unreachable_provider_gets_a_page(
    database_url: str, tmp_path: Path, provider: Provider
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = {**_provider_config(provider), "issuer": f"http://127.0.0.1:{port}"}
    settings = Settings(data_dir=tmp_path, database_url=database_url, oidc_providers=[gone])
    with TestClient(create_app(settings)) as client:
        response = client.get("/auth/login", follow_redirects=False)
        _assert_refusal_page(response, 502, "could not be reached")


@pytest.mark.parametrize("name", ["unknown", "UNI", "uni2"])
def test_a_provider_not_on_the_allow_list_cannot_be_used(
    client: TestClient, provider: Provider, name: str
) -> None:
    response = client.get("/auth/login", params={"provider": name}, follow_redirects=False)

    assert 400 <= response.status_code < 500
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert provider.authorize_requests == []


def test_without_providers_there_is_no_sign_in(database_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    with TestClient(create_app(settings)) as plain:
        response = plain.get("/auth/login", follow_redirects=False)
        _assert_refusal_page(response, 404, "no sign-in")
        assert "set-cookie" not in response.headers


# --- what the session may do ---------------------------------------------------------------------


def test_a_session_cookie_cannot_write(
    client: TestClient,
    provider: Provider,
    domains: Members,
    session_factory: sessionmaker[Session],
) -> None:
    assert sign_in(client, provider, "analyst@example.edu").status_code == 303
    assert client.get("/v1/me").json()["role"] == "analyst"
    before = table_counts(session_factory)

    response = client.post("/v1/advisories", json=advisory_payload())

    assert response.status_code == 401, response.text
    assert table_counts(session_factory) == before
    # The same user's bearer token still writes: it is the cookie that may not.
    with_token = client.post(
        "/v1/advisories",
        json=advisory_payload(),
        headers=domains.auth("analyst@example.edu"),
    )
    assert with_token.status_code == 201, with_token.text


def test_an_authorization_header_wins_over_the_cookie(
    client: TestClient, provider: Provider, domains: Members
) -> None:
    assert sign_in(client, provider, "reader@example.edu").status_code == 303

    bad = client.get("/v1/me", headers={"Authorization": "Bearer trex_nonsense"})
    assert bad.status_code == 401
    other = client.get("/v1/me", headers=domains.auth("publisher@gov.example"))
    assert other.json()["email"] == "publisher@gov.example"
    assert other.json()["read_only"] is False


def test_suspending_the_org_ends_its_sessions_at_once(
    client: TestClient,
    provider: Provider,
    domains: Members,
    session_factory: sessionmaker[Session],
) -> None:
    assert sign_in(client, provider, "reader@example.edu").status_code == 303
    assert client.get("/v1/me").status_code == 200
    org_id = domains.org_ids["University of Example"]

    with transaction(session_factory) as session:
        update_org(session, get_org(session, org_id), OrgUpdate(status="suspended"))
    _assert_signed_out(client)

    with transaction(session_factory) as session:
        update_org(session, get_org(session, org_id), OrgUpdate(status="active"))
    assert client.get("/v1/me").status_code == 200  # the cookie was never the authority
    with transaction(session_factory) as session:
        update_user(session, get_user_by_email(session, "reader@example.edu"), status="disabled")
    _assert_signed_out(client)


def test_a_session_expires_after_its_lifetime(
    client: TestClient, provider: Provider, domains: Members, settings: Settings
) -> None:
    assert sign_in(client, provider, "reader@example.edu").status_code == 303
    lifetime = timedelta(hours=settings.session_ttl_hours)

    def later() -> datetime:
        return utcnow() + lifetime + timedelta(minutes=1)

    client.app.dependency_overrides[get_now] = later  # type: ignore[attr-defined]
    try:
        _assert_signed_out(client)
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert client.get("/v1/me").status_code == 200


def test_logout_clears_the_session(
    client: TestClient, provider: Provider, domains: Members, settings: Settings
) -> None:
    assert sign_in(client, provider, "reader@example.edu").status_code == 303

    response = client.post("/auth/logout")

    assert response.status_code == 200
    cleared = _set_cookie(response, session_cookie_name(settings))
    assert "expires=thu, 01 jan 1970" in cleared.lower()
    _assert_signed_out(client)
    assert client.get("/auth/logout").status_code == 405  # logging out is a POST


# --- the domain rules, without HTTP --------------------------------------------------------------


def test_sign_in_by_email_rules(domains: Members, session_factory: sessionmaker[Session]) -> None:
    now = utcnow()
    with transaction(session_factory) as session:
        user = sign_in_by_email(session, email=" Reader@Example.EDU ", verified=True, now=now)
        assert user.email == "reader@example.edu"
        created = sign_in_by_email(session, email="x@poly.example", verified=True, now=now)
        assert (created.role, created.org_id) == ("reader", domains.org_ids["Example Polytechnic"])
        assert created.created_at == now
        principal = principal_for_web_session(session, user_id=created.id)
        assert principal is not None
        # The user's own rights: the pages write with them behind CSRF tokens; /v1 makes a
        # session read-only itself (test above).
        assert not principal.read_only
        assert principal.role == "reader"
        assert principal_for_web_session(session, user_id="no-such-user") is None
        cases = [
            ("reader@example.edu", False, "email_unverified"),
            ("nobody@unknown.example", True, "unknown_domain"),
            ("someone@cs.example.edu", True, "unknown_domain"),  # subdomains are not implied
            ("publisher@gov.example", True, "domain_not_owned"),
            ("not-an-address", True, "email_invalid"),
            ("", True, "email_invalid"),
            ("a@b@example.edu", True, "email_invalid"),
        ]
        for email, verified, reason in cases:
            with pytest.raises(SignInRefused) as refused:
                sign_in_by_email(session, email=email, verified=verified, now=now)
            assert refused.value.reason == reason, email
            assert refused.value.advice


# --- settings ------------------------------------------------------------------------------------


def test_providers_come_from_the_environment_as_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    providers = [
        {
            "name": "campus",
            "issuer": "https://login.example.edu/realms/staff",
            "client_id": "trex",
            "client_secret": "s3cret-from-the-idp",
            "scopes": ["openid", "email", "profile"],
        }
    ]
    monkeypatch.setenv("TREX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TREX_OIDC_PROVIDERS", json.dumps(providers))
    monkeypatch.setenv("TREX_PUBLIC_URL", "https://node.example")

    settings = Settings()

    (campus,) = settings.oidc_providers
    assert campus.name == "campus"
    assert campus.client_secret.get_secret_value() == "s3cret-from-the-idp"
    assert campus.scopes == ("openid", "email", "profile")
    assert campus.metadata_url == (
        "https://login.example.edu/realms/staff/.well-known/openid-configuration"
    )
    assert settings.secure_cookies is True
    assert "s3cret" not in repr(settings)


def test_providers_come_from_the_toml_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        'public_url = "http://127.0.0.1:8000"\n'
        "secure_cookies = true\n"
        "[[oidc_providers]]\n"
        'name = "campus"\n'
        'issuer = "https://login.example.edu"\n'
        'client_id = "trex"\n'
        'client_secret = "from-toml"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("TREX_CONFIG", str(config))

    settings = Settings()

    assert [p.issuer for p in settings.oidc_providers] == ["https://login.example.edu"]
    assert settings.secure_cookies is True  # said explicitly, over the http default


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"issuer": "http://login.example.edu"}, "issuer"),
        ({"issuer": "https://login.example.edu?x=1"}, "issuer"),
        ({"issuer": "login.example.edu"}, "issuer"),
        ({"scopes": ["email"]}, "scopes"),
        ({"scopes": ["openid"]}, "scopes"),
        ({"name": "Has Spaces"}, "name"),
        ({"client_id": ""}, "client_id"),
    ],
)
def test_a_bad_provider_is_refused(change: dict[str, Any], field: str) -> None:
    provider = {
        "name": "campus",
        "issuer": "https://login.example.edu",
        "client_id": "trex",
        "client_secret": "x",
        **change,
    }
    with pytest.raises(ValueError, match=field):
        Settings(oidc_providers=[provider])


def test_provider_names_are_unique() -> None:
    provider = {"name": "a", "issuer": "https://a.example", "client_id": "c", "client_secret": "s"}
    with pytest.raises(ValueError, match="unique"):
        Settings(oidc_providers=[provider, provider])


@pytest.mark.parametrize(
    "secret",
    ["changeme", "x" * 64, "changeme-changeme-changeme-changeme-0123456789", "short-but-random-9f"],
)
def test_a_weak_session_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="session_secret") as refused:
        Settings(session_secret=secret)
    assert secret not in str(refused.value)  # the refusal never echoes the value


def test_a_session_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    settings = Settings(data_dir=data_dir)

    first = settings.resolved_session_secret()

    path = data_dir / SESSION_SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 43
    assert Settings(data_dir=data_dir).resolved_session_secret() == first
    assert sorted(p.name for p in data_dir.iterdir()) == [SESSION_SECRET_FILE]
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        settings.resolved_session_secret()


def test_a_given_session_secret_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    secret = "Kx9-2fQ_7tLm0pWz4Rv8bN1cYs6Hd3Ju5GaE"
    settings = Settings(data_dir=tmp_path / "node", session_secret=secret)
    assert settings.resolved_session_secret() == secret
    assert not (tmp_path / "node").exists()
