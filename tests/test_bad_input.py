"""Bad input of every kind is refused with a problem document naming it, and stores nothing.

Each case checks the status, that the response is ``application/problem+json`` with ``type``,
``title``, ``status``, ``detail`` and an ``errors`` entry naming the offending field (a dotted
path such as ``subject.country``), and that the advisory tables are exactly as before.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from service.settings import Settings
from tests.factories import (
    Members,
    advisory_payload,
    assert_problem,
    post_advisory,
    table_counts,
)

ANALYST = "analyst@example.edu"
JSON_HEADERS = {"content-type": "application/json"}
MISSING = object()
"""Put where a value goes to leave the field out of the payload."""


def payload_with(changes: dict[str, Any]) -> dict[str, Any]:
    """A valid create payload with dotted paths (``subject.names.0.type``) set or removed."""
    payload = advisory_payload()
    for path, value in changes.items():
        *parents, last = path.split(".")
        target: Any = payload
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is MISSING:
            del target[last]
        else:
            target[last] = value
    return payload


@pytest.fixture
def existing(client: TestClient, members: Members) -> dict[str, Any]:
    """A published advisory at revision 1, for the change and withdraw cases."""
    return post_advisory(client, members.auth(ANALYST))


def refused(
    response: httpx.Response,
    status: int,
    field: str,
    factory: sessionmaker[Session],
    before: tuple[int, int],
) -> None:
    assert_problem(response, status, field)
    assert table_counts(factory) == before


# --- create: field by field -------------------------------------------------------------------

CREATE_CASES = [
    # Enumerations.
    pytest.param({"tier": "federal"}, "tier", id="tier-unknown"),
    pytest.param({"tlp": "amber-strict"}, "tlp", id="tlp-misspelt"),
    pytest.param({"tlp": "AMBER"}, "tlp", id="tlp-uppercase"),
    pytest.param({"tlp": "white"}, "tlp", id="tlp-1.0-name"),
    pytest.param({"risk": "extreme"}, "risk", id="risk-unknown"),
    pytest.param({"status": "withdrawn"}, "status", id="status-withdrawn-on-create"),
    pytest.param({"status": "deleted"}, "status", id="status-unknown"),
    pytest.param({"confidence": "certain"}, "confidence", id="confidence-unknown"),
    pytest.param({"recommended_action": "ban"}, "recommended_action", id="action-unknown"),
    pytest.param({"subject.kind": "school"}, "subject.kind", id="subject-kind-unknown"),
    pytest.param(
        {"subject.names.0.type": "nickname"}, "subject.names.0.type", id="name-type-unknown"
    ),
    # ISO 3166-1 alpha-2 country codes.
    pytest.param({"subject.country": "cn"}, "subject.country", id="country-lowercase"),
    pytest.param({"subject.country": "XX"}, "subject.country", id="country-unknown"),
    pytest.param({"subject.country": "CHN"}, "subject.country", id="country-alpha-3"),
    pytest.param({"subject.country": ""}, "subject.country", id="country-empty"),
    # Dates.
    pytest.param({"valid_from": "2026-13-01"}, "valid_from", id="date-month-13"),
    pytest.param({"valid_from": "2026-02-30"}, "valid_from", id="date-february-30"),
    pytest.param({"valid_from": "01/02/2026"}, "valid_from", id="date-slashes"),
    pytest.param({"review_by": "next year"}, "review_by", id="date-words"),
    pytest.param({"listings.0.listed_on": "2020-06-31"}, "listings.0.listed_on", id="date-nested"),
    pytest.param(
        {"valid_from": "2026-01-01", "review_by": "2025-12-31"},
        "review_by",
        id="review-before-valid-from",
    ),
    # Lengths and counts.
    pytest.param({"summary": "x" * 2001}, "summary", id="summary-too-long"),
    pytest.param({"summary": ""}, "summary", id="summary-empty"),
    pytest.param({"summary": "   "}, "summary", id="summary-blank"),
    pytest.param({"detail": "x" * 20001}, "detail", id="detail-too-long"),
    pytest.param({"subject.name": "x" * 301}, "subject.name", id="subject-name-too-long"),
    pytest.param({"subject.name": " "}, "subject.name", id="subject-name-blank"),
    pytest.param(
        {"subject.names": [{"value": f"Name {n}"} for n in range(51)]},
        "subject.names",
        id="too-many-names",
    ),
    pytest.param(
        {"categories": [f"category_{n}" for n in range(21)]}, "categories", id="too-many-categories"
    ),
    # Formats.
    pytest.param({"categories": ["Seven Sons"]}, "categories.0", id="category-not-a-slug"),
    pytest.param({"scope": ["Five Eyes"]}, "scope.0", id="scope-not-a-group-name"),
    pytest.param({"subject.names.0.lang": "Chinese"}, "subject.names.0.lang", id="lang-tag"),
    pytest.param({"sources.0.url": "javascript:alert(1)"}, "sources.0.url", id="url-scheme"),
    pytest.param(
        {"subject.identifiers": {"ROR": "https://ror.org/x"}},
        "subject.identifiers.ROR.[key]",
        id="identifier-key",
    ),
    # Control characters (PostgreSQL cannot even store NUL).
    pytest.param({"subject.name": "Harbin\x00"}, "subject.name", id="nul-in-name"),
    pytest.param({"subject.names.1.value": "H\x00T"}, "subject.names.1.value", id="nul-in-alias"),
    pytest.param(
        {"subject.identifiers": {"ror": "https://ror.org/\x00"}},
        "subject.identifiers.ror",
        id="nul-in-identifier",
    ),
    pytest.param({"summary": "Ring the \x07 bell."}, "summary", id="control-in-summary"),
    pytest.param({"tlp": "red", "audience": ["org\x00"]}, "audience.0", id="nul-in-audience"),
    # Unknown fields, at the top level and nested.
    pytest.param({"foo": 1}, "foo", id="unknown-top-level"),
    pytest.param({"subject.foo": 1}, "subject.foo", id="unknown-in-subject"),
    pytest.param({"subject.names.0.foo": 1}, "subject.names.0.foo", id="unknown-in-name"),
    pytest.param({"sources.0.foo": 1}, "sources.0.foo", id="unknown-in-source"),
    # Missing required fields.
    pytest.param({"summary": MISSING}, "summary", id="missing-summary"),
    pytest.param({"tier": MISSING}, "tier", id="missing-tier"),
    pytest.param({"tlp": MISSING}, "tlp", id="missing-tlp"),
    pytest.param({"subject": MISSING}, "subject", id="missing-subject"),
    pytest.param({"subject.name": MISSING}, "subject.name", id="missing-subject-name"),
    pytest.param({"subject.country": MISSING}, "subject.country", id="missing-country"),
    pytest.param({"sources.0.title": MISSING}, "sources.0.title", id="missing-source-title"),
    # Wrong JSON types.
    pytest.param({"summary": 42}, "summary", id="summary-number"),
    pytest.param({"categories": "seven_sons"}, "categories", id="categories-string"),
    pytest.param({"subject": []}, "subject", id="subject-list"),
    pytest.param({"subject.names": {"value": "HIT"}}, "subject.names", id="names-object"),
    pytest.param({"audience": "org"}, "audience", id="audience-string"),
    # Audience rules.
    pytest.param({"tlp": "amber+strict"}, "audience", id="amber-strict-without-audience"),
    pytest.param({"tlp": "red", "audience": []}, "audience", id="red-without-audience"),
    pytest.param(
        {"tlp": "amber+strict", "audience": ["no-such-org"]},
        "audience",
        id="audience-unknown-org",
    ),
    pytest.param({"audience": ["no-such-org"]}, "audience", id="audience-unknown-org-green"),
]


@pytest.mark.parametrize(("changes", "field"), CREATE_CASES)
def test_create_refuses(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    existing: dict[str, Any],
    changes: dict[str, Any],
    field: str,
) -> None:
    before = table_counts(session_factory)

    response = client.post(
        "/v1/advisories", json=payload_with(changes), headers=members.auth(ANALYST)
    )

    refused(response, 422, field, session_factory, before)


# --- change and withdraw ----------------------------------------------------------------------

CHANGE_CASES = [
    pytest.param({"summary": "No base."}, "base_revision", id="missing-base-revision"),
    pytest.param({"base_revision": 0}, "base_revision", id="base-revision-zero"),
    pytest.param({"base_revision": "one"}, "base_revision", id="base-revision-text"),
    pytest.param({"base_revision": 1, "status": "withdrawn"}, "status", id="status-withdrawn"),
    pytest.param({"base_revision": 1, "tier": "federal"}, "tier", id="tier-unknown"),
    pytest.param({"base_revision": 1, "risk": "bogus"}, "risk", id="risk-unknown"),
    pytest.param({"base_revision": 1, "foo": 1}, "foo", id="unknown-field"),
    pytest.param(
        {"base_revision": 1, "subject": {"name": "Only a name"}},
        "subject.country",
        id="subject-partial",
    ),
    pytest.param(
        {"base_revision": 1, "subject": {**advisory_payload()["subject"], "country": "xx"}},
        "subject.country",
        id="subject-country",
    ),
    pytest.param(
        {"base_revision": 1, "subject": {**advisory_payload()["subject"], "foo": 1}},
        "subject.foo",
        id="subject-unknown-field",
    ),
    pytest.param({"base_revision": 1, "summary": "x" * 2001}, "summary", id="summary-too-long"),
    pytest.param({"base_revision": 1, "summary": "bad\x00text"}, "summary", id="summary-nul"),
    # Fields the merged advisory needs cannot be cleared.
    pytest.param({"base_revision": 1, "tier": None}, "tier", id="tier-null"),
    pytest.param({"base_revision": 1, "summary": None}, "summary", id="summary-null"),
    pytest.param({"base_revision": 1, "subject": None}, "subject", id="subject-null"),
    # Rules across fields apply to the merged result.
    pytest.param(
        {"base_revision": 1, "tlp": "amber+strict"}, "audience", id="amber-strict-without-audience"
    ),
    pytest.param(
        {"base_revision": 1, "review_by": "2025-12-31"}, "review_by", id="review-before-valid-from"
    ),
    pytest.param(
        {"base_revision": 1, "tlp": "red", "audience": ["no-such-org"]},
        "audience",
        id="audience-unknown-org",
    ),
]


@pytest.mark.parametrize(("body", "field"), CHANGE_CASES)
def test_change_refuses(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    existing: dict[str, Any],
    body: dict[str, Any],
    field: str,
) -> None:
    before = table_counts(session_factory)

    response = client.patch(
        f"/v1/advisories/{existing['id']}", json=body, headers=members.auth(ANALYST)
    )

    refused(response, 422, field, session_factory, before)
    current = client.get(f"/v1/advisories/{existing['id']}", headers=members.auth(ANALYST))
    assert current.json() == existing


WITHDRAW_CASES = [
    pytest.param({"base_revision": 1}, "reason", id="missing-reason"),
    pytest.param({"base_revision": 1, "reason": ""}, "reason", id="reason-empty"),
    pytest.param({"base_revision": 1, "reason": "   "}, "reason", id="reason-blank"),
    pytest.param({"base_revision": 1, "reason": "x" * 2001}, "reason", id="reason-too-long"),
    pytest.param({"base_revision": 1, "reason": 7}, "reason", id="reason-number"),
    pytest.param({"reason": "Gone."}, "base_revision", id="missing-base-revision"),
    pytest.param({"base_revision": -1, "reason": "Gone."}, "base_revision", id="base-negative"),
    pytest.param(
        {"base_revision": 1, "reason": "Gone.", "status": "draft"}, "status", id="unknown-field"
    ),
]


@pytest.mark.parametrize(("body", "field"), WITHDRAW_CASES)
def test_withdraw_refuses(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    existing: dict[str, Any],
    body: dict[str, Any],
    field: str,
) -> None:
    before = table_counts(session_factory)

    response = client.post(
        f"/v1/advisories/{existing['id']}/withdraw", json=body, headers=members.auth(ANALYST)
    )

    refused(response, 422, field, session_factory, before)
    current = client.get(f"/v1/advisories/{existing['id']}", headers=members.auth(ANALYST))
    assert current.json()["status"] == "published"


# --- bodies that are not a JSON object --------------------------------------------------------

RAW_BODIES = [
    pytest.param(b"{bad", 400, id="malformed"),
    pytest.param(b'{"tier": "academia",', 400, id="truncated"),
    pytest.param(b'{"summary": "caf\xe9"}', 400, id="not-utf8"),
    pytest.param(b"[" * 100_000, 400, id="nested-too-deep"),
    pytest.param(b"", 422, id="empty"),
    pytest.param(b"[]", 422, id="list"),
    pytest.param(json.dumps([advisory_payload()]).encode(), 422, id="list-of-object"),
    pytest.param(b'"a string"', 422, id="string"),
    pytest.param(b"42", 422, id="number"),
    pytest.param(b"null", 422, id="null"),
]


@pytest.mark.parametrize("endpoint", ["create", "change", "withdraw"])
@pytest.mark.parametrize(("content", "status"), RAW_BODIES)
def test_body_must_be_a_json_object(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    existing: dict[str, Any],
    endpoint: str,
    content: bytes,
    status: int,
) -> None:
    before = table_counts(session_factory)
    method, path = {
        "create": ("POST", "/v1/advisories"),
        "change": ("PATCH", f"/v1/advisories/{existing['id']}"),
        "withdraw": ("POST", f"/v1/advisories/{existing['id']}/withdraw"),
    }[endpoint]

    response = client.request(
        method, path, content=content, headers={**JSON_HEADERS, **members.auth(ANALYST)}
    )

    refused(response, status, "body", session_factory, before)


# --- bodies over the size limit ---------------------------------------------------------------


def padded_payload(size: int) -> bytes:
    """A valid create payload, padded with trailing whitespace to exactly ``size`` bytes."""
    text = json.dumps(advisory_payload()).encode()
    assert len(text) < size
    return text + b" " * (size - len(text))


def test_the_limit_is_256_kib(settings: Settings) -> None:
    assert settings.max_body_bytes == 256 * 1024


def test_a_body_of_exactly_the_limit_is_accepted(
    client: TestClient, members: Members, settings: Settings
) -> None:
    response = client.post(
        "/v1/advisories",
        content=padded_payload(settings.max_body_bytes),
        headers={**JSON_HEADERS, **members.auth(ANALYST)},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("endpoint", ["create", "change"])
@pytest.mark.parametrize("valid_json", [True, False], ids=["valid-json", "malformed-json"])
def test_oversized_body_with_content_length_is_413(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    settings: Settings,
    existing: dict[str, Any],
    endpoint: str,
    valid_json: bool,
) -> None:
    # Refused before parsing: a body that would be accepted (or a 400) if read gets a 413.
    size = settings.max_body_bytes + 1
    content = padded_payload(size) if valid_json else b"{" * size
    before = table_counts(session_factory)
    method, path = {
        "create": ("POST", "/v1/advisories"),
        "change": ("PATCH", f"/v1/advisories/{existing['id']}"),
    }[endpoint]

    response = client.request(
        method, path, content=content, headers={**JSON_HEADERS, **members.auth(ANALYST)}
    )

    assert response.request.headers["content-length"] == str(size)
    refused(response, 413, "body", session_factory, before)


CHUNK = 16 * 1024


def test_oversized_streamed_body_without_content_length_is_413(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    content = padded_payload(settings.max_body_bytes + CHUNK)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(content), CHUNK):
            yield content[start : start + CHUNK]

    before = table_counts(session_factory)

    response = client.post(
        "/v1/advisories", content=chunks(), headers={**JSON_HEADERS, **members.auth(ANALYST)}
    )

    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    refused(response, 413, "body", session_factory, before)


def test_streamed_body_is_cut_off_at_the_limit_not_read_to_the_end(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    """The node stops reading once the limit is passed (here over a lazy ASGI transport)."""
    total_chunks = 4 * settings.max_body_bytes // CHUNK
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(total_chunks):
            sent += 1
            yield b" " * CHUNK

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.post(
                "/v1/advisories",
                content=chunks(),
                headers={**JSON_HEADERS, **members.auth(ANALYST)},
            )

    before = table_counts(session_factory)

    response = asyncio.run(post())

    assert "content-length" not in response.request.headers
    refused(response, 413, "body", session_factory, before)
    assert sent <= settings.max_body_bytes // CHUNK + 1 < total_chunks


# --- query parameters -------------------------------------------------------------------------

HUGE_CURSOR = base64.urlsafe_b64encode(b"a1:" + b"9" * 30).decode().rstrip("=")

QUERY_CASES = [
    pytest.param({"risk": "bogus"}, "risk", id="risk"),
    pytest.param({"tier": "federal"}, "tier", id="tier"),
    pytest.param({"status": "deleted"}, "status", id="status"),
    pytest.param({"status": "DRAFT"}, "status", id="status-uppercase"),
    pytest.param({"country": "cn"}, "country", id="country-lowercase"),
    pytest.param({"country": "XX"}, "country", id="country-unknown"),
    pytest.param({"country": "CHN"}, "country", id="country-alpha-3"),
    pytest.param({"category": "Seven Sons"}, "category", id="category"),
    pytest.param({"origin": "CA!"}, "origin", id="origin"),
    pytest.param({"limit": 0}, "limit", id="limit-0"),
    pytest.param({"limit": -1}, "limit", id="limit-negative"),
    pytest.param({"limit": 501}, "limit", id="limit-501"),
    pytest.param({"limit": 1000}, "limit", id="limit-1000"),
    pytest.param({"limit": "ten"}, "limit", id="limit-text"),
    pytest.param({"updated_after": "yesterday"}, "updated_after", id="updated-after-words"),
    pytest.param(
        {"updated_after": "2026-01-01T00:00:00"}, "updated_after", id="updated-after-no-zone"
    ),
    pytest.param(
        {"updated_after": "0001-01-01T00:00:00+14:00"},
        "updated_after",
        id="updated-after-before-year-1",
    ),
    pytest.param(
        {"updated_after": "9999-12-31T23:59:59-14:00"},
        "updated_after",
        id="updated-after-after-year-9999",
    ),
    pytest.param({"q": "x" * 201}, "q", id="q-too-long"),
    pytest.param({"q": "Harbin\x00"}, "q", id="q-nul"),
    pytest.param({"cursor": "not-a-cursor"}, "cursor", id="cursor-garbage"),
    pytest.param({"cursor": HUGE_CURSOR}, "cursor", id="cursor-beyond-any-position"),
    pytest.param({"cursor": "x" * 201}, "cursor", id="cursor-too-long"),
    pytest.param({"foo": "1"}, "foo", id="unknown-parameter"),
    pytest.param({"countries": "CN"}, "countries", id="misspelt-parameter"),
]


@pytest.mark.parametrize(("params", "field"), QUERY_CASES)
def test_list_refuses_bad_query(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    existing: dict[str, Any],
    params: dict[str, Any],
    field: str,
) -> None:
    before = table_counts(session_factory)

    for headers in ({}, members.auth(ANALYST)):
        response = client.get("/v1/advisories", params=params, headers=headers)

        refused(response, 422, field, session_factory, before)


# --- the Authorization header -----------------------------------------------------------------

AUTH_CASES = [
    pytest.param("Basic dXNlcjpwYXNz", id="basic-scheme"),
    pytest.param("Token {token}", id="other-scheme"),
    pytest.param("{token}", id="no-scheme"),
    pytest.param("Bearer", id="no-token"),
    pytest.param("Bearer   ", id="blank-token"),
    pytest.param("Bearer not-a-trex-token", id="not-trex"),
    pytest.param("Bearer trex_", id="prefix-only"),
    pytest.param("Bearer trex_abc_secret", id="short-id"),
    pytest.param("Bearer trex_0123456789abcdef", id="no-secret"),
    pytest.param("Bearer trex_0123456789abcdef_guessed", id="unknown-id"),
    pytest.param("Bearer {token_id}_wrong-secret", id="wrong-secret"),
    pytest.param("Bearer {token}x", id="secret-with-extra"),
    pytest.param("Bearer {token} {token}", id="two-tokens"),
]


@pytest.mark.parametrize("header", AUTH_CASES)
def test_bad_authorization_is_401(
    client: TestClient,
    members: Members,
    session_factory: sessionmaker[Session],
    header: str,
) -> None:
    token = members.tokens[ANALYST]
    # trex_<16 hex digits>_<secret>; the secret itself may contain "_".
    value = header.format(token=token, token_id=token[: len("trex_") + 16])
    before = table_counts(session_factory)

    created = client.post(
        "/v1/advisories", json=advisory_payload(), headers={"Authorization": value}
    )
    read = client.get("/v1/advisories", headers={"Authorization": value})

    for response in (created, read):
        refused(response, 401, "authorization", session_factory, before)
        assert response.headers["www-authenticate"] == 'Bearer realm="trex"'


def test_the_same_token_in_good_form_is_accepted(client: TestClient, members: Members) -> None:
    """The 401s above come from the header's form, not from a token that never worked."""
    token = members.tokens[ANALYST]
    for value in (f"Bearer {token}", f"bearer {token}", f"Bearer   {token}  "):
        response = client.post(
            "/v1/advisories", json=advisory_payload(), headers={"Authorization": value}
        )
        assert response.status_code == 201, (value, response.text)
