"""Key rotation: a node's new key is accepted on its previous key's word, and on nothing else.

The unit tests drive ``federation.rotation`` directly; the last test rotates a real served node's
key with ``trex-node keys rotate`` and shows that its peer keeps syncing without re-pinning.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from federation.keys import KeyRing, NodeKey, PinnedKeys, PublicNodeKey, format_time
from federation.rotation import ROTATION_TYPE, accept_rotations, rotate
from federation.signing import SignedRecord, VerificationError, sign_document, verify
from service.advisories.models import Advisory, AdvisoryRevision
from service.audit.models import AuditEntry
from service.db import make_engine, make_session_factory, read_only
from tests.federation.cluster import Cluster, Node

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=90)


def _statements(ring: KeyRing) -> list[SignedRecord]:
    return [SignedRecord.from_json(s) for s in ring.statements]


def _by_previous_key(ring: KeyRing) -> list[SignedRecord]:
    """The statements the retiring key signed, one per rotation, oldest first."""
    signed = []
    for statement in _statements(ring):
        document = json.loads(statement.payload)
        if document["previous_kid"] == statement.kid:
            signed.append(statement)
    return signed


def _pinned(*keys: NodeKey) -> PinnedKeys:
    return PinnedKeys(key.public for key in keys)


def _record(key: NodeKey, origin: str = "ca") -> SignedRecord:
    return sign_document({"id": "a1", "origin": origin, "revision": 1}, key)


def _forged_statement(signer: NodeKey, *, node_id: str, previous_kid: str) -> SignedRecord:
    new = NodeKey.generate(node_id, f"{node_id}-2026-02", not_before=NOW)
    return sign_document(
        {
            "type": ROTATION_TYPE,
            "node_id": node_id,
            "previous_kid": previous_kid,
            "key": new.public.to_descriptor(),
            "issued_at": format_time(NOW),
        },
        signer,
    )


def test_rotate_makes_a_new_current_key_and_retires_the_old_one() -> None:
    ring = KeyRing.create("ca", now=NOW)
    old = ring.current

    rotated = rotate(ring, now=LATER)

    assert rotated.current.kid == "ca-2026-02"
    assert rotated.current.public.public_key != old.public.public_key
    assert rotated.current.public.not_before == LATER
    assert rotated.current.public.not_after is None
    retired = rotated.keys[0]
    assert retired.kid == old.kid
    assert retired.public.public_key == old.public.public_key
    assert retired.public.not_after == LATER
    assert not retired.public.valid_at(LATER)
    assert retired.public.valid_at(LATER - timedelta(seconds=1))
    # The old private key stays: the node can still prove what it signed.
    assert retired.sign(b"x") == old.sign(b"x")
    assert len(_by_previous_key(rotated)) == 1
    assert ring.current is old
    assert len(ring.keys) == 1


def test_rotation_statement_is_signed_by_the_previous_key_and_names_the_new_one() -> None:
    ring = KeyRing.create("ca", now=NOW)
    rotated = rotate(ring, now=LATER)
    (statement,) = _by_previous_key(rotated)

    document = verify(statement, _pinned(ring.current), signer_field="node_id").document

    assert statement.kid == ring.current.kid
    assert document["type"] == ROTATION_TYPE
    assert document["node_id"] == "ca"
    assert document["previous_kid"] == ring.current.kid
    assert PublicNodeKey.from_descriptor("ca", document["key"]) == rotated.current.public
    assert document["issued_at"] == format_time(LATER)


def test_a_peer_with_only_the_old_key_pinned_learns_the_new_one() -> None:
    ring = KeyRing.create("ca", now=NOW)
    rotated = rotate(ring, now=LATER)
    pinned = _pinned(ring.current)

    accepted = accept_rotations(_statements(rotated), pinned)

    assert [a.key for a in accepted] == [rotated.current.public]
    assert accepted[0].previous_kid == ring.current.kid
    assert accepted[0].retired_at == LATER
    assert pinned.public_key(rotated.current.kid) == rotated.current.public
    # A record signed with the new key now verifies as ca's.
    assert verify(_record(rotated.current), pinned).signer == "ca"


def test_accepting_the_same_statements_again_changes_nothing() -> None:
    ring = KeyRing.create("ca", now=NOW)
    rotated = rotate(ring, now=LATER)
    pinned = _pinned(ring.current)
    accept_rotations(_statements(rotated), pinned)

    assert accept_rotations(_statements(rotated), pinned) == []
    assert sorted(k.kid for k in pinned) == ["ca-2026-01", "ca-2026-02"]


def test_without_the_previous_key_pinned_a_statement_is_ignored() -> None:
    rotated = rotate(KeyRing.create("ca", now=NOW), now=LATER)
    uk = NodeKey.generate("uk", "uk-2026-01", not_before=NOW)
    pinned = _pinned(uk)

    assert accept_rotations(_statements(rotated), pinned) == []
    assert [k.kid for k in pinned] == ["uk-2026-01"]
    with pytest.raises(VerificationError, match="unknown kid"):
        verify(_record(rotated.current), pinned)


@pytest.mark.parametrize("newest_first", [False, True])
def test_a_chain_of_rotations_is_accepted_in_any_order(newest_first: bool) -> None:
    first = KeyRing.create("ca", now=NOW)
    third = rotate(rotate(first, now=LATER), now=LATER + timedelta(days=1))
    statements = _by_previous_key(third)
    pinned = _pinned(first.current)

    accepted = accept_rotations(statements[::-1] if newest_first else statements, pinned)

    assert sorted(a.key.kid for a in accepted) == ["ca-2026-02", "ca-2026-03"]
    assert sorted(k.kid for k in pinned) == ["ca-2026-01", "ca-2026-02", "ca-2026-03"]
    assert verify(_record(third.current), pinned).signer == "ca"


def test_the_middle_of_a_chain_alone_proves_nothing() -> None:
    first = KeyRing.create("ca", now=NOW)
    third = rotate(rotate(first, now=LATER), now=LATER + timedelta(days=1))
    pinned = _pinned(first.current)

    second_rotation = [s for s in _statements(third) if s.kid in {"ca-2026-02", "ca-2026-03"}]

    assert accept_rotations(second_rotation, pinned) == []
    assert [k.kid for k in pinned] == ["ca-2026-01"]


def test_forged_statements_are_ignored() -> None:
    ca = KeyRing.create("ca", now=NOW)
    uk = NodeKey.generate("uk", "uk-2026-01", not_before=NOW)
    impostor = NodeKey.generate("ca", ca.current.kid, not_before=NOW)  # ca's kid, other key
    pinned = _pinned(ca.current, uk)
    forged = [
        # A third key claiming ca's kid.
        _forged_statement(impostor, node_id="ca", previous_kid=ca.current.kid),
        # A trusted peer speaking for ca.
        _forged_statement(uk, node_id="ca", previous_kid=ca.current.kid),
        # A trusted peer naming ca's key as the one it replaces.
        _forged_statement(uk, node_id="uk", previous_kid=ca.current.kid),
    ]

    assert accept_rotations(forged, pinned) == []
    assert sorted(k.kid for k in pinned) == ["ca-2026-01", "uk-2026-01"]


def test_a_statement_cannot_take_over_a_pinned_kid() -> None:
    ca = KeyRing.create("ca", now=NOW)
    uk = NodeKey.generate("uk", "uk-2026-01", not_before=NOW)
    pinned = _pinned(ca.current, uk)
    # uk's own (validly signed) statement tries to re-key ca's kid.
    takeover = NodeKey.generate("uk", ca.current.kid, not_before=NOW)
    statement = sign_document(
        {
            "type": ROTATION_TYPE,
            "node_id": "uk",
            "previous_kid": uk.kid,
            "key": takeover.public.to_descriptor(),
            "issued_at": format_time(NOW),
        },
        uk,
    )

    assert accept_rotations([statement], pinned) == []
    assert pinned.public_key(ca.current.kid) == ca.current.public


def test_other_documents_signed_by_the_previous_key_are_not_rotations() -> None:
    ca = KeyRing.create("ca", now=NOW)
    new = NodeKey.generate("ca", "ca-2026-02", not_before=NOW)
    pinned = _pinned(ca.current)
    base: dict[str, Any] = {
        "type": ROTATION_TYPE,
        "node_id": "ca",
        "previous_kid": ca.current.kid,
        "key": new.public.to_descriptor(),
        "issued_at": format_time(NOW),
    }
    not_rotations = [
        {**base, "type": "trex-bundle"},
        {**base, "previous_kid": "ca-2025-01"},
        {**base, "key": None},
        {**base, "key": {**base["key"], "alg": "RS256"}},
        {**base, "issued_at": None},
    ]

    assert accept_rotations([sign_document(d, ca.current) for d in not_rotations], pinned) == []
    assert [k.kid for k in pinned] == ["ca-2026-01"]


def test_records_signed_by_the_old_key_still_verify_after_rotation() -> None:
    ring = KeyRing.create("ca", now=NOW)
    before = _record(ring.current)
    rotated = rotate(ring, now=LATER)
    pinned = _pinned(ring.current)
    accept_rotations(_statements(rotated), pinned)

    assert verify(before, pinned).signer == "ca"
    # The retired key still signs old content the same way (the ring keeps it).
    assert _record(rotated.keys[0]) == before
    assert verify(_record(rotated.current), pinned).record.kid == "ca-2026-02"


def test_a_peer_that_pinned_only_the_new_key_learns_the_retired_one() -> None:
    # A node pinned after a rotation still verifies what the node signed before it.
    ring = KeyRing.create("ca", now=NOW)
    before = _record(ring.current)
    rotated = rotate(ring, now=LATER)
    pinned = _pinned(rotated.current)
    # Not from what arrives later (a feed's statements): only when an operator pins the node.
    assert accept_rotations(_statements(rotated), _pinned(rotated.current)) == []

    accepted = accept_rotations(_statements(rotated), pinned, earlier=True)

    assert [a.key.kid for a in accepted] == [ring.current.kid]
    assert pinned.public_key(ring.current.kid) == PublicNodeKey(
        "ca", ring.current.kid, ring.current.public.public_key, not_before=NOW, not_after=LATER
    )
    assert verify(before, pinned).signer == "ca"


# --- two real nodes ---------------------------------------------------------------------------


def _database_url(node: Node) -> str:
    return node.env.get("TREX_DATABASE_URL") or f"sqlite:///{node.data_dir / 'node.db'}"


def _stored_kid_and_audit(node: Node, advisory_id: str) -> tuple[list[str | None], list[Any]]:
    engine = make_engine(_database_url(node))
    try:
        with read_only(make_session_factory(engine)) as session:
            kids = list(
                session.scalars(
                    select(AdvisoryRevision.kid)
                    .join(Advisory, Advisory.pk == AdvisoryRevision.advisory_pk)
                    .where(Advisory.id == advisory_id)
                    .order_by(AdvisoryRevision.revision)
                )
            )
            rotated = [
                (row.target, json.loads(row.detail))
                for row in session.scalars(
                    select(AuditEntry).where(AuditEntry.action == "federation.key.rotated")
                )
            ]
    finally:
        engine.dispose()
    return kids, rotated


def test_a_peer_follows_a_real_key_rotation_without_re_pinning(nodes: Cluster) -> None:
    ca = nodes.add("ca")
    uk = nodes.add("uk")
    nodes.peer("ca", "uk")
    nodes.group("five-eyes", ["ca", "uk"])
    before = ca.publish()
    assert "1 accepted" in uk.sync().stdout
    old_kid = ca.kid

    rotated = ca.run("keys", "rotate").stdout
    new_kid = next(
        line.split()[-1] for line in rotated.splitlines() if line.strip().startswith("kid")
    )
    assert new_kid != old_kid
    # The running server picks up the new key file by itself: no restart.
    after = ca.publish()
    synced = uk.sync().stdout

    assert "1 accepted" in synced, synced
    held = {a["id"]: a for a in uk.advisories()}
    assert held[after["id"]] == after
    assert held[before["id"]] == before
    (ca_status,) = [p for p in uk.status()["peers"] if p["node_id"] == "ca"]
    keys = {k["kid"]: k for k in ca_status["keys"]}
    assert set(keys) == {old_kid, new_kid}
    assert keys[old_kid]["source"] == "pinned"
    assert keys[new_kid]["source"] == "rotation"
    assert keys[old_kid]["fingerprint"] == ca.fingerprint
    assert ca_status["last_error"] is None
    kids_after, rotated_entries = _stored_kid_and_audit(uk, after["id"])
    kids_before, _ = _stored_kid_and_audit(uk, before["id"])
    assert kids_after == [new_kid]  # ca's own signature with its new key, kept as it came
    assert kids_before == [old_kid]
    assert rotated_entries == [("ca", {"kid": new_kid, "previous_kid": old_kid})]
    # Syncing again learns nothing twice.
    assert "0 accepted" in uk.sync().stdout
    assert len(_stored_kid_and_audit(uk, after["id"])[1]) == 1
