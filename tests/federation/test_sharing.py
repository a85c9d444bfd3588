"""Who receives what, between real nodes on loopback (issue 4, acceptance points 1 and 2).

``us``, ``uk`` and ``ca`` share the group ``five-eyes``; ``xx`` is peered with ``ca`` but is not
in ``ca``'s five-eyes. What travels is SPEC section 5 (published or withdrawn, clear, green or
amber, in a group holding both nodes); what a receiver's own members see is section 5 again,
applied by the receiver. Relay: ``au``, two hops from ``ca``, verifies ``ca``'s own signature.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from federation.keys import PinnedKeys, PublicNodeKey, b64url_decode
from federation.signing import SignedRecord, verify
from service.advisories.models import Advisory
from service.peering.models import QuarantinedRecord
from tests.federation.cluster import ANALYST, PUBLISHER, READER, Cluster, Node

FIVE_EYES = "five-eyes"


def stored(node: Node) -> dict[str, int]:
    """Every advisory the node holds, whoever may see it: id to current revision."""
    with node.database() as factory, factory() as session:
        rows = session.execute(select(Advisory.id, Advisory.revision)).all()
        return {advisory_id: revision for advisory_id, revision in rows}


def synced(node: Node, peer: str) -> tuple[int, int]:
    """``sync --once`` on ``node``; ``peer``'s (accepted, rejected) from its output line."""
    output = node.sync().stdout
    for line in output.splitlines():
        if line.startswith(f"{peer}: "):
            fields = line.split()
            return int(fields[1]), int(fields[3])
    raise AssertionError(f"no line for {peer} in:\n{output}")


def peer_status(node: Node, peer: str) -> dict[str, Any]:
    rows = [row for row in node.status()["peers"] if row["node_id"] == peer]
    assert len(rows) == 1, node.status()
    return rows[0]


def exported(node: Node, peer: str) -> list[dict[str, str]]:
    """The signed records ``node`` would hand ``peer`` (its bundle, header line left out)."""
    lines = node.run("bundle", "export", "--peer", peer).stdout.splitlines()
    assert lines, "a bundle always starts with its signed header"
    return [json.loads(line) for line in lines[1:]]


def origin_keys(node: Node) -> PinnedKeys:
    """``node``'s public key and nothing else: what proves a record is that node's."""
    return PinnedKeys([PublicNodeKey(node.node_id, node.kid, b64url_decode(node.public_key))])


def org_id(node: Node, email: str) -> str:
    with node.client(email) as client:
        response = client.get("/v1/me")
    assert response.status_code == 200, response.text
    value: str = response.json()["org"]["id"]
    assert value
    return value


