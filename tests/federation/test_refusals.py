"""Records a real node must refuse from a peer (SPEC section 7, issue 4 acceptance 3).

The receiving node ``us`` is a real served node that pulls with ``trex-node sync --once`` from
a rogue peer (``tests.federation.rogue_peer``): a remote node that speaks the protocol
correctly but serves crafted records. Every test puts a good record in the same page as the
bad one, so it also shows that a refusal quarantines one record without stopping the sync.
Request-signature attacks against the node's own federation endpoints are at the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.keys import NodeKey, PinnedKeys, PublicNodeKey, b64url_decode, b64url_encode
from federation.peer_auth import PeerAuthError, sign_request, verify_response
from federation.signing import SignedRecord, sign_payload, verify
from service.audit.models import AuditEntry
from service.db import make_engine
from service.peering.models import QuarantinedRecord
from tests.factories import assert_problem
from tests.federation.cluster import ANALYST, OPERATOR, READER, Cluster, Node, cluster
from tests.federation.rogue_peer import (
    RoguePeer,
    new_key,
    revision,
    rogue_peer,
    signed,
    tampered,
)

RECEIVER = "us"
FIVE_EYES = ["us", "uk", "ca"]


# --- helpers --------------------------------------------------------------------------------


def database_url(node: Node) -> str:
    return node.env.get("TREX_DATABASE_URL") or f"sqlite:///{node.data_dir / 'node.db'}"


def quarantine(node: Node) -> list[QuarantinedRecord]:
    """The node's quarantine table, oldest first (read straight from its database)."""
    engine = make_engine(database_url(node))
    try:
        with Session(engine, expire_on_commit=False) as session:
            return list(session.scalars(select(QuarantinedRecord).order_by(QuarantinedRecord.pk)))
    finally:
        engine.dispose()


def audit_actions(node: Node, action: str) -> list[AuditEntry]:
    engine = make_engine(database_url(node))
    try:
        with Session(engine, expire_on_commit=False) as session:
            return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))
    finally:
        engine.dispose()


def public_key(node: Node) -> PublicNodeKey:
    return PublicNodeKey(node.node_id, node.kid, b64url_decode(node.public_key))


def pin_rogue(node: Node, rogue: RoguePeer) -> None:
    """The operator pins the rogue peer's key (as its descriptor lists it) and pulls from it."""
    node.run("peers", "add", rogue.node_id, "--url", rogue.url, "--public-key", rogue.public_key)


def pin_key_only(node: Node, key: NodeKey) -> None:
    """Trust ``key``'s node for what it signs, without pulling from it (records come by relay)."""
    public = b64url_encode(key.public.public_key)
    node.run("peers", "add", key.public.node_id, "--public-key", public, "--kid", key.kid)


@dataclass(frozen=True)
class Summary:
    accepted: int
    rejected: int
    unchanged: int
    equivocations: int


def sync_from(node: Node, peer_id: str) -> Summary:
    """``trex-node sync --once --peer ID`` on ``node``; the counts it printed for that peer."""
    output = node.sync("--peer", peer_id).stdout
    found = re.search(
        rf"^{peer_id}: (\d+) accepted, (\d+) rejected, (\d+) unchanged, (\d+) equivocations$",
        output,
        re.MULTILINE,
    )
    assert found, output
    return Summary(*(int(group) for group in found.groups()))


def fetch(node: Node, advisory_id: str, email: str | None = None) -> httpx.Response:
    with node.client(email or READER.format(node=node.node_id)) as client:
        return client.get(f"/v1/advisories/{advisory_id}")


def assert_not_stored(node: Node, advisory_id: str) -> None:
    """Refused means absent: not listed (any status) and 404 for the node's reader."""
    assert advisory_id not in {a["id"] for a in node.advisories()}
    response = fetch(node, advisory_id)
    assert response.status_code == 404, response.text


