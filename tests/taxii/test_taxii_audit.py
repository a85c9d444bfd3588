"""Reads over TAXII are audited as on ``/v1``: government-tier advisories shown are recorded."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.audit.models import AuditEntry
from tests.factories import Members, load_demo_advisories

READER = "reader@example.edu"
COLLECTIONS = "/taxii2/api/collections/"
ADVISORIES = "dea497bf-5fce-4b90-9d3b-5e660164a05b"
ACADEMIA = "5354ed73-3092-42bd-85f3-d7f2a0e0054e"
GOVERNMENT = "f336bc14-e0ae-4202-ba3c-6a1fce6efa6e"


def entries(factory: sessionmaker[Session]) -> list[AuditEntry]:
    with factory() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def test_government_tier_objects_shown_are_recorded(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    documents = load_demo_advisories(session_factory, members)
    government = {
        d["id"]
        for d in documents.values()
        if d["tier"] == "government" and d["tlp"] in ("clear", "green")
    }
    assert len(government) == 3
    before = len(entries(session_factory))

    def get(path: str, **params: Any) -> None:
        response = client.get(path, params=params, headers=members.auth(READER))
        assert response.status_code == 200, response.text

    # Academia-tier clear and green advisories, and ids without content, are not recorded.
    get(f"{COLLECTIONS}{ACADEMIA}/objects/")
    get(f"{COLLECTIONS}{GOVERNMENT}/manifest/")
    get(f"{COLLECTIONS}{ADVISORIES}/objects/", **{"match[type]": "marking-definition"})
    assert len(entries(session_factory)) == before

    get(f"{COLLECTIONS}{GOVERNMENT}/objects/")
    recorded = entries(session_factory)[before:]
    assert [(e.actor, e.action) for e in recorded] == [(READER, "advisory.taxii")]
    detail = json.loads(recorded[0].detail)
    assert detail["collection"] == "government"
    assert set(detail["ids"]) == government
