"""``/v1/admin/peers`` and ``/v1/admin/groups``: what ``trex-node peers|groups`` do, over HTTP.

For operators only. The use cases (who may, the change, its audit entry) are
``service.peering.admin``'s; a route holds the transaction and turns the result into its read
model. A peer's key is the one the operator was given out of band: with a URL the peer's
descriptor is read only to find that very key (and the keys it replaced), exactly as
``trex-node peers add`` does.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from service.api.deps import NowDep, PrincipalDep, SessionFactoryDep, SettingsDep
from service.api.problems import PROBLEM_CONTENT
from service.db import read_only, transaction
from service.peering import admin, service
from service.peering.admin import PinnedPeer
from service.peering.schemas import GroupCreate, GroupRead, PeerCreate, PeerKeyRead, PeerRead

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in, or bad credentials", **PROBLEM_CONTENT},
    400: {"description": "Malformed body: not JSON, or not decodable", **PROBLEM_CONTENT},
    403: {"description": "Not an operator, or a read-only token", **PROBLEM_CONTENT},
    404: {"description": "No such peer", **PROBLEM_CONTENT},
    409: {"description": "A key id already pinned to another key", **PROBLEM_CONTENT},
    422: {"description": "Invalid input; the problem names each field", **PROBLEM_CONTENT},
}

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=_ERRORS)


def _peer(pinned: PinnedPeer) -> PeerRead:
    peer = pinned.peer
    return PeerRead(
        node_id=peer.id,
        url=peer.url,
        status=peer.status,
        keys=[
            PeerKeyRead(
                kid=key.kid,
                fingerprint=service.key_fingerprint(key.public_key),
                source=key.source,
            )
            for key in sorted(pinned.keys, key=lambda k: k.kid)
        ],
        last_success_at=peer.last_success_at,
        accepted=peer.accepted_count,
        rejected=peer.rejected_count,
        last_error=peer.last_error,
    )


@router.get("/peers")
def list_peers(principal: PrincipalDep, factory: SessionFactoryDep) -> list[PeerRead]:
    """Active peers with their URL, pinned keys (with fingerprints) and sync counts."""
    with read_only(factory) as session:
        return [_peer(pinned) for pinned in admin.list_peers(session, principal=principal)]


@router.post("/peers", status_code=201)
def add_peer(
    peer_in: PeerCreate,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    now: NowDep,
) -> PeerRead:
    """Pin a peer's key; with ``url``, also pull its feed.

    With a URL the key's id comes from the peer's descriptor, which must list this very key;
    keys it replaced are pinned too when rotation statements signed by it prove them, unless
    ``only_this_key``. Without a URL, ``kid`` is required.
    """
    # Before the transaction: a slow peer must not hold the database's write lock.
    keys = admin.keys_to_pin(principal=principal, peer_in=peer_in)
    with transaction(factory) as session:
        pinned = admin.add_peer(
            session,
            principal=principal,
            peer_in=peer_in,
            keys=keys,
            self_id=settings.node_id,
            now=now,
        )
        return _peer(pinned)


@router.delete("/peers/{node_id}", status_code=204)
def remove_peer(
    node_id: str, principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> Response:
    """Stop federating with a peer and forget its keys (what it sent stays)."""
    with transaction(factory) as session:
        admin.remove_peer(session, principal=principal, node_id=node_id, now=now)
    return Response(status_code=204)


@router.get("/groups")
def list_groups(principal: PrincipalDep, factory: SessionFactoryDep) -> list[GroupRead]:
    """Sharing groups and their members, by name."""
    with read_only(factory) as session:
        groups = admin.list_groups(session, principal=principal)
    return [GroupRead(name=name, members=members) for name, members in groups.items()]


@router.post("/groups", status_code=201)
def add_group(
    group_in: GroupCreate, principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> GroupRead:
    """Create a sharing group, or add members to it (include this node's own id)."""
    with transaction(factory) as session:
        members = admin.add_group(session, principal=principal, group_in=group_in, now=now)
    return GroupRead(name=group_in.name, members=members)
