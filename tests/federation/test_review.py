"""``federation.sync.review_records``: what a node keeps, skips and quarantines from one page.

Real Ed25519 keys and signatures, in-memory pinned keys and groups: the judgement a receiving
node makes before anything touches its database.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from federation.keys import NodeKey, PinnedKeys
from federation.policy import Groups
from federation.signing import SignedRecord, sign_document, sign_payload
from federation.sync import Batch, Held, review_records

NOW = datetime(2026, 3, 1, tzinfo=UTC)
CA = NodeKey.generate("ca", "ca-2026-01", not_before=NOW)
UK = NodeKey.generate("uk", "uk-2026-01", not_before=NOW)
AU = NodeKey.generate("au", "au-2026-01", not_before=NOW)
SE = NodeKey.generate("se", "se-2026-01", not_before=NOW)
STRANGER = NodeKey.generate("xx", "xx-2026-01", not_before=NOW)
KEYS = PinnedKeys([CA.public, UK.public, AU.public, SE.public])
GROUPS = Groups.of({"five-eyes": ["ca", "uk", "au"], "nordic": ["se", "ca"]})
ADVISORY = "2f1d6f0e-1111-4c5e-9c1a-000000000001"


def _document(**fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": ADVISORY,
        "origin": "ca",
        "revision": 1,
        "status": "published",
        "tier": "academia",
        "tlp": "green",
        "scope": ["five-eyes"],
        "summary": "first",
    }
    document.update(fields)
    return document


def _signed(key: NodeKey = CA, **fields: Any) -> dict[str, str]:
    return sign_document(_document(**fields), key).to_json()


def _review(
    records: list[Any],
    *,
    sender: str = "ca",
    receiver: str = "uk",
    held: Mapping[str, Held] | None = None,
    **options: Any,
) -> Batch:
    return review_records(
        records, sender=sender, receiver=receiver, keys=KEYS, groups=GROUPS, held=held, **options
    )


def _digest_of(record: dict[str, str]) -> str:
    (verified,) = _review([record]).accepted
    return verified.digest


def _reasons(batch: Batch) -> list[str]:
    return [r.reason for r in batch.rejected]


def test_a_new_record_is_accepted_with_its_origin_and_text() -> None:
    record = _signed()

    batch = _review([record])

    (accepted,) = batch.accepted
    assert accepted.signer == "ca"
    assert accepted.document == _document()
    assert accepted.record == SignedRecord.from_json(record)
    assert batch.rejected == []
    assert batch.unchanged == 0


def test_a_relay_inside_the_group_is_accepted_with_the_origin_signature() -> None:
    batch = _review([_signed()], sender="uk", receiver="au")

    assert [r.signer for r in batch.accepted] == ["ca"]


@pytest.mark.parametrize("held_revision", [2, 3])
def test_older_or_equal_revisions_are_unchanged_not_rolled_back(held_revision: int) -> None:
    current = _signed(revision=2, summary="second")
    held = {ADVISORY: Held("ca", held_revision, _digest_of(current))}

    batch = _review([_signed(revision=1), current], held=held)

    assert batch.accepted == []
    assert batch.rejected == []
    assert batch.unchanged == 2


def test_a_newer_revision_replaces_what_is_held() -> None:
    held = {ADVISORY: Held("ca", 1, _digest_of(_signed()))}

    batch = _review([_signed(revision=2, status="withdrawn")], held=held)

    assert [r.document["revision"] for r in batch.accepted] == [2]
    assert batch.accepted[0].document["status"] == "withdrawn"


def test_same_revision_other_content_is_equivocation() -> None:
    held = {ADVISORY: Held("ca", 1, _digest_of(_signed()))}
    other = _signed(summary="the same revision number, other words")

    batch = _review([other], held=held)

    assert batch.accepted == []
    (rejection,) = batch.rejected
    assert rejection.equivocation
    assert "equivocation" in rejection.reason
    assert (rejection.origin, rejection.advisory_id, rejection.revision) == ("ca", ADVISORY, 1)
    assert rejection.record == other


def test_an_id_held_for_another_origin_is_refused() -> None:
    # uk signs a record reusing ca's advisory id: it may not take over ca's advisory.
    held = {ADVISORY: Held("ca", 1, "0" * 64)}
    hijack = _signed(UK, origin="uk", revision=5)

    batch = _review([hijack], sender="uk", receiver="au", held=held)

    assert batch.accepted == []
    (rejection,) = batch.rejected
    assert not rejection.equivocation
    assert "already belongs to origin 'ca'" in rejection.reason
    assert rejection.origin == "uk"


def test_revisions_of_one_id_in_one_batch_are_judged_in_order() -> None:
    first, second, third = (_signed(revision=n, summary=f"revision {n}") for n in (1, 2, 3))
    forked = _signed(revision=3, summary="a different third revision")

    batch = _review([first, second, second, third, first, forked])

    assert [r.document["revision"] for r in batch.accepted] == [1, 2, 3]
    assert batch.unchanged == 2  # the repeated second and the stale first
    (rejection,) = batch.rejected
    assert rejection.equivocation
    assert rejection.revision == 3


def test_a_later_revision_first_makes_earlier_ones_stale() -> None:
    batch = _review([_signed(revision=3), _signed(revision=2), _signed(revision=1)])

    assert [r.document["revision"] for r in batch.accepted] == [3]
    assert batch.unchanged == 2


def test_lookup_is_asked_once_for_the_ids_of_verified_records() -> None:
    other = "2f1d6f0e-1111-4c5e-9c1a-000000000002"
    held_already = _signed(id=other, revision=7)
    asked: list[set[str]] = []

    def lookup(ids: Collection[str]) -> Mapping[str, Held]:
        asked.append(set(ids))
        return {other: Held("ca", 7, _digest_of(held_already))}

    batch = _review([_signed(), held_already, {"payload": "x"}], lookup=lookup)

    assert asked == [{ADVISORY, other}]
    assert [r.document["id"] for r in batch.accepted] == [ADVISORY]
    assert batch.unchanged == 1


def test_check_document_refuses_a_well_signed_revision_the_node_cannot_hold() -> None:
    def check(document: Mapping[str, Any]) -> str | None:
        return "risk: not one of the known levels" if document.get("risk") == "extreme" else None

    batch = _review(
        [_signed(risk="extreme"), _signed(id="other", risk="high")], check_document=check
    )

    assert [r.document["id"] for r in batch.accepted] == ["other"]
    (rejection,) = batch.rejected
    assert rejection.reason == "not a valid advisory revision: risk: not one of the known levels"
    assert (rejection.origin, rejection.advisory_id, rejection.revision) == ("ca", ADVISORY, 1)


GOOD = _signed(id="good")
MALFORMED: list[Any] = [
    pytest.param(["payload", "kid", "alg", "sig"], "JSON object", id="a list"),
    pytest.param("a string", "JSON object", id="a string"),
    pytest.param(None, "JSON object", id="null"),
    pytest.param(42, "JSON object", id="a number"),
    pytest.param({}, "must be a string", id="empty object"),
    pytest.param({k: v for k, v in GOOD.items() if k != "sig"}, "'sig'", id="missing sig"),
    pytest.param({k: v for k, v in GOOD.items() if k != "payload"}, "'payload'", id="no payload"),
    pytest.param({k: v for k, v in GOOD.items() if k != "kid"}, "'kid'", id="missing kid"),
    pytest.param({**GOOD, "origin": "ca"}, "unexpected field", id="extra field"),
    pytest.param({**GOOD, "sig": 7}, "'sig' must be a string", id="numeric sig"),
    pytest.param({**GOOD, "sig": None}, "'sig' must be a string", id="null sig"),
    pytest.param(
        {**GOOD, "payload": json.loads(GOOD["payload"])}, "'payload'", id="object payload"
    ),
]


@pytest.mark.parametrize(("raw", "reason"), MALFORMED)
def test_a_malformed_envelope_is_refused_and_the_batch_goes_on(raw: Any, reason: str) -> None:
    batch = _review([raw, GOOD])

    assert [r.document["id"] for r in batch.accepted] == ["good"]
    (rejection,) = batch.rejected
    assert reason in rejection.reason
    assert rejection.record == raw
    assert not rejection.equivocation


def _flip_payload_byte(record: dict[str, str]) -> dict[str, str]:
    return {**record, "payload": record["payload"].replace("first", "firsT")}


def _sign_text(text: str, key: NodeKey = CA) -> dict[str, str]:
    return sign_payload(text, key).to_json()


UNVERIFIABLE: list[Any] = [
    pytest.param(_flip_payload_byte(_signed()), "does not verify", id="flipped payload byte"),
    pytest.param({**_signed(), "kid": "uk-2026-01"}, "does not verify", id="another pinned kid"),
    pytest.param({**_signed(), "kid": "ca-2099-01"}, "unknown kid", id="unknown kid"),
    pytest.param(_signed(STRANGER, origin="xx"), "unknown kid", id="unpinned node"),
    pytest.param(_signed(UK), "payload's origin is 'ca'", id="uk signs as ca"),
    pytest.param({**_signed(), "alg": "EdDSA"}, "alg", id="wrong alg"),
    pytest.param(
        {**_signed(), "sig": _signed()["sig"] + "A"}, "malformed signature", id="sig long"
    ),
    pytest.param(
        _sign_text(json.dumps(_document())), "not RFC 8785 canonical", id="non-canonical payload"
    ),
    pytest.param(
        _sign_text('{"id":"a","id":"b","origin":"ca"}'), "duplicate key", id="duplicate keys"
    ),
    pytest.param(_sign_text("[1,2]"), "JSON object", id="payload not an object"),
    pytest.param(_sign_text('{"origin":NaN}'), "strict JSON", id="NaN in the payload"),
]


@pytest.mark.parametrize(("raw", "reason"), UNVERIFIABLE)
def test_records_that_do_not_verify_are_refused_with_the_reason(raw: Any, reason: str) -> None:
    batch = _review([raw, GOOD])

    assert [r.document["id"] for r in batch.accepted] == ["good"]
    (rejection,) = batch.rejected
    assert reason in rejection.reason
    assert rejection.record == raw


def test_an_unverified_rejection_still_names_what_it_claims_to_be() -> None:
    # For the operator reading the quarantine; nothing in it is trusted.
    batch = _review([_flip_payload_byte(_signed(revision=4))])

    (rejection,) = batch.rejected
    assert (rejection.origin, rejection.advisory_id, rejection.revision) == ("ca", ADVISORY, 4)


REFUSED_BY_RULE: list[Any] = [
    pytest.param(_signed(status="draft"), "ca", "uk", "status", id="draft"),
    pytest.param(_signed(tlp="amber+strict"), "ca", "uk", "TLP", id="amber+strict"),
    pytest.param(_signed(tlp="red"), "ca", "uk", "TLP", id="red"),
    pytest.param(_signed(UK, origin="uk"), "ca", "uk", "origin is the receiver", id="own record"),
    pytest.param(_signed(scope=["nordic"]), "ca", "uk", "no group the receiver", id="not in scope"),
    pytest.param(_signed(scope=[]), "ca", "uk", "no group the receiver", id="local only"),
    pytest.param(_signed(SE, origin="se"), "ca", "uk", "may not relay", id="relay outside scope"),
    pytest.param(_signed(scope="five-eyes"), "ca", "uk", "scope must be a list", id="bad scope"),
    pytest.param(_signed(id=7), "ca", "uk", "string id", id="numeric id"),
    pytest.param(_signed(id=""), "ca", "uk", "string id", id="empty id"),
    pytest.param(_signed(revision=0), "ca", "uk", "positive integer", id="revision 0"),
    pytest.param(_signed(revision="2"), "ca", "uk", "positive integer", id="revision string"),
    pytest.param(_signed(revision=True), "ca", "uk", "positive integer", id="revision true"),
    pytest.param(_signed(revision=1.5), "ca", "uk", "positive integer", id="revision 1.5"),
]


@pytest.mark.parametrize(("raw", "sender", "receiver", "reason"), REFUSED_BY_RULE)
def test_well_signed_records_the_rule_forbids_are_refused(
    raw: Any, sender: str, receiver: str, reason: str
) -> None:
    batch = _review([raw, GOOD], sender=sender, receiver=receiver)

    assert [r.document["id"] for r in batch.accepted] == ["good"]
    (rejection,) = batch.rejected
    assert reason in rejection.reason
    assert not rejection.equivocation


def test_a_refused_record_does_not_shadow_a_later_valid_revision() -> None:
    # A refused revision 5 must not count as held: revision 2 after it is still new.
    batch = _review([_signed(revision=5, tlp="red"), _signed(revision=2)])

    assert [r.document["revision"] for r in batch.accepted] == [2]
    assert len(batch.rejected) == 1
