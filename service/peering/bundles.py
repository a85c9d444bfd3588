"""Bundles: a peer's feed as JSON Lines, for nodes that cannot reach each other.

The first line is a header the exporting node signs (who made it, for whom, when); every other
line is a signed record exactly as the feed would serve it. Importing checks the header against
the exporter's pinned key, then reviews every record as if it had arrived over the network
(origin signature, travel rule, no rollback, equivocation), one transaction per batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy.orm import Session, sessionmaker

from federation.canonical import CanonicalJSONError, parse_strict
from federation.keys import KeyRing, format_time
from federation.rotation import accept_rotations, statements_of
from federation.signing import SignedRecord, VerificationError, sign_document, verify
from federation.sync import Batch
from service.db import read_only, transaction, utcnow
from service.peering.service import feed_page, key_statements, load_groups, load_pinned_keys
from service.peering.store import DatabaseStore, apply_batch

BUNDLE_TYPE = "trex-bundle"
_BATCH = 500


class BundleError(Exception):
    """A bundle that cannot be imported at all (its header); records are judged one by one."""


def export_bundle(
    session: Session,
    *,
    ring: KeyRing,
    peer_id: str,
    after: str | None,
    sink: IO[str],
    now: datetime,
) -> int:
    """Write what ``peer_id`` may receive after ``after``; returns the number of records."""
    header = sign_document(
        {
            "type": BUNDLE_TYPE,
            "node_id": ring.node_id,
            "for": peer_id,
            "after": after,
            "created_at": format_time(now),
            # Rotation statements, so an importer that pinned an older key learns the one
            # that signed this header (and the records' origins' newer keys).
            "key_statements": key_statements(session, ring),
        },
        ring.current,
    )
    sink.write(json.dumps(header.to_json(), ensure_ascii=False) + "\n")
    count = 0
    cursor = after
    while True:
        page = feed_page(session, ring=ring, peer_id=peer_id, after=cursor, limit=_BATCH)
        for record in page.records:
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += len(page.records)
        cursor = page.next
        if not page.more:
            return count


@dataclass
class ImportResult:
    sender: str
    accepted: int = 0
    rejected: int = 0
    unchanged: int = 0


def _parse_line(line: str) -> Any:
    try:
        return parse_strict(line)
    except CanonicalJSONError as error:
        return {"unparsable": line[:200], "error": str(error)}


def _claimed_statements(envelope: SignedRecord) -> list[Any]:
    """The header's rotation statements, read before the header is verified: each one is only
    taken if a key already pinned signed it."""
    try:
        payload = parse_strict(envelope.payload)
    except CanonicalJSONError:
        return []
    statements = payload.get("key_statements") if isinstance(payload, dict) else None
    return statements if isinstance(statements, list) else []


def import_bundle(
    factory: sessionmaker[Session], *, lines: Iterable[str], node_id: str
) -> ImportResult:
    """Apply a bundle; the header must be signed by a pinned peer and name this node."""
    iterator = iter(lines)
    first = next(iterator, "")
    with read_only(factory) as session:
        keys = load_pinned_keys(session)
        groups = load_groups(session)
    try:
        envelope = SignedRecord.from_json(_parse_line(first))
        rotations = accept_rotations(statements_of(_claimed_statements(envelope)), keys)
        header = verify(envelope, keys, signer_field="node_id")
    except VerificationError as error:
        raise BundleError(f"the bundle's header does not verify: {error.reason}") from None
    if header.document.get("type") != BUNDLE_TYPE:
        raise BundleError("the first line is not a trex bundle header")
    if header.document.get("for") != node_id:
        raise BundleError(f"the bundle is for {header.document.get('for')!r}, not {node_id!r}")
    store = DatabaseStore(factory, node_id=node_id)
    result = ImportResult(header.signer)
    if rotations:
        with transaction(factory) as session:
            apply_batch(session, Batch(rotations=rotations), sender=header.signer, now=utcnow())
    batch: list[Any] = []

    def flush() -> None:
        reviewed = store.review(batch, sender=header.signer, keys=keys, groups=groups)
        with transaction(factory) as session:
            apply_batch(session, reviewed, sender=header.signer, now=utcnow())
        result.accepted += len(reviewed.accepted)
        result.rejected += len(reviewed.rejected)
        result.unchanged += reviewed.unchanged
        batch.clear()

    for line in iterator:
        if line.strip():
            batch.append(_parse_line(line))
        if len(batch) >= _BATCH:
            flush()
    if batch:
        flush()
    return result
