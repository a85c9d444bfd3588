"""Two real nodes on loopback: a published advisory crosses, signed by its origin."""

from __future__ import annotations

import json

from federation.keys import PinnedKeys, PublicNodeKey, b64url_decode
from federation.signing import SignedRecord, verify
from tests.federation.cluster import Cluster


def test_a_published_advisory_reaches_a_peer_with_its_origin_signature(nodes: Cluster) -> None:
    nodes.add("ca")
    nodes.add("uk")
    nodes.peer("ca", "uk")
    nodes.group("five-eyes", ["ca", "uk"])
    published = nodes["ca"].publish()

    assert "1 accepted" in nodes["uk"].sync().stdout

    received = {a["id"]: a for a in nodes["uk"].advisories()}
    assert received[published["id"]] == published
    status = nodes["uk"].status()
    assert status["peers"][0]["accepted"] == 1
    assert status["peers"][0]["last_error"] is None
    # What uk stored is ca's text and ca's signature, verifiable offline with ca's key alone.
    bundle = nodes["uk"].run("bundle", "export", "--peer", "ca").stdout.splitlines()
    assert len(bundle) == 1  # the header: ca's own record never goes back to ca
    ca_key = PinnedKeys(
        [PublicNodeKey("ca", nodes["ca"].kid, b64url_decode(nodes["ca"].public_key))]
    )
    exported = nodes["ca"].run("bundle", "export", "--peer", "uk").stdout.splitlines()
    record = verify(SignedRecord.from_json(json.loads(exported[1])), ca_key)
    assert record.document["id"] == published["id"]
