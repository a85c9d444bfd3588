"""``/metrics``: operators only; latency by route template; federation figures from the database."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from federation.keys import PublicNodeKey
from service.db import transaction, utcnow
from service.peering import service as peering
from service.peering.models import Peer, QuarantinedRecord
from tests.factories import Members, post_advisory

OPERATOR = "operator@node.example"
READER = "reader@example.edu"
ANALYST = "analyst@example.edu"


def scrape(
    client: TestClient, members: Members
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` by name and labels."""
    response = client.get("/metrics", headers=members.auth(OPERATOR))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_are_for_operators_only(client: TestClient, members: Members) -> None:
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert client.get("/metrics", headers={"Authorization": "Bearer trex_nope"}).status_code == 401
    assert client.get("/metrics", headers=members.auth(READER)).status_code == 403
    assert client.get("/metrics", headers=members.auth(OPERATOR)).status_code == 200


def test_latency_is_labelled_by_route_template_never_the_raw_path(
    client: TestClient, members: Members
) -> None:
    advisory = post_advisory(client, members.auth(ANALYST))
    for _ in range(3):
        got = client.get(f"/v1/advisories/{advisory['id']}", headers=members.auth(ANALYST))
        assert got.status_code == 200
    missing = client.get(
        "/v1/advisories/00000000-0000-4000-8000-000000000000", headers=members.auth(ANALYST)
    )
    assert missing.status_code == 404
    assert client.get("/no/such/thing/12345").status_code == 404

    samples = scrape(client, members)
    route = "/v1/advisories/{advisory_id}"
    count = "trex_http_request_duration_seconds_count"
    ok = (count, (("method", "GET"), ("route", route), ("status", "2xx")))
    assert samples[ok] == 3
    assert samples[(count, (("method", "GET"), ("route", route), ("status", "4xx")))] == 1
    assert (
        samples[(count, (("method", "POST"), ("route", "/v1/advisories"), ("status", "2xx")))] == 1
    )
    unmatched = (count, (("method", "GET"), ("route", "<unmatched>"), ("status", "4xx")))
    assert samples[unmatched] == 1
    routes = {dict(labels).get("route") for _, labels in samples}
    assert not any(advisory["id"] in str(r) or "12345" in str(r) for r in routes)
    # The scrape itself is in flight while it is answered.
    assert samples[("trex_http_requests_in_flight", ())] == 1


def test_request_id_is_echoed_when_plain_and_replaced_otherwise(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc.DEF-123_x"})
    assert given.headers["X-Request-ID"] == "abc.DEF-123_x"
    for bad in ("x" * 65, "has space", "semi;colon", ""):
        replaced = client.get("/healthz", headers={"X-Request-ID": bad})
        new = replaced.headers["X-Request-ID"]
        assert new != bad
        assert len(new) == 36  # a uuid4
        assert new.count("-") == 4
    first = client.get("/healthz").headers["X-Request-ID"]
    assert first != client.get("/healthz").headers["X-Request-ID"]


def test_federation_figures_come_from_the_database(
    client: TestClient, members: Members, session_factory: sessionmaker[Session]
) -> None:
    now = utcnow()
    with transaction(session_factory) as session:
        for node_id, seed in (("uk", 1), ("au", 2)):
            peering.add_peer(
                session,
                node_id=node_id,
                url=f"https://{node_id}.example",
                keys=[PublicNodeKey(node_id, f"{node_id}-1", bytes([seed]) * 32)],
                self_id="test",
                now=now - timedelta(hours=1),
            )
        uk = session.get(Peer, "uk")
        assert uk is not None
        uk.caught_up_at = now - timedelta(seconds=120)
        uk.accepted_count, uk.rejected_count, uk.failures = 41, 2, 0
        for equivocation in (False, False, True):
            session.add(
                QuarantinedRecord(
                    received_at=now,
                    sender="uk",
                    origin="uk",
                    advisory_id="x",
                    revision=1,
                    reason="bad signature",
                    equivocation=equivocation,
                    record="{}",
                )
            )

    samples = scrape(client, members)
    assert samples[("trex_metrics_database_up", ())] == 1
    uk_lag = samples[("trex_federation_peer_sync_lag_seconds", (("peer", "uk"),))]
    assert 120 <= uk_lag < 180
    # Never caught up: lagging since it was added, an hour ago.
    au_lag = samples[("trex_federation_peer_sync_lag_seconds", (("peer", "au"),))]
    assert 3600 <= au_lag < 3660
    assert samples[("trex_federation_peer_records_accepted_total", (("peer", "uk"),))] == 41
    assert samples[("trex_federation_peer_records_rejected_total", (("peer", "uk"),))] == 2
    assert samples[("trex_federation_peer_records_accepted_total", (("peer", "au"),))] == 0
    assert samples[("trex_federation_peer_consecutive_failures", (("peer", "uk"),))] == 0
    assert samples[("trex_federation_quarantine_records", ())] == 3
    assert samples[("trex_federation_equivocation_alerts", ())] == 1


def test_screening_index_size_is_reported(client: TestClient, members: Members) -> None:
    post_advisory(client, members.auth(ANALYST))
    screened = client.get("/v1/screen", params={"q": "anything"}, headers=members.auth(ANALYST))
    assert screened.status_code == 200
    assert scrape(client, members)[("trex_screening_index_subjects", ())] >= 1