def assert_stored(node: Node, document: dict[str, Any]) -> None:
    response = fetch(node, document["id"])
    assert response.status_code == 200, response.text
    held = response.json()
    assert (held["origin"], held["revision"], held["summary"]) == (
        document["origin"],
        document["revision"],
        document["summary"],
    )


def assert_quarantined(
    node: Node, *, advisory_id: str, sender: str, reason: str
) -> QuarantinedRecord:
    """The one quarantined record is this advisory, from ``sender``, for ``reason``."""
    assert node.status()["quarantine"]["count"] == 1
    rows = quarantine(node)
    assert len(rows) == 1, [row.reason for row in rows]
    row = rows[0]
    assert (row.advisory_id, row.sender) == (advisory_id, sender)
    assert re.search(reason, row.reason), row.reason
    return row


def assert_advanced(node: Node, rogue: RoguePeer) -> None:
    """The pull cursor moved past the page (it is committed with the batch), no error left."""
    peer = next(p for p in node.status()["peers"] if p["node_id"] == rogue.node_id)
    assert peer["cursor"] == rogue.cursor
    assert peer["last_error"] is None


@pytest.fixture
def receiver(nodes: Cluster) -> Node:
    """``us``: a real node in ``five-eyes`` (us, uk, ca) by its own configuration."""
    node = nodes.add(RECEIVER)
    node.run("groups", "add", "five-eyes", *[a for m in FIVE_EYES for a in ("--member", m)])
    return node


@pytest.fixture
def uk(receiver: Node) -> Iterator[RoguePeer]:
    """A rogue ``uk``, pinned by ``us`` and in its five-eyes group."""
    with rogue_peer("uk", new_key("uk"), receiver=public_key(receiver)) as peer:
        pin_rogue(receiver, peer)
        yield peer


# --- records refused --------------------------------------------------------------------------


def test_a_flipped_payload_byte_is_refused(receiver: Node, uk: RoguePeer) -> None:
    bad = revision("uk", summary="Member of the Seven Sons of National Defence.")
    good = revision("uk")
    # One letter changed after signing: the signature no longer covers these bytes.
    flipped = tampered(signed(bad, uk.key), "Seven Sons", "Seven Sins")
    uk.serve([flipped, signed(good, uk.key)])

    assert sync_from(receiver, "uk") == Summary(1, 1, 0, 0)

    assert_not_stored(receiver, bad["id"])
    assert_stored(receiver, good)
    row = assert_quarantined(
        receiver, advisory_id=bad["id"], sender="uk", reason="signature does not verify"
    )
    # The quarantine keeps the record exactly as it arrived, for the operator to inspect.
    assert json.loads(row.record) == flipped
    assert not row.equivocation
    assert_advanced(receiver, uk)


def test_a_wrong_kid_is_refused(receiver: Node, uk: RoguePeer) -> None:
    good, bad = revision("uk"), revision("uk")
    record = signed(bad, uk.key)
    unknown = {**record, "kid": "uk-1999-01"}
    uk.serve([unknown, signed(good, uk.key)])

    assert sync_from(receiver, "uk") == Summary(1, 1, 0, 0)

    assert_not_stored(receiver, bad["id"])
    assert_stored(receiver, good)
    assert_quarantined(receiver, advisory_id=bad["id"], sender="uk", reason="unknown kid")
    assert_advanced(receiver, uk)


def test_a_signature_under_another_known_kid_is_refused(receiver: Node, uk: RoguePeer) -> None:
    ca = new_key("ca")
    pin_key_only(receiver, ca)
    good, bad = revision("uk"), revision("ca")
    # uk's signature over ca's record, labelled with ca's kid: the kid names a key that did
    # not make this signature.
    forged = {**signed(bad, uk.key), "kid": ca.kid}
    uk.serve([forged, signed(good, uk.key)])

    assert sync_from(receiver, "uk") == Summary(1, 1, 0, 0)

    assert_not_stored(receiver, bad["id"])
    assert_stored(receiver, good)
    assert_quarantined(
        receiver,
        advisory_id=bad["id"],
        sender="uk",
        reason=f"signature does not verify with key '{ca.kid}'",
    )
    assert_advanced(receiver, uk)


