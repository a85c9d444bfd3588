"""Factories for test data: members with tokens, advisory payloads and advisories.

Also the check every refused request shares: an RFC 9457 problem document naming the field.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.access.principal import principal_for
from service.access.service import add_org, add_user, create_token, get_user_by_email
from service.advisories.models import Advisory, AdvisoryRevision
from service.advisories.schemas import AdvisoryCreate
from service.advisories.service import create_advisory
from service.db import transaction, utcnow
from service.demo import demo_advisories

PROBLEM_JSON = "application/problem+json"


@dataclass
class Members:
    """Org ids by name and tokens by email, for the demo's member layout."""

    org_ids: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[email]}"}


MEMBER_LAYOUT: tuple[tuple[str, str, bool, tuple[tuple[str, str], ...]], ...] = (
    (
        "University of Example",
        "university",
        True,
        (("reader@example.edu", "reader"), ("analyst@example.edu", "analyst")),
    ),
    (
        "Example Polytechnic",
        "university",
        False,
        (("reader@poly.example", "reader"), ("analyst@poly.example", "analyst")),
    ),
    ("Office of Research Security", "government", True, (("publisher@gov.example", "publisher"),)),
    ("Defence Research Agency", "government", True, (("publisher@agency.example", "publisher"),)),
    ("Node operations", "other", False, (("operator@node.example", "operator"),)),
)


def make_members(factory: sessionmaker[Session]) -> Members:
    members = Members()
    now = utcnow()
    with transaction(factory) as session:
        for name, kind, vetted, users in MEMBER_LAYOUT:
            org = add_org(
                session,
                name=name,
                kind=kind,
                vetted_until=(now + timedelta(days=365)).date() if vetted else None,
            )
            members.org_ids[name] = org.id
            for email, role in users:
                add_user(session, email=email, org=org, role=role)
                members.tokens[email] = create_token(
                    session, email=email, now=now, ttl=timedelta(days=1)
                )
    return members


DEMO_AUTHORS = {"academia": "analyst@example.edu", "government": "publisher@gov.example"}
"""Who writes each tier of the demo advisories in ``load_demo_advisories``."""


def load_demo_advisories(
    factory: sessionmaker[Session], members: Members
) -> dict[str, dict[str, Any]]:
    """The demo advisories, each written by its demo author; documents by subject name."""
    documents: dict[str, dict[str, Any]] = {}
    now = utcnow()
    with transaction(factory) as session:
        for raw in demo_advisories():
            entry = dict(raw)
            contributor = entry.pop("contributor_org")
            entry["audience"] = [members.org_ids[name] for name in entry.get("audience", [])]
            author = get_user_by_email(session, DEMO_AUTHORS[entry["tier"]])
            assert author.org.name == contributor
            document = create_advisory(
                session,
                principal=principal_for(author),
                node_id="test",
                advisory_in=AdvisoryCreate.model_validate(entry),
                now=now,
            )
            documents[document["subject"]["name"]] = document
    return documents


_BASE_PAYLOAD: dict[str, Any] = {
    "status": "published",
    "tier": "academia",
    "tlp": "green",
    "scope": ["five-eyes"],
    "subject": {
        "name": "Harbin Institute of Technology",
        "names": [
            {"value": "哈尔滨工业大学", "lang": "zh", "type": "official"},
            {"value": "HIT", "type": "acronym"},
        ],
        "country": "CN",
        "kind": "university",
        "identifiers": {"ror": "https://ror.org/01yqg2h08"},
        "parent": None,
    },
    "risk": "very_high",
    "confidence": "high",
    "categories": ["seven_sons", "defence_industry"],
    "technologies": ["aerospace"],
    "listings": [{"list": "us_entity_list", "citation": "85 FR 34495", "listed_on": "2020-06-05"}],
    "recommended_action": "enhanced_due_diligence",
    "summary": "Member of the Seven Sons of National Defence.",
    "detail": "",
    "sources": [
        {"title": "China Defence Universities Tracker", "url": "https://unitracker.aspi.org.au/"}
    ],
    "valid_from": "2026-01-01",
    "review_by": "2027-06-30",
}


def advisory_payload(**overrides: Any) -> dict[str, Any]:
    """A valid create body; keyword arguments replace top-level fields."""
    payload = copy.deepcopy(_BASE_PAYLOAD)
    payload.update(overrides)
    return payload


def table_counts(factory: sessionmaker[Session]) -> tuple[int, int]:
    """(advisories, revisions): what a refused request must leave unchanged."""
    with factory() as session:
        advisories = session.scalar(select(func.count()).select_from(Advisory)) or 0
        revisions = session.scalar(select(func.count()).select_from(AdvisoryRevision)) or 0
    return advisories, revisions


def post_advisory(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """Create an advisory through the API (``advisory_payload`` with overrides); its document."""
    response = client.post("/v1/advisories", json=advisory_payload(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def assert_problem(
    response: httpx.Response, status: int, field: str | None = None
) -> dict[str, Any]:
    """Assert an RFC 9457 problem with ``status``; with ``field``, one error must name it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str), body
        assert body[member], body
    if field is not None:
        fields = [error["field"] for error in body.get("errors", [])]
        assert field in fields, body
    return body
