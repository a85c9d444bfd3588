"""Federation use cases: peers and their pinned keys, sharing groups, the feed, status.

Like every domain module these take the session as a keyword and only flush; the caller owns
the transaction. What may go to a peer is ``federation.policy``; ``feed_clause`` is the same
rule as SQL, and a test shows the two agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from federation.descriptor import NodeDescriptor
from federation.keys import (
    KeyRing,
    PinnedKeys,
    PublicNodeKey,
    b64url_decode,
    b64url_encode,
    fingerprint,
)
from federation.policy import SHAREABLE_STATUSES, SHAREABLE_TLP, Groups
from federation.rotation import accept_rotations
from federation.signing import SignedRecord, sign_payload
from federation.sync import PeerError, fetch_descriptor
from service.advisories.models import AdvisoryRevision
from service.errors import Conflict, InvalidInput, NotFound
from service.peering.models import (
    GroupMember,
    Peer,
    PeerKey,
    QuarantinedRecord,
    RevisionScope,
    SeenNonce,
    SharingGroup,
)

NODE_ID_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
FEED_CURSOR_PREFIX = "f1."


class NodeKeys:
    """This node's key ring, re-read when ``trex-node keys rotate`` has replaced the file."""

    def __init__(self, data_dir: Path, node_id: str, *, now: datetime) -> None:
        self._data_dir = data_dir
        self._ring = KeyRing.load_or_create(data_dir, node_id, now=now)
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int]:
        stat = KeyRing.path(self._data_dir).stat()
        return stat.st_mtime_ns, stat.st_ino

    def ring(self) -> KeyRing:
        stamp = self._file_stamp()
        if stamp != self._stamp:
            self._ring = KeyRing.load(self._data_dir)
            self._stamp = stamp
        return self._ring


# --- peers and keys -------------------------------------------------------------------------


def _check_node_id(node_id: str) -> None:
    if not re.fullmatch(NODE_ID_PATTERN, node_id):
        raise InvalidInput.for_field("node_id", "a short lowercase id such as ca or uk")


def parse_public_key(text: str) -> bytes:
    """A public key as an operator gives it: raw 32 bytes, base64url without padding."""
    try:
        return b64url_decode(text.strip(), length=32)
    except ValueError as exc:
        raise InvalidInput.for_field("public_key", f"not an Ed25519 public key ({exc})") from None


def add_peer(
    session: Session,
    *,
    node_id: str,
    url: str | None,
    keys: Sequence[PublicNodeKey],
    self_id: str,
    now: datetime,
) -> Peer:
    """Pin ``keys`` for ``node_id``; with ``url`` the node is also pulled from."""
    _check_node_id(node_id)
    if node_id == self_id:
        raise InvalidInput.for_field("node_id", "a node does not peer with itself")
    if not keys:
        raise InvalidInput.for_field("public_key", "at least one pinned key is needed")
    if url is not None and not url.startswith(("http://", "https://")):
        raise InvalidInput.for_field("url", "must be an http(s) URL")
    peer = session.get(Peer, node_id)
    if peer is None:
        peer = Peer(id=node_id, url=url, status="active", added_at=now, failures=0)
        peer.accepted_count = peer.rejected_count = peer.announced_seq = 0
        session.add(peer)
    else:
        peer.status = "active"
        peer.url = url or peer.url
    session.flush()
    for key in keys:
        known = session.get(PeerKey, key.kid)
        if known is not None:
            if known.node_id != node_id or known.public_key != b64url_encode(key.public_key):
                raise Conflict(f"kid {key.kid!r} is already pinned to another key")
            continue
        session.add(
            PeerKey(
                kid=key.kid,
                node_id=node_id,
                public_key=b64url_encode(key.public_key),
                not_before=key.not_before,
                not_after=key.not_after,
                source="pinned",
                added_at=now,
            )
        )
    session.flush()
    return peer


def remove_peer(session: Session, *, node_id: str) -> Peer:
    """Stop trusting a peer: its keys go (nothing it signs verifies), its records stay."""
    peer = session.get(Peer, node_id)
    if peer is None or peer.status == "removed":
        raise NotFound(f"No peer {node_id}.")
    peer.status = "removed"
    session.execute(delete(PeerKey).where(PeerKey.node_id == node_id))
    session.flush()
    return peer


def list_peers(session: Session) -> list[Peer]:
    return list(session.scalars(select(Peer).where(Peer.status == "active").order_by(Peer.id)))


def peer_keys(session: Session, node_id: str) -> list[PeerKey]:
    return list(session.scalars(select(PeerKey).where(PeerKey.node_id == node_id)))


def keys_by_peer(session: Session) -> dict[str, list[PeerKey]]:
    """Every pinned key, by node id, in one query (for listings of all peers)."""
    keys: dict[str, list[PeerKey]] = {}
    for key in session.scalars(select(PeerKey).order_by(PeerKey.kid)):
        keys.setdefault(key.node_id, []).append(key)
    return keys


