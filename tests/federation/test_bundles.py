"""Bundles between two real nodes: `trex-node bundle export` on one, `bundle import` on the other.

The receiving node only pins the exporter's key (no URL: the air-gapped case). Every record
is judged as if it had come over the network, and a bundle's header decides whether it is
looked at at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from federation.keys import PinnedKeys, PublicNodeKey, b64url_decode
from federation.signing import SignedRecord, verify
from tests.factories import advisory_payload
from tests.federation.cluster import Cluster, Node


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _tamper_payload(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The record with its payload changed but still canonical (so only the signature fails)."""
    document = json.loads(record["payload"])
    document.update(changes)
    payload = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {**record, "payload": payload}


def _import(node: Node, path: Path) -> Any:
    return node.run("bundle", "import", str(path), check=False)


def _held(node: Node) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in node.advisories()}


def test_bundles_carry_verified_records_and_refuse_what_is_not_for_the_node(
    nodes: Cluster, tmp_path: Path
) -> None:
    ca = nodes.add("ca")
    uk = nodes.add("uk")
    nodes.group("five-eyes", ["ca", "uk", "au"], on=["ca"])
    nodes.group("five-eyes", ["ca", "uk"], on=["uk"])
    subject = advisory_payload()["subject"]
    published = [ca.publish(subject={**subject, "name": f"Institute {n}"}) for n in range(3)]
    ca.publish(status="draft")
    ca.publish(scope=[])  # this node only

    for_uk = tmp_path / "for-uk.jsonl"
    exported = ca.run("bundle", "export", "--peer", "uk", "--output", str(for_uk))
    assert "Exported 3 records for uk" in exported.stderr
    header, *records = _lines(for_uk)
    ca_key = PinnedKeys([PublicNodeKey("ca", ca.kid, b64url_decode(ca.public_key))])
    assert (
        verify(SignedRecord.from_json(header), ca_key, signer_field="node_id").document["for"]
        == "uk"
    )
    assert [verify(SignedRecord.from_json(r), ca_key).document["id"] for r in records] == [
        p["id"] for p in published
    ]

    # Until uk pins ca's key, nothing from ca is even looked at.
    refused = _import(uk, for_uk)
    assert refused.returncode != 0
    assert "unknown kid" in refused.stderr
    nodes.trust("uk", "ca")

    # A bundle made for another node is refused, as it is and with its header re-addressed.
    for_au = tmp_path / "for-au.jsonl"
    ca.run("bundle", "export", "--peer", "au", "--output", str(for_au))
    au_header, *au_records = _lines(for_au)
    assert len(au_records) == 3
    refused = _import(uk, for_au)
    assert refused.returncode != 0
    assert "the bundle is for 'au', not 'uk'" in refused.stderr
    readdressed = _tamper_payload(au_header, **{"for": "uk"})
    refused = _import(uk, _write(tmp_path / "readdressed.jsonl", [readdressed, *au_records]))
    assert refused.returncode != 0
    assert "header does not verify" in refused.stderr
    # A bundle whose first line is a record, not a header, is refused too.
    refused = _import(uk, _write(tmp_path / "headless.jsonl", records))
    assert refused.returncode != 0
    assert _held(uk) == {}

    # One tampered record is quarantined; the others in the same bundle are accepted.
    tampered = _tamper_payload(records[1], summary="Rewritten on the way.")
    partly = _import(
        uk, _write(tmp_path / "tampered.jsonl", [header, records[0], tampered, records[2]])
    )
    assert partly.returncode == 0, partly.stderr
    assert "From ca: 2 accepted, 1 rejected, 0 unchanged" in partly.stdout
    held = _held(uk)
    assert set(held) == {published[0]["id"], published[2]["id"]}
    assert held[published[0]["id"]] == published[0]
    quarantine = uk.status()["quarantine"]
    assert quarantine["count"] == 1
    assert quarantine["equivocations"] == []

    # The genuine bundle brings the missing record; importing it again changes nothing.
    first = _import(uk, for_uk)
    assert "From ca: 1 accepted, 0 rejected, 2 unchanged" in first.stdout
    again = _import(uk, for_uk)
    assert "From ca: 0 accepted, 0 rejected, 3 unchanged" in again.stdout
    assert _held(uk) == {p["id"]: p for p in published}
    assert uk.status()["quarantine"]["count"] == 1


def test_a_bundle_signed_after_a_key_rotation_imports_with_only_the_old_key_pinned(
    nodes: Cluster, tmp_path: Path
) -> None:
    ca = nodes.add("ca")
    uk = nodes.add("uk")
    nodes.group("five-eyes", ["ca", "uk"])
    nodes.trust("uk", "ca")  # the old key, pinned out of band; uk never reaches ca
    before = ca.publish()
    ca.run("keys", "rotate")
    after = ca.publish()

    bundle = tmp_path / "for-uk.jsonl"
    ca.run("bundle", "export", "--peer", "uk", "--output", str(bundle))
    imported = uk.run("bundle", "import", str(bundle))

    assert "2 accepted, 0 rejected" in imported.stdout
    assert set(_held(uk)) == {before["id"], after["id"]}
    # The new key came from the statement the pinned one signed, and stays for next time.
    quarantine = uk.run("peers", "quarantine").stdout
    assert quarantine.strip() == ""
    assert "ca-2026-02" in uk.run("peers", "list").stdout
