"""The node's ``federation.sync.Store``: what the pull loop reads and the one commit per batch."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from federation.keys import PinnedKeys, b64url_encode
from federation.policy import Groups
from federation.signing import payload_digest
from federation.sync import Batch, Held, Rejection, review_records
from service.advisories.models import Advisory, AdvisoryRevision
from service.advisories.schemas import ReceivedRevision
from service.advisories.service import NewRevision, allocate_sequence, store_revisions
from service.audit.service import record
from service.db import read_only, transaction, utcnow
from service.peering.models import Peer, PeerKey, QuarantinedRecord
from service.peering.service import load_groups, load_pinned_keys

FEDERATION_ACTOR = "federation"
"""Who the audit log names for what arrived from peers."""


class DatabaseStore:
    """Applies batches to the node's database; ``sender`` is the peer (or bundle) they came from."""

    def __init__(self, factory: sessionmaker[Session], *, node_id: str) -> None:
        self._factory = factory
        self._node_id = node_id

    @property
    def node_id(self) -> str:
        return self._node_id

    def pinned_keys(self) -> PinnedKeys:
        with read_only(self._factory) as session:
            return load_pinned_keys(session)

    def groups(self) -> Groups:
        with read_only(self._factory) as session:
            return load_groups(session)

    def cursor(self, peer_id: str) -> str | None:
        with read_only(self._factory) as session:
            return session.scalar(select(Peer.cursor).where(Peer.id == peer_id))

    def held(self, advisory_ids: Collection[str]) -> Mapping[str, Held]:
        if not advisory_ids:
            return {}
        with read_only(self._factory) as session:
            rows = session.execute(
                select(Advisory.id, Advisory.origin, Advisory.revision, AdvisoryRevision.document)
                .join(AdvisoryRevision, AdvisoryRevision.seq == Advisory.current_seq)
                .where(Advisory.id.in_(sorted(advisory_ids)))
            )
            return {
                row.id: Held(row.origin, row.revision, payload_digest(row.document)) for row in rows
            }

    def check_document(self, document: Mapping[str, Any]) -> str | None:
        return received_revision_problem(document)

    def review(
        self, raw_records: list[Any], *, sender: str, keys: PinnedKeys, groups: Groups
    ) -> Batch:
        """Judge records from ``sender`` against what this node holds, as the pull loop does
        (for records that did not come through it: bundles, quarantine retries)."""
        return review_records(
            raw_records,
            sender=sender,
            receiver=self._node_id,
            keys=keys,
            groups=groups,
            lookup=self.held,
            check_document=self.check_document,
            earlier_digests=self.earlier_digests,
        )

    def earlier_digests(
        self, revisions: Collection[tuple[str, int]]
    ) -> Mapping[tuple[str, int], str]:
        if not revisions:
            return {}
        ids = sorted({advisory_id for advisory_id, _ in revisions})
        with read_only(self._factory) as session:
            rows = session.execute(
                select(Advisory.id, AdvisoryRevision.revision, AdvisoryRevision.document)
                .join(AdvisoryRevision, AdvisoryRevision.advisory_pk == Advisory.pk)
                .where(Advisory.id.in_(ids))
            )
            return {
                (row.id, row.revision): payload_digest(row.document)
                for row in rows
                if (row.id, row.revision) in revisions
            }

    def commit(self, peer_id: str, batch: Batch, *, cursor: str | None, caught_up: bool) -> None:
        now = utcnow()
        with transaction(self._factory) as session:
            apply_batch(session, batch, sender=peer_id, now=now)
            values: dict[str, object] = {
                "cursor": cursor,
                "last_pull_at": now,
                "last_success_at": now,
                "last_error": None,
                "failures": 0,
                "accepted_count": Peer.accepted_count + len(batch.accepted),
                "rejected_count": Peer.rejected_count + len(batch.rejected),
            }
            if caught_up:
                values["caught_up_at"] = now
            session.execute(update(Peer).where(Peer.id == peer_id).values(**values))

    def record_failure(self, peer_id: str, error: str) -> None:
        with transaction(self._factory) as session:
            session.execute(
                update(Peer)
                .where(Peer.id == peer_id)
                .values(last_pull_at=utcnow(), last_error=error[:500], failures=Peer.failures + 1)
            )


