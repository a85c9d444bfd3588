"""``/v1/admin/peers`` and ``/v1/admin/groups``: what ``trex-node peers|groups`` do, over HTTP.

For operators only. A peer's key is the one the operator was given out of band: with a URL
the peer's descriptor is read only to find that very key (and the keys it replaced), exactly
as ``trex-node peers add`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Response

from federation.keys import PublicNodeKey
from service.access.policy import require_operator
from service.api.admin import record_admin_change
from service.api.deps import NowDep, PrincipalDep, SessionFactoryDep, SettingsDep
from service.api.problems import PROBLEM_CONTENT
from service.db import read_only, transaction
from service.errors import InvalidInput
from service.peering import service
from service.peering.models import Peer, PeerKey
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


def _peer(peer: Peer, keys: list[PeerKey]) -> PeerRead:
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
            for key in sorted(keys, key=lambda k: k.kid)
        ],
        last_success_at=peer.last_success_at,
        accepted=peer.accepted_count,
        rejected=peer.rejected_count,
        last_error=peer.last_error,
    )


def _group(name: str, members: Iterable[str]) -> GroupRead:
    return GroupRead(name=name, members=sorted(members))


@router.get("/peers")
def list_peers(principal: PrincipalDep, factory: SessionFactoryDep) -> list[PeerRead]:
    """Active peers with their URL, pinned keys (with fingerprints) and sync counts."""
    require_operator(principal, changes=False)
    with read_only(factory) as session:
        keys = service.keys_by_peer(session)
        return [_peer(peer, keys.get(peer.id, [])) for peer in service.list_peers(session)]


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
    require_operator(principal, changes=True)
    raw = service.parse_public_key(peer_in.public_key)
    if peer_in.url is not None:
        # Fetched before the transaction: a slow peer must not hold the database's write lock.
        descriptor = service.fetch_peer_descriptor(peer_in.url)
        pinned = service.keys_from_descriptor(
            descriptor,
            node_id=peer_in.node_id,
            public_key=raw,
            kid=peer_in.kid,
            earlier=not peer_in.only_this_key,
        )
    elif peer_in.kid is None:
        raise InvalidInput.for_field("kid", "without a url, give the key's id")
    else:
        pinned = [PublicNodeKey(peer_in.node_id, peer_in.kid, raw)]
    with transaction(factory) as session:
        peer = service.add_peer(
            session,
            node_id=peer_in.node_id,
            url=peer_in.url,
            keys=pinned,
            self_id=settings.node_id,
            now=now,
        )
        detail = {
            "url": peer_in.url,
            "keys": [{"kid": k.kid, "fingerprint": k.fingerprint} for k in pinned],
        }
        record_admin_change(session, principal, "federation.peer.add", peer.id, detail, now)
        return _peer(peer, service.peer_keys(session, peer.id))


@router.delete("/peers/{node_id}", status_code=204)
def remove_peer(
    node_id: str, principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> Response:
    """Stop federating with a peer and forget its keys (what it sent stays)."""
    require_operator(principal, changes=True)
    with transaction(factory) as session:
        peer = service.remove_peer(session, node_id=node_id)
        record_admin_change(session, principal, "federation.peer.remove", peer.id, {}, now)
    return Response(status_code=204)


@router.get("/groups")
def list_groups(principal: PrincipalDep, factory: SessionFactoryDep) -> list[GroupRead]:
    """Sharing groups and their members, by name."""
    require_operator(principal, changes=False)
    with read_only(factory) as session:
        groups = service.load_groups(session)
    return [_group(name, members) for name, members in sorted(groups.members.items())]


@router.post("/groups", status_code=201)
def add_group(
    group_in: GroupCreate, principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> GroupRead:
    """Create a sharing group, or add members to it (include this node's own id)."""
    require_operator(principal, changes=True)
    with transaction(factory) as session:
        service.add_group(session, name=group_in.name, members=group_in.members, now=now)
        detail = {"members": sorted(set(group_in.members))}
        record_admin_change(session, principal, "federation.group.add", group_in.name, detail, now)
        return _group(group_in.name, service.load_groups(session).members[group_in.name])
