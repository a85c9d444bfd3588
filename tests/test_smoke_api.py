"""The advisory API end to end in-process, on both backends."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import Members, advisory_payload


def test_analyst_creates_and_reader_lists(client: TestClient, members: Members) -> None:
    created = client.post(
        "/v1/advisories", json=advisory_payload(), headers=members.auth("analyst@example.edu")
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["revision"] == 1
    assert body["origin"] == "test"
    assert body["contributor_org"] == "University of Example"

    listed = client.get("/v1/advisories", headers=members.auth("reader@poly.example"))
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [body["id"]]