def test_a_record_signed_by_another_node_than_its_origin_is_refused(
    receiver: Node, uk: RoguePeer
) -> None:
    # ca is trusted and in the group: the only thing wrong is who signed.
    pin_key_only(receiver, new_key("ca"))
    good, forged = revision("uk"), revision("ca")
    uk.serve([signed(forged, uk.key), signed(good, uk.key)])

    assert sync_from(receiver, "uk") == Summary(1, 1, 0, 0)

    assert_not_stored(receiver, forged["id"])
    assert_stored(receiver, good)
    assert_quarantined(
        receiver,
        advisory_id=forged["id"],
        sender="uk",
        reason=r"signed by node 'uk' .* origin is 'ca'",
    )
    assert_advanced(receiver, uk)


def test_a_non_canonical_payload_is_refused(receiver: Node, uk: RoguePeer) -> None:
    good, bad = revision("uk"), revision("uk")
    # A valid signature over pretty-printed JSON: the same object, but not its one byte form.
    pretty = sign_payload(json.dumps(bad, indent=2, ensure_ascii=False), uk.key).to_json()
    uk.serve([pretty, signed(good, uk.key)])

    assert sync_from(receiver, "uk") == Summary(1, 1, 0, 0)

    assert_not_stored(receiver, bad["id"])
    assert_stored(receiver, good)
    assert_quarantined(
        receiver, advisory_id=bad["id"], sender="uk", reason="not RFC 8785 canonical"
    )
    assert_advanced(receiver, uk)


def test_duplicate_json_keys_are_refused(receiver: Node, uk: RoguePeer) -> None:
    good, bad = revision("uk", risk="very_high"), revision("uk", risk="very_high")
    canonical = signed(bad, uk.key)["payload"]
    # Two "risk" members: parsers disagree on which one counts, so neither may.
    duplicated = canonical.replace('"risk":"very_high"', '"risk":"low","risk":"very_high"', 1)
    assert duplicated != canonical
    uk.serve([sign_payload(duplicated, uk.key).to_json(), signed(good, uk.key)])

    assert sync_from(receiver, "uk") == Summary(1, 1, 0, 0)

    assert_not_stored(receiver, bad["id"])
    assert_stored(receiver, good)
    # A duplicate key makes the payload unparsable, so the quarantine cannot name the advisory.
    assert receiver.status()["quarantine"]["count"] == 1
    (row,) = quarantine(receiver)
    assert row.sender == "uk"
    assert "duplicate key 'risk'" in row.reason
    assert json.loads(row.record)["payload"] == duplicated
    assert_advanced(receiver, uk)


def test_a_record_whose_scope_excludes_the_receiver_is_refused(
    receiver: Node, uk: RoguePeer
) -> None:
    # us knows the group, and that it is not in it.
    receiver.run("groups", "add", "eu", "--member", "uk", "--member", "fr")
    good = revision("uk")
    elsewhere = revision("uk", scope=["eu"])
    unknown_group = revision("uk", scope=["nato-lab"])
    uk.serve([signed(elsewhere, uk.key), signed(unknown_group, uk.key), signed(good, uk.key)])

    assert sync_from(receiver, "uk") == Summary(1, 2, 0, 0)

    assert_not_stored(receiver, elsewhere["id"])
    assert_not_stored(receiver, unknown_group["id"])
    assert_stored(receiver, good)
    assert receiver.status()["quarantine"]["count"] == 2
    rows = {row.advisory_id: row for row in quarantine(receiver)}
    for document in (elsewhere, unknown_group):
        assert "scope names no group the receiver is in" in rows[document["id"]].reason
    assert_advanced(receiver, uk)