def received_revision_problem(document: Mapping[str, Any]) -> str | None:
    """Why a received revision cannot be stored (the first schema error), or None."""
    try:
        ReceivedRevision.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}"[:300]
    return None


def apply_batch(session: Session, batch: Batch, *, sender: str, now: datetime) -> None:
    """Store accepted records, learned keys and rejections (the caller's one transaction)."""
    for rotation in batch.rotations:
        if session.get(PeerKey, rotation.key.kid) is not None:
            continue
        if session.get(Peer, rotation.key.node_id) is None:
            continue  # a key only ever extends a node already trusted
        if rotation.previous_kid is not None:
            session.execute(
                update(PeerKey)
                .where(PeerKey.kid == rotation.previous_kid, PeerKey.not_after.is_(None))
                .values(not_after=rotation.retired_at)
            )
        session.add(
            PeerKey(
                kid=rotation.key.kid,
                node_id=rotation.key.node_id,
                public_key=b64url_encode(rotation.key.public_key),
                not_before=rotation.key.not_before,
                not_after=rotation.key.not_after,
                source="rotation",
                statement=json.dumps(rotation.statement.to_json()),
                added_at=now,
            )
        )
        record(
            session,
            actor=FEDERATION_ACTOR,
            actor_org_id=None,
            action="federation.key.rotated",
            target=rotation.key.node_id,
            detail={"kid": rotation.key.kid, "previous_kid": rotation.previous_kid},
            now=now,
        )
    if batch.accepted:
        highest = allocate_sequence(session, len(batch.accepted))
        store_revisions(
            session,
            [NewRevision(r.document, None, None, r.record) for r in batch.accepted],
            first_seq=highest - len(batch.accepted) + 1,
            now=now,
        )
    for rejection in batch.rejected:
        _quarantine(session, rejection, sender=sender, now=now)


def _quarantine(session: Session, rejection: Rejection, *, sender: str, now: datetime) -> None:
    session.add(
        QuarantinedRecord(
            received_at=now,
            sender=sender,
            origin=(rejection.origin or "")[:100] or None,
            advisory_id=(rejection.advisory_id or "")[:100] or None,
            revision=rejection.revision,
            reason=rejection.reason[:500],
            equivocation=rejection.equivocation,
            record=json.dumps(rejection.record),
        )
    )
    if rejection.equivocation:
        # An origin that signed two different texts as one revision: the operator must know.
        record(
            session,
            actor=FEDERATION_ACTOR,
            actor_org_id=None,
            action="federation.equivocation",
            target=rejection.advisory_id,
            detail={"origin": rejection.origin, "revision": rejection.revision, "sender": sender},
            now=now,
        )


def retry_quarantine(factory: sessionmaker[Session], *, node_id: str) -> tuple[int, int]:
    """Review refused records again (not equivocations), as from their original sender.

    For records refused because of this node's own set-up at the time (a key not yet pinned,
    a group not yet configured): those that now pass are stored, the others stay quarantined
    with today's reason. One transaction. Returns (accepted, still quarantined).
    """
    store = DatabaseStore(factory, node_id=node_id)
    keys = store.pinned_keys()
    groups = store.groups()
    accepted = still = 0
    with transaction(factory) as session:
        rows = list(
            session.scalars(
                select(QuarantinedRecord)
                .where(QuarantinedRecord.equivocation.is_(False))
                .order_by(QuarantinedRecord.pk)
            )
        )
        by_sender: dict[str, list[QuarantinedRecord]] = {}
        for row in rows:
            by_sender.setdefault(row.sender, []).append(row)
        now = utcnow()
        for sender, sent in by_sender.items():
            batch = store.review(
                [json.loads(row.record) for row in sent], sender=sender, keys=keys, groups=groups
            )
            for row in sent:
                session.delete(row)
            session.flush()
            apply_batch(session, batch, sender=sender, now=now)
            accepted += len(batch.accepted)
            still += len(batch.rejected)
        if rows:
            record(
                session,
                actor=FEDERATION_ACTOR,
                actor_org_id=None,
                action="federation.quarantine.retry",
                target=None,
                detail={"reviewed": len(rows), "accepted": accepted, "quarantined": still},
                now=now,
            )
    return accepted, still