def load_pinned_keys(session: Session) -> PinnedKeys:
    """Every key trusted for verification: pinned, or learned through a rotation statement."""
    return PinnedKeys(
        PublicNodeKey(
            row.node_id,
            row.kid,
            b64url_decode(row.public_key, length=32),
            not_before=row.not_before,
            not_after=row.not_after,
        )
        for row in session.scalars(select(PeerKey))
    )


def fetch_peer_descriptor(url: str) -> NodeDescriptor:
    """The descriptor of the node at ``url``; a node that gives none is a bad ``url``."""
    try:
        return fetch_descriptor(url)
    except PeerError as error:
        raise InvalidInput.for_field("url", str(error)) from None
    except (httpx.InvalidURL, UnicodeError) as error:
        # fetch_descriptor lets these through: a malformed address (``http://[::1``), a host
        # name label over 63 characters. They are the operator's typing, not a server fault.
        raise InvalidInput.for_field("url", f"{url}: not a usable URL: {error}") from None


def keys_from_descriptor(
    descriptor: NodeDescriptor,
    *,
    node_id: str,
    public_key: bytes,
    kid: str | None,
    earlier: bool = True,
) -> list[PublicNodeKey]:
    """The descriptor's key that the operator pinned (by its public key), checked, and with
    ``earlier`` the keys it replaced, as its rotation statements prove."""
    if descriptor.node_id != node_id:
        raise InvalidInput.for_field(
            "node_id", f"the node at that URL says it is {descriptor.node_id!r}"
        )
    matching = [
        k for k in descriptor.keys if k.public_key == public_key and (kid is None or k.kid == kid)
    ]
    if not matching:
        raise InvalidInput.for_field(
            "public_key", "the node's descriptor lists no such key: check the fingerprint"
        )
    # Keys it had before, proven by rotation statements the pinned key signed: records made
    # with them still verify. Nothing the descriptor says without such a signature is taken.
    if not earlier:
        return matching
    known = PinnedKeys(matching)
    proven = [r.key for r in accept_rotations(descriptor.rotations, known, earlier=True)]
    return [*matching, *proven]


# --- sharing groups -------------------------------------------------------------------------


def add_group(session: Session, *, name: str, members: Sequence[str], now: datetime) -> None:
    """Create a sharing group, or add members to an existing one."""
    _check_node_id(name)
    if not members:
        raise InvalidInput.for_field("member", "a group has at least one member")
    for member in members:
        _check_node_id(member)
    if session.get(SharingGroup, name) is None:
        session.add(SharingGroup(name=name, created_at=now))
        session.flush()
    known = set(session.scalars(select(GroupMember.node_id).where(GroupMember.group_name == name)))
    for member in sorted(set(members) - known):
        session.add(GroupMember(group_name=name, node_id=member))
    session.flush()


def load_groups(session: Session) -> Groups:
    members: dict[str, set[str]] = {
        name: set() for name in session.scalars(select(SharingGroup.name))
    }
    for group_name, node_id in session.execute(select(GroupMember.group_name, GroupMember.node_id)):
        members[group_name].add(node_id)
    return Groups.of(members)


def group_members(session: Session) -> dict[str, list[str]]:
    """Every sharing group by name, in name order, with its members' node ids sorted."""
    return {name: sorted(members) for name, members in sorted(load_groups(session).members.items())}


# --- the feed -------------------------------------------------------------------------------


def encode_feed_cursor(seq: int) -> str:
    return f"{FEED_CURSOR_PREFIX}{seq}"


def decode_feed_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.startswith(FEED_CURSOR_PREFIX) or not cursor[3:].isdigit():
        raise InvalidInput.for_field("after", "not a cursor this node issued")
    return int(cursor[3:])


def feed_clause(*, self_id: str, peer_id: str, groups: Groups) -> ColumnElement[bool] | None:
    """``federation.policy.may_travel`` from this node to ``peer_id``, as SQL (None: nothing)."""
    shared = groups.holding(self_id, peer_id)
    if not shared:
        return None
    in_group = [
        and_(
            RevisionScope.group_name == name,
            AdvisoryRevision.origin.in_(sorted(groups.members[name] - {peer_id})),
        )
        for name in sorted(shared)
    ]
    return and_(
        AdvisoryRevision.status.in_(sorted(SHAREABLE_STATUSES)),
        AdvisoryRevision.tlp.in_(sorted(SHAREABLE_TLP)),
        AdvisoryRevision.origin != peer_id,
        # Received revisions always carry their origin's signature; own ones may be signed late.
        or_(AdvisoryRevision.sig.is_not(None), AdvisoryRevision.origin == self_id),
        exists().where(RevisionScope.seq == AdvisoryRevision.seq, or_(*in_group)),
    )


@dataclass(frozen=True)
class FeedPage:
    records: list[dict[str, str]]
    next: str | None
    more: bool
    key_statements: list[dict[str, str]]