def test_a_peer_relaying_what_it_may_not_is_refused(nodes: Cluster, receiver: Node) -> None:
    ca = new_key("ca")
    pin_key_only(receiver, ca)
    # xx is a peer of us for a bilateral group only; ca's five-eyes record is not its to relay.
    receiver.run("groups", "add", "bilateral", "--member", "us", "--member", "xx")
    with rogue_peer("xx", new_key("xx"), receiver=public_key(receiver)) as xx:
        pin_rogue(receiver, xx)
        relayed = revision("ca")  # signed by ca's real key: authentic, but not xx's to pass on
        good = revision("xx", scope=["bilateral"])
        xx.serve([signed(relayed, ca), signed(good, xx.key)])

        assert sync_from(receiver, "xx") == Summary(1, 1, 0, 0)

        assert_not_stored(receiver, relayed["id"])
        assert_stored(receiver, good)
        assert_quarantined(
            receiver,
            advisory_id=relayed["id"],
            sender="xx",
            reason="'xx' may not relay 'ca''s record",
        )
        assert_advanced(receiver, xx)


def test_an_older_revision_does_not_roll_back(receiver: Node, uk: RoguePeer) -> None:
    first = revision("uk", number=1, summary="First take.")
    second = {
        **first,
        "revision": 2,
        "summary": "Second take.",
        "updated_at": "2026-02-01T00:00:00Z",
    }
    uk.serve([signed(first, uk.key), signed(second, uk.key)])
    assert sync_from(receiver, "uk") == Summary(2, 0, 0, 0)
    assert_stored(receiver, second)

    # The peer serves revision 1 again (and 2 once more), correctly signed, with news after it.
    news = revision("uk")
    uk.serve([signed(first, uk.key), signed(second, uk.key), signed(news, uk.key)])

    # Older or equal revisions are no-ops (SPEC section 7): nothing quarantined, no rollback.
    assert sync_from(receiver, "uk") == Summary(1, 0, 2, 0)
    assert uk.feed_requests[-1] == "rogue-page-1"  # the second sync resumed after page one
    assert_stored(receiver, second)
    with receiver.client(READER.format(node=RECEIVER)) as client:
        history = client.get(f"/v1/advisories/{first['id']}/revisions").json()["items"]
    assert sorted(item["revision"] for item in history) == [1, 2]
    assert_stored(receiver, news)
    assert receiver.status()["quarantine"]["count"] == 0
    assert quarantine(receiver) == []
    assert_advanced(receiver, uk)


def test_an_older_revision_with_other_content_is_quarantined_as_equivocation(
    receiver: Node, uk: RoguePeer
) -> None:
    first = revision("uk", number=1, summary="First take.")
    second = {**first, "revision": 2, "summary": "Second take."}
    uk.serve([signed(first, uk.key), signed(second, uk.key)])
    assert sync_from(receiver, "uk") == Summary(2, 0, 0, 0)

    # Revision 1 again, signed by the origin, but not the text it signed the first time.
    rewritten = {**first, "summary": "A different first take."}
    uk.serve([signed(rewritten, uk.key)])

    assert sync_from(receiver, "uk") == Summary(0, 1, 0, 1)
    assert_stored(receiver, second)
    equivocations = receiver.status()["quarantine"]["equivocations"]
    assert [(e["advisory_id"], e["revision"]) for e in equivocations] == [(first["id"], 1)]