def fetch(node: Node, advisory_id: str, email: str | None = None) -> dict[str, Any] | None:
    """The latest revision ``email`` (default: the node's reader) sees; None on 404."""
    with node.client(email or READER.format(node=node.node_id)) as client:
        response = client.get(f"/v1/advisories/{advisory_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def history(node: Node, advisory_id: str) -> list[dict[str, Any]]:
    with node.client(READER.format(node=node.node_id)) as client:
        response = client.get(f"/v1/advisories/{advisory_id}/revisions")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def revise(node: Node, advisory_id: str, **changes: Any) -> dict[str, Any]:
    with node.client(ANALYST.format(node=node.node_id)) as client:
        response = client.patch(f"/v1/advisories/{advisory_id}", json=changes)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def withdraw(node: Node, advisory_id: str, *, base_revision: int, reason: str) -> dict[str, Any]:
    with node.client(ANALYST.format(node=node.node_id)) as client:
        response = client.post(
            f"/v1/advisories/{advisory_id}/withdraw",
            json={"base_revision": base_revision, "reason": reason},
        )
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def screened(node: Node, query: str) -> set[str]:
    """Ids of the advisories the node's reader gets by screening ``query`` on that node."""
    with node.client(READER.format(node=node.node_id)) as client:
        response = client.get("/v1/screen", params={"q": query})
    assert response.status_code == 200, response.text
    return {a["id"] for match in response.json()["matches"] for a in match["advisories"]}


def ids(documents: list[dict[str, Any]]) -> set[str]:
    return {document["id"] for document in documents}


def assert_outsider_got_nothing(ca: Node, xx: Node) -> None:
    # ca serves xx nothing at all (not even records for xx to refuse), whatever xx believes.
    assert synced(xx, "ca") == (0, 0)
    assert xx.advisories() == []
    assert stored(xx) == {}
    status = peer_status(xx, "ca")
    assert (status["accepted"], status["rejected"], status["last_error"]) == (0, 0, None)
    assert xx.status()["quarantine"]["count"] == 0
    assert exported(ca, "xx") == []


def test_a_five_eyes_advisory_and_its_revisions_reach_every_member_and_not_the_outsider(
    nodes: Cluster,
) -> None:
    for node_id in ("us", "uk", "ca", "xx"):
        nodes.add(node_id)
    nodes.peer("us", "uk")
    nodes.peer("us", "ca")
    nodes.peer("uk", "ca")
    nodes.peer("ca", "xx")
    nodes.group(FIVE_EYES, ["us", "uk", "ca"])
    # xx claims a five-eyes with ca: only ca's own view of the group may keep records home.
    nodes.group(FIVE_EYES, ["ca", "xx"], on=["xx"])
    ca, xx = nodes["ca"], nodes["xx"]
    members = [nodes["uk"], nodes["us"]]

    published = ca.publish()
    advisory_id = published["id"]
    for member in members:
        assert screened(member, "哈工大") == set()
        member.sync()
        assert member.advisories() == [published]
        assert stored(member) == {advisory_id: 1}
        # The running node's screening index follows what the sync process stored.
        assert screened(member, "哈工大") == {advisory_id}
    assert peer_status(nodes["uk"], "ca")["accepted"] == 1
    assert_outsider_got_nothing(ca, xx)

    revised = revise(ca, advisory_id, base_revision=1, risk="high", summary="Revised summary.")
    assert revised["revision"] == 2
    for member in members:
        member.sync()
        assert fetch(member, advisory_id) == revised
        assert stored(member) == {advisory_id: 2}

    withdrawn = withdraw(ca, advisory_id, base_revision=2, reason="Merged into another record.")
    assert withdrawn["revision"] == 3
    for member in members:
        member.sync()
        current = fetch(member, advisory_id)
        assert current == withdrawn
        assert current is not None
        assert current["status"] == "withdrawn"
        assert current["withdrawal_reason"] == "Merged into another record."
        assert screened(member, "Harbin Institute of Technology") == set()
        # Withdrawn hides it from the default list; asking for withdrawn ones shows it.
        assert member.advisories(status="published") == []
        assert ids(member.advisories(status="withdrawn")) == {advisory_id}
        assert ids(member.advisories(status="all")) == {advisory_id}
        # The whole history arrived, each revision as ca wrote it.
        assert history(member, advisory_id) == [published, revised, withdrawn]
    assert peer_status(nodes["uk"], "ca")["accepted"] == 3
    assert_outsider_got_nothing(ca, xx)


def test_restricted_drafts_and_local_advisories_never_leave_their_node(nodes: Cluster) -> None:
    ca, uk = nodes.add("ca"), nodes.add("uk")
    nodes.peer("ca", "uk")
    nodes.group(FIVE_EYES, ["ca", "uk"])
    own_org = org_id(ca, READER.format(node="ca"))

    kept_home = {
        ca.publish(tlp="amber+strict", audience=[own_org])["id"]: "amber+strict",
        ca.publish(tlp="red", audience=[own_org])["id"]: "red",
        ca.publish(status="draft")["id"]: "draft",
        ca.publish(tlp="amber", status="draft")["id"]: "amber draft",
        ca.publish(scope=[])["id"]: "scope []",
    }
    # Revisions of them stay home too (a feed serves every revision, not just the first).
    for advisory_id, label in kept_home.items():
        if label in {"red", "scope []"}:
            revise(ca, advisory_id, base_revision=1, risk="high")
    shared = ca.publish()

    # Only the shared one is served: none of the others is even offered for uk to refuse.
    assert synced(uk, "ca") == (1, 0)
    assert stored(uk) == {shared["id"]: 1}
    assert uk.status()["quarantine"]["count"] == 0
    assert [json.loads(r["payload"])["id"] for r in exported(ca, "uk")] == [shared["id"]]
    # And ca still holds every one of them.
    assert set(kept_home) <= set(stored(ca))


def test_the_receiving_node_applies_its_own_access_rules_and_keeps_tier_and_tlp(
    nodes: Cluster,
) -> None:
    ca, uk = nodes.add("ca"), nodes.add("uk")
    nodes.peer("ca", "uk")
    nodes.group(FIVE_EYES, ["ca", "uk"])
    publisher = PUBLISHER.format(node="ca")
    green = ca.publish()
    amber = ca.publish(tlp="amber")
    government_amber = ca.publish(publisher, tier="government", tlp="amber")
    government_green = ca.publish(publisher, tier="government", tlp="green")
    assert synced(uk, "ca") == (4, 0)

    unvetted = "reader@poly.uk.example"
    uk.add_member(
        unvetted, org_name="Polytechnic of uk", kind="university", role="reader", vetted=False
    )
    # uk's vetted reader sees all four, each exactly as ca published it: tier and TLP kept.
    vetted_view = {a["id"]: a for a in uk.advisories()}
    assert vetted_view == {d["id"]: d for d in (green, amber, government_amber, government_green)}
    assert vetted_view[government_amber["id"]]["tier"] == "government"
    assert vetted_view[government_amber["id"]]["tlp"] == "amber"
    # An unvetted member of uk: amber needs a vetted org, and so does government tier.
    assert uk.advisories(unvetted) == [green]
    for hidden in (amber, government_amber, government_green):
        assert fetch(uk, hidden["id"], unvetted) is None
        assert fetch(uk, hidden["id"]) == hidden


def _relay_cluster(nodes: Cluster, *, au_trusts_ca: bool) -> tuple[Node, Node, Node]:
    ca, uk, au = nodes.add("ca"), nodes.add("uk"), nodes.add("au")
    nodes.peer("ca", "uk")
    nodes.peer("uk", "au")
    if au_trusts_ca:
        nodes.trust("au", "ca")
    # us is named but never started: only the group's membership matters here.
    nodes.group(FIVE_EYES, ["us", "uk", "ca", "au"], on=["ca", "uk", "au"])
    return ca, uk, au


def test_a_relayed_advisory_reaches_au_through_uk_with_cas_signature(nodes: Cluster) -> None:
    ca, uk, au = _relay_cluster(nodes, au_trusts_ca=True)
    published = ca.publish()
    assert synced(uk, "ca") == (1, 0)
    assert synced(au, "uk") == (1, 0)

    received = au.advisories()
    assert received == [published]
    assert received[0]["origin"] == "ca"

    # The withdrawal follows the same way.
    withdrawn = withdraw(ca, published["id"], base_revision=1, reason="No longer relevant.")
    assert synced(uk, "ca") == (1, 0)
    assert synced(au, "uk") == (1, 0)
    assert fetch(au, published["id"]) == withdrawn
    assert history(au, published["id"]) == [published, withdrawn]
    # au holds ca's texts and ca's signatures, byte for byte: what ca itself would send au,
    # and what au relays onwards; ca's public key alone verifies them.
    relayed = exported(au, "uk")
    assert relayed == exported(ca, "au")
    assert [verify(SignedRecord.from_json(r), origin_keys(ca)).document for r in relayed] == [
        published,
        withdrawn,
    ]
    assert peer_status(au, "uk")["accepted"] == 2


def test_without_cas_pinned_key_au_quarantines_what_uk_relays(nodes: Cluster) -> None:
    ca, uk, au = _relay_cluster(nodes, au_trusts_ca=False)
    published = ca.publish()
    assert synced(uk, "ca") == (1, 0)

    assert synced(au, "uk") == (0, 1)
    assert au.advisories() == []
    assert stored(au) == {}
    status = au.status()
    assert status["quarantine"]["count"] == 1
    # The operator sees why, without reading the database.
    [shown] = status["quarantine"]["recent"]
    assert (shown["sender"], shown["advisory_id"]) == ("uk", published["id"])
    assert shown["reason"].startswith("unknown kid")
    assert not shown["equivocation"]
    assert peer_status(au, "uk")["rejected"] == 1
    with au.database() as factory, factory() as session:
        quarantined = session.execute(
            select(
                QuarantinedRecord.sender, QuarantinedRecord.advisory_id, QuarantinedRecord.reason
            )
        ).all()
    assert len(quarantined) == 1
    sender, advisory_id, reason = quarantined[0]
    assert (sender, advisory_id) == ("uk", published["id"])
    assert reason.startswith("unknown kid"), reason

    # The cursor moved past it; once ca's key is pinned, a re-review brings it in.
    unrelated = au.run("peers", "quarantine", "--retry").stdout
    assert "0 accepted, 1 still quarantined" in unrelated
    nodes.trust("au", "ca")
    retried = au.run("peers", "quarantine", "--retry").stdout
    assert "1 accepted, 0 still quarantined" in retried
    assert au.advisories() == [published]
    assert au.status()["quarantine"]["count"] == 0
    assert synced(au, "uk") == (0, 0)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("origin_backend", "receiver_backend"), [("sqlite", "postgresql"), ("postgresql", "postgresql")]
)
def test_reach_and_withdrawal_on_postgresql(
    nodes: Cluster, origin_backend: str, receiver_backend: str
) -> None:
    # Serving the feed from PostgreSQL too: its nonce store, feed query and response signing.
    ca = nodes.add("ca", backend=origin_backend)
    uk = nodes.add("uk", backend=receiver_backend)
    nodes.peer("ca", "uk")
    nodes.group(FIVE_EYES, ["ca", "uk"])
    published = ca.publish()
    assert synced(uk, "ca") == (1, 0)
    assert uk.advisories() == [published]

    withdrawn = withdraw(ca, published["id"], base_revision=1, reason="Superseded.")
    assert synced(uk, "ca") == (1, 0)
    assert fetch(uk, published["id"]) == withdrawn
    assert uk.advisories(status="published") == []
    assert history(uk, published["id"]) == [published, withdrawn]
    assert stored(uk) == {published["id"]: 2}
    # Nothing new: a second pass changes nothing.
    assert synced(uk, "ca") == (0, 0)
    assert peer_status(uk, "ca")["accepted"] == 2