def feed_page(
    session: Session,
    *,
    ring: KeyRing,
    peer_id: str,
    after: str | None,
    limit: int,
) -> FeedPage:
    """The revisions ``peer_id`` may receive after the cursor, in this node's change order."""
    start = decode_feed_cursor(after)
    groups = load_groups(session)
    clause = feed_clause(self_id=ring.node_id, peer_id=peer_id, groups=groups)
    if clause is None:
        return FeedPage([], after, False, [])
    rows = session.execute(
        select(
            AdvisoryRevision.seq,
            AdvisoryRevision.document,
            AdvisoryRevision.kid,
            AdvisoryRevision.sig,
        )
        .where(AdvisoryRevision.seq > start, clause)
        .order_by(AdvisoryRevision.seq)
        .limit(limit + 1)
    ).all()
    page = rows[:limit]
    records = []
    for row in page:
        if row.sig is None:
            # Written before this node had a key: sign now with the current one.
            records.append(sign_payload(row.document, ring.current).to_json())
        else:
            records.append(SignedRecord(row.document, row.kid, "Ed25519", row.sig).to_json())
    next_cursor = encode_feed_cursor(page[-1].seq) if page else after
    return FeedPage(records, next_cursor, len(rows) > limit, key_statements(session, ring))


def key_statements(session: Session, ring: KeyRing) -> list[dict[str, str]]:
    """Rotation statements a peer may need: this node's, and those it accepted from others."""
    relayed = [
        json.loads(text)
        for text in session.scalars(
            select(PeerKey.statement).where(PeerKey.statement.is_not(None)).order_by(PeerKey.kid)
        )
        if text is not None
    ]
    return [*ring.statements, *relayed]


# --- request nonces -------------------------------------------------------------------------


def remember_nonce(
    session: Session, *, kid: str, nonce: str, expires: datetime, now: datetime
) -> bool:
    """Record a request nonce; False when it was seen before (a replay).

    The insert either adds the row or does nothing, atomically, so two workers handed the same
    request cannot both accept it. Expired nonces are dropped: their signatures are refused
    on their time alone.
    """
    session.execute(delete(SeenNonce).where(SeenNonce.expires_at < now - timedelta(minutes=5)))
    values = {"kid": kid, "nonce": nonce, "expires_at": expires}
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # A returned row, not the row count: drivers report -1 for some inserts.
    statement = insert(SeenNonce).values(values).on_conflict_do_nothing().returning(SeenNonce.nonce)
    return session.execute(statement).first() is not None


# --- status ---------------------------------------------------------------------------------


def status(session: Session, *, now: datetime) -> dict[str, Any]:
    """Per peer: last pull, cursor, lag, counts; and the quarantine (SPEC section 6)."""
    peers = []
    keys = keys_by_peer(session)
    for peer in list_peers(session):
        lag = (now - peer.caught_up_at).total_seconds() if peer.caught_up_at else None
        peers.append(
            {
                "node_id": peer.id,
                "url": peer.url,
                "last_pull_at": _stamp(peer.last_pull_at),
                "last_success_at": _stamp(peer.last_success_at),
                "caught_up_at": _stamp(peer.caught_up_at),
                "lag_seconds": None if lag is None else round(lag, 1),
                "cursor": peer.cursor,
                "accepted": peer.accepted_count,
                "rejected": peer.rejected_count,
                "consecutive_failures": peer.failures,
                "last_error": peer.last_error,
                "keys": [
                    {"kid": k.kid, "source": k.source, "fingerprint": key_fingerprint(k.public_key)}
                    for k in keys.get(peer.id, [])
                ],
            }
        )
    quarantined = session.scalar(select(func.count()).select_from(QuarantinedRecord)) or 0
    alerts = [
        _quarantined(row)
        for row in session.scalars(
            select(QuarantinedRecord)
            .where(QuarantinedRecord.equivocation.is_(True))
            .order_by(QuarantinedRecord.pk.desc())
            .limit(100)
        )
    ]
    recent = [_quarantined(row) for row in list_quarantine(session, limit=20)]
    return {
        "peers": peers,
        "groups": group_members(session),
        "quarantine": {"count": quarantined, "recent": recent, "equivocations": alerts},
    }


def list_quarantine(session: Session, *, limit: int = 100) -> list[QuarantinedRecord]:
    return list(
        session.scalars(
            select(QuarantinedRecord).order_by(QuarantinedRecord.pk.desc()).limit(limit)
        )
    )


def _quarantined(row: QuarantinedRecord) -> dict[str, Any]:
    """A quarantined record as status shows it: where it came from and why (not its content)."""
    return {
        "received_at": _stamp(row.received_at),
        "sender": row.sender,
        "origin": row.origin,
        "advisory_id": row.advisory_id,
        "revision": row.revision,
        "reason": row.reason,
        "equivocation": row.equivocation,
    }


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def key_fingerprint(public_key: str) -> str:
    """The fingerprint of a stored (base64url) public key."""
    return fingerprint(b64url_decode(public_key, length=32))
