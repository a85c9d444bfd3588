"""Wire models for the operator's administration of peers and sharing groups."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.advisories.schemas import Printable
from service.peering.service import NODE_ID_PATTERN

NodeId = Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)]
# The key as ``trex-node keys show`` prints it; ``parse_public_key`` checks it is 32 bytes.
PublicKeyText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Printable
]
# Lengths of the columns they are stored in; Printable: PostgreSQL cannot store NUL at all.
Kid = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Printable
]
PeerUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Printable
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PeerCreate(_Strict):
    """Pin a peer's key (given out of band); with ``url`` the peer is also pulled from."""

    node_id: NodeId
    url: PeerUrl | None = None
    public_key: PublicKeyText
    kid: Kid | None = None
    only_this_key: bool = False


class PeerKeyRead(_Strict):
    kid: str
    fingerprint: str
    source: str


class PeerRead(_Strict):
    node_id: str
    url: str | None
    status: str
    keys: list[PeerKeyRead]
    last_success_at: datetime | None
    accepted: int
    rejected: int
    last_error: str | None


class GroupCreate(_Strict):
    """Create a sharing group, or add members to an existing one."""

    name: NodeId
    members: list[NodeId] = Field(min_length=1, max_length=100)


class GroupRead(_Strict):
    name: str
    members: list[str]
