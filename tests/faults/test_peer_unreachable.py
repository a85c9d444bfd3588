"""A peer unreachable for a while (issue 8, faults).

While its peer is down, a node's sync records the failure, its lag grows where an operator
looks (federation status, ``/metrics``), and its own API goes on serving. When the peer comes
back on the same address with the same data, the node catches up with everything the peer
published meanwhile, each revision once.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

from prometheus_client.parser import text_string_to_metric_families

from tests.faults.load import SLOWEST_ANSWER
from tests.federation.cluster import OPERATOR, READER, Cluster, Node
from tests.federation.test_recovery import (
    bulk_publish,
    peer_status,
    revisions_in_order,
    wait_for,
)

FIVE_EYES = "five-eyes"


def peer_metrics(node: Node, peer: str) -> dict[str, float]:
    """The node's ``/metrics`` samples labelled with ``peer``, by name."""
    with node.client(OPERATOR.format(node=node.node_id)) as client:
        response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.labels.get("peer") == peer
    }


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def origin_revisions(holder: Node, origin: str) -> list[tuple[str, int, str]]:
    """The revisions ``holder`` stores of advisories from ``origin``, in stored order."""
    return [row for row in revisions_in_order(holder) if json.loads(row[2])["origin"] == origin]


def assert_serves_its_own_api(node: Node) -> None:
    """Reads, a screen, a write and readiness, each answered promptly."""
    with node.client(READER.format(node=node.node_id)) as client:
        for path, params in (
            ("/readyz", {}),
            ("/v1/advisories", {"status": "all"}),
            ("/v1/screen", {"q": "Harbin"}),
        ):
            started = time.monotonic()
            response = client.get(path, params=params)
            assert response.status_code == 200, response.text
            assert time.monotonic() - started < SLOWEST_ANSWER, path
    started = time.monotonic()
    node.publish(
        subject={
            "name": "Own news while a peer is down",
            "names": [],
            "country": "CN",
            "kind": "company",
        }
    )
    assert time.monotonic() - started < SLOWEST_ANSWER


def test_a_peer_unreachable_for_a_while_is_caught_up_without_duplicates(nodes: Cluster) -> None:
    # Both servers run their sync loops: each pulls the other every second when all is well.
    ca = nodes.add("ca", sync_interval_seconds="1")
    uk = nodes.add("uk", sync_interval_seconds="1")
    nodes.group(FIVE_EYES, ["ca", "uk"])
    nodes.peer("ca", "uk")
    first = ca.publish()
    wait_for("uk's loop pulls ca", lambda: uk.advisories() == [first], timeout=15)
    assert peer_status(uk, "ca")["last_error"] is None

    ca.stop()
    wait_for(
        "uk records that ca is unreachable",
        lambda: peer_status(uk, "ca")["consecutive_failures"] >= 1,
        timeout=15,
    )
    down = peer_status(uk, "ca")
    assert down["last_error"]
    assert down["last_success_at"] is not None  # the last good pull stays on record
    failing = peer_metrics(uk, "ca")
    assert failing["trex_federation_peer_consecutive_failures"] >= 1

    # ca's people go on publishing and revising (through ca's own domain code and key).
    bulk_publish(ca, 6, revise_every=2)
    assert_serves_its_own_api(uk)

    # The lag is measured from uk's last catch-up: it grows for as long as ca is away.
    wait_for(
        "uk's lag of ca grows in its status and its metrics",
        lambda: (
            peer_status(uk, "ca")["lag_seconds"] > down["lag_seconds"] + 1
            and peer_metrics(uk, "ca")["trex_federation_peer_sync_lag_seconds"]
            > failing["trex_federation_peer_sync_lag_seconds"] + 1
        ),
        timeout=10,
    )
    assert peer_status(uk, "ca")["caught_up_at"] == down["caught_up_at"]

    expected = origin_revisions(ca, "ca")
    assert len(expected) == 1 + 6 + 3
    ca.start()  # the same port, the same data directory
    wait_for(
        "uk holds everything ca published while it was away",
        lambda: len(origin_revisions(uk, "ca")) >= len(expected),
        timeout=20,
    )
    # Each of ca's revisions once, in ca's order, as ca signed it.
    assert origin_revisions(uk, "ca") == expected
    row = peer_status(uk, "ca")
    assert (row["last_error"], row["consecutive_failures"]) == (None, 0)
    assert row["accepted"] == len(expected)
    assert stamp(row["caught_up_at"]) > stamp(down["caught_up_at"])
    assert peer_metrics(uk, "ca")["trex_federation_peer_consecutive_failures"] == 0
    # What uk wrote while ca was away reaches ca too, and the lists agree.
    wait_for(
        "ca holds uk's news",
        lambda: {a["id"] for a in ca.advisories()} == {a["id"] for a in uk.advisories()},
        timeout=20,
    )