def test_a_validly_signed_record_without_defaulted_fields_does_not_block_the_sync(
    receiver: Node, uk: RoguePeer
) -> None:
    sparse = revision("uk")
    del sparse["audience"], sparse["categories"]
    good = revision("uk")
    uk.serve([signed(sparse, uk.key), signed(good, uk.key)])

    # Stored or quarantined, either is fine; a peer must not be able to wedge the sync.
    result = receiver.sync("--peer", "uk", check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_stored(receiver, good)
    assert_advanced(receiver, uk)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_same_revision_with_other_content_is_quarantined_as_equivocation(
    nodes: Cluster, backend: str
) -> None:
    receiver = nodes.add(RECEIVER, backend=backend)
    receiver.run("groups", "add", "five-eyes", *[a for m in FIVE_EYES for a in ("--member", m)])
    with rogue_peer("uk", new_key("uk"), receiver=public_key(receiver)) as uk:
        pin_rogue(receiver, uk)
        original = revision("uk", summary="Original wording.")
        uk.serve([signed(original, uk.key)])
        assert sync_from(receiver, "uk") == Summary(1, 0, 0, 0)

        # The origin signs a second, different text as the same revision.
        other = {**original, "summary": "Quietly different wording."}
        news = revision("uk")
        uk.serve([signed(other, uk.key), signed(news, uk.key)])
        assert sync_from(receiver, "uk") == Summary(1, 1, 0, 1)

        # The receiver keeps what it had first.
        assert_stored(receiver, original)
        assert_stored(receiver, news)
        row = assert_quarantined(
            receiver, advisory_id=original["id"], sender="uk", reason="equivocation"
        )
        assert row.equivocation
        assert (row.origin, row.revision) == ("uk", 1)
        assert json.loads(row.record) == signed(other, uk.key)
        # The operator sees the alert in status and in the tamper-evident audit log.
        (alert,) = receiver.status()["quarantine"]["equivocations"]
        assert (alert["advisory_id"], alert["origin"], alert["revision"], alert["sender"]) == (
            original["id"],
            "uk",
            1,
            "uk",
        )
        assert "equivocation" in alert["reason"]
        (entry,) = audit_actions(receiver, "federation.equivocation")
        assert entry.target == original["id"]
        assert json.loads(entry.detail) == {"origin": "uk", "revision": 1, "sender": "uk"}
        assert receiver.run("audit", "verify").stdout.startswith("OK:")
        assert_advanced(receiver, uk)


# --- request signatures against the node's own endpoints -------------------------------------


FEED = "/v1/federation/feed"
NOTIFY = "/v1/federation/notify"


@dataclass
class Served:
    """One served node ``ca`` that has pinned ``uk``, whose private key the tests hold."""

    node: Node
    uk: NodeKey
    published: dict[str, Any]

    def keys(self) -> PinnedKeys:
        return PinnedKeys([public_key(self.node)])


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Served]:
    with cluster(tmp_path_factory.mktemp("served"), request) as built:
        node = built.add("ca")
        uk = new_key("uk")
        pin_key_only(node, uk)
        node.run("groups", "add", "five-eyes", "--member", "ca", "--member", "uk")
        published = node.publish(ANALYST.format(node="ca"))
        yield Served(node, uk, published)


def signed_request(
    served: Served,
    method: str = "GET",
    path: str = FEED,
    *,
    key: NodeKey | None = None,
    url: str | None = None,
    now: datetime | None = None,
    json_body: Any = None,
    lifetime: timedelta = timedelta(seconds=60),
) -> tuple[httpx.Request, str]:
    """A request to the node signed with ``key`` (default: uk's); and its nonce."""
    request = httpx.Request(
        method,
        (url or served.node.url) + path,
        json=json_body,
        headers={"Accept-Encoding": "identity"},
    )
    nonce = sign_request(request, key or served.uk, now=now, lifetime=lifetime)
    return request, nonce


def send(request: httpx.Request, *, to: str | None = None) -> httpx.Response:
    """Send ``request`` as it is (optionally to another address than the one it was signed for)."""
    if to is not None:
        request = httpx.Request(
            request.method, to, headers=request.headers, content=request.content
        )
    with httpx.Client(timeout=30.0) as client:
        return client.send(request)


def assert_refused(response: httpx.Response, reason: str, status: int = 401) -> None:
    body = assert_problem(response, status, "signature" if status == 401 else None)
    assert reason in body["detail"], body


