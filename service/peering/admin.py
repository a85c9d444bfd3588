"""The operator's use cases for federation: peers, sharing groups and the federation status.

Each one checks ``require_operator`` first. A change is made through ``service.peering.service``
and recorded in the audit log (``record_by``) in the same transaction. They only flush: the
caller owns the transaction. The JSON API (``/v1/admin/peers``, ``/v1/admin/groups``,
``/v1/federation/status``) and the operator's pages both call these.

A peer's key is the one the operator was given out of band: with a URL the peer's descriptor is
read only to find that very key (and the keys it replaced), exactly as ``trex-node peers add``
does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from federation.keys import PublicNodeKey
from service.access.policy import require_operator
from service.access.principal import Principal
from service.audit.service import record_by
from service.errors import InvalidInput
from service.peering import service
from service.peering.models import Peer, PeerKey
from service.peering.schemas import GroupCreate, PeerCreate


@dataclass(frozen=True)
class PinnedPeer:
    """An active peer and the keys pinned for it."""

    peer: Peer
    keys: list[PeerKey]


def list_peers(session: Session, *, principal: Principal) -> list[PinnedPeer]:
    """Active peers, by node id, each with its pinned keys."""
    require_operator(principal, changes=False)
    keys = service.keys_by_peer(session)
    return [PinnedPeer(peer, keys.get(peer.id, [])) for peer in service.list_peers(session)]


def keys_to_pin(*, principal: Principal, peer_in: PeerCreate) -> list[PublicNodeKey]:
    """The keys ``add_peer`` will pin for ``peer_in``; call it before the transaction.

    With a URL the key's id comes from the peer's descriptor, which must list this very key;
    keys it replaced are added when rotation statements signed by it prove them, unless
    ``only_this_key``. Without a URL, ``kid`` is required. The descriptor is fetched over the
    network, which is why this takes no session: a slow peer must not hold the database's
    write lock. Only an operator who may write gets the node to fetch anything.
    """
    require_operator(principal, changes=True)
    raw = service.parse_public_key(peer_in.public_key)
    if peer_in.url is not None:
        descriptor = service.fetch_peer_descriptor(peer_in.url)
        return service.keys_from_descriptor(
            descriptor,
            node_id=peer_in.node_id,
            public_key=raw,
            kid=peer_in.kid,
            earlier=not peer_in.only_this_key,
        )
    if peer_in.kid is None:
        raise InvalidInput.for_field("kid", "without a url, give the key's id")
    return [PublicNodeKey(peer_in.node_id, peer_in.kid, raw)]


def add_peer(
    session: Session,
    *,
    principal: Principal,
    peer_in: PeerCreate,
    keys: list[PublicNodeKey],
    self_id: str,
    now: datetime,
) -> PinnedPeer:
    """Pin ``keys`` (from ``keys_to_pin``) for the peer; with ``peer_in.url``, also pull it.

    The audit entry holds the URL and each pinned key's id and fingerprint.
    """
    require_operator(principal, changes=True)
    peer = service.add_peer(
        session,
        node_id=peer_in.node_id,
        url=peer_in.url,
        keys=keys,
        self_id=self_id,
        now=now,
    )
    record_by(
        session,
        principal,
        action="federation.peer.add",
        target=peer.id,
        detail={
            "url": peer_in.url,
            "keys": [{"kid": k.kid, "fingerprint": k.fingerprint} for k in keys],
        },
        now=now,
    )
    return PinnedPeer(peer, service.peer_keys(session, peer.id))


def remove_peer(session: Session, *, principal: Principal, node_id: str, now: datetime) -> Peer:
    """Stop federating with a peer and forget its keys (what it sent stays)."""
    require_operator(principal, changes=True)
    peer = service.remove_peer(session, node_id=node_id)
    record_by(
        session,
        principal,
        action="federation.peer.remove",
        target=peer.id,
        detail={},
        now=now,
    )
    return peer


def list_groups(session: Session, *, principal: Principal) -> dict[str, list[str]]:
    """Sharing groups by name (in name order), each with its members' node ids, sorted."""
    require_operator(principal, changes=False)
    return service.group_members(session)


def add_group(
    session: Session, *, principal: Principal, group_in: GroupCreate, now: datetime
) -> list[str]:
    """Create a sharing group, or add members to it; the group's members now, sorted."""
    require_operator(principal, changes=True)
    service.add_group(session, name=group_in.name, members=group_in.members, now=now)
    record_by(
        session,
        principal,
        action="federation.group.add",
        target=group_in.name,
        detail={"members": sorted(set(group_in.members))},
        now=now,
    )
    return sorted(service.load_groups(session).members[group_in.name])


def federation_status(session: Session, *, principal: Principal, now: datetime) -> dict[str, Any]:
    """Per peer: last pull, cursor, lag, accepted and rejected counts, pinned keys; the sharing
    groups; and the quarantine's metadata (never a quarantined record's content)."""
    require_operator(principal, changes=False)
    return service.status(session, now=now)