def assert_signed_answer(response: httpx.Response, served: Served, nonce: str) -> None:
    """The answer carries the node's RFC 9421 signature, bound to our request's nonce."""
    key = verify_response(
        status=response.status_code,
        headers=response.headers.multi_items(),
        body=response.content,
        keys=served.keys(),
        signer="ca",
        request_nonce=nonce,
    )
    assert key.kid == served.node.kid


def test_a_pinned_peers_signed_feed_and_notify_get_signed_answers(served: Served) -> None:
    request, nonce = signed_request(served)
    response = send(request)
    assert response.status_code == 200, response.text
    assert_signed_answer(response, served, nonce)
    # The record in the feed is ca's signed advisory, verifiable with ca's key alone.
    (record,) = response.json()["records"]
    verified = verify(SignedRecord.from_json(record), served.keys())
    assert verified.document["id"] == served.published["id"]

    request, nonce = signed_request(served, "POST", NOTIFY, json_body={"node_id": "uk"})
    response = send(request)
    assert response.status_code == 202, response.text
    assert_signed_answer(response, served, nonce)
    # A signed answer is bound to its own request: it does not verify for another nonce.
    with pytest.raises(PeerAuthError, match="nonce does not match"):
        assert_signed_answer(response, served, "another-request")


def test_an_unsigned_feed_request_is_refused(served: Served) -> None:
    with httpx.Client(base_url=served.node.url, timeout=30.0) as client:
        response = client.get(FEED)
        assert_refused(response, "Request signature refused")
        assert "records" not in response.text
        assert_refused(client.post(NOTIFY, json={}), "Request signature refused")


def test_a_replayed_request_signature_is_refused_even_after_a_restart(served: Served) -> None:
    # Long enough to outlive the restart, so that only the nonce can refuse it afterwards.
    request, _ = signed_request(served, lifetime=timedelta(seconds=120))
    assert send(request).status_code == 200
    assert_refused(send(request), "replayed nonce")

    served.node.stop()
    served.node.start()

    assert_refused(send(request), "replayed nonce")
    fresh, _ = signed_request(served)
    assert send(fresh).status_code == 200


def test_an_expired_or_future_dated_signature_is_refused(served: Served) -> None:
    now = datetime.now(UTC)
    expired, _ = signed_request(served, now=now - timedelta(minutes=10))
    assert_refused(send(expired), "signature expired")
    future, _ = signed_request(served, now=now + timedelta(minutes=10))
    assert_refused(send(future), "created in the future")


def test_an_unknown_key_or_a_removed_peers_key_is_refused(served: Served) -> None:
    stranger, _ = signed_request(served, key=new_key("zz"))
    assert_refused(send(stranger), "unknown keyid")

    nz = new_key("nz")
    pin_key_only(served.node, nz)
    before, _ = signed_request(served, key=nz)
    assert send(before).status_code == 200
    served.node.run("peers", "remove", "nz")
    after, _ = signed_request(served, key=nz)
    response = send(after)
    assert response.status_code in {401, 403}, response.text
    assert_problem(response, response.status_code)


def test_a_request_signed_for_another_node_is_refused(served: Served) -> None:
    # Signed for uk's own address; replayed by whoever saw it to ca.
    request, _ = signed_request(served, url="http://127.0.0.1:1")
    response = send(request, to=served.node.url + FEED)
    assert_refused(response, "Request signature refused")
    # The same signature stays unusable at ca: it was never accepted, and never will be.
    assert_refused(send(request, to=served.node.url + FEED), "Request signature refused")


def test_federation_status_is_for_operators_only(served: Served) -> None:
    node = served.node
    with node.client() as anonymous:
        assert_problem(anonymous.get("/v1/federation/status"), 401)
    with node.client(READER.format(node="ca")) as reader:
        assert_problem(reader.get("/v1/federation/status"), 403)
    with node.client(OPERATOR.format(node="ca")) as operator:
        response = operator.get("/v1/federation/status")
    assert response.status_code == 200, response.text
    assert response.json()["groups"] == {"five-eyes": ["ca", "uk"]}
