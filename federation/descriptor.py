"""The node descriptor served at ``/.well-known/trex-node`` (SPEC section 7).

Peers read it to learn a node's keys when they first pin them (after checking the fingerprint
out of band) and, later, to pick up rotation statements; a descriptor never replaces a pinned
key by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from federation.keys import KeyError_, KeyRing, PublicNodeKey
from federation.signing import SignedRecord, VerificationError

__all__ = ["PROTOCOL", "DescriptorError", "NodeDescriptor", "describe"]

PROTOCOL = "trex-federation/1"


class DescriptorError(ValueError):
    """A descriptor that does not follow trex-federation/1."""


@dataclass(frozen=True)
class NodeDescriptor:
    node_id: str
    name: str
    country: str
    public_url: str
    keys: tuple[PublicNodeKey, ...]
    rotations: tuple[SignedRecord, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "name": self.name,
            "country": self.country,
            "public_url": self.public_url,
            "protocol": PROTOCOL,
            "keys": [key.to_descriptor() for key in self.keys],
            "rotations": [statement.to_json() for statement in self.rotations],
        }

    @classmethod
    def from_json(cls, value: Any) -> NodeDescriptor:
        """Parse a descriptor; ``DescriptorError`` names what is wrong."""
        if not isinstance(value, Mapping):
            raise DescriptorError("a descriptor is a JSON object")
        if value.get("protocol") != PROTOCOL:
            raise DescriptorError(f"protocol must be {PROTOCOL!r}")
        fields = {}
        for name in ("node_id", "name", "country", "public_url"):
            field = value.get(name)
            if not isinstance(field, str) or not field:
                raise DescriptorError(f"{name} must be a non-empty string")
            fields[name] = field
        raw_keys = value.get("keys")
        if not isinstance(raw_keys, list) or not raw_keys:
            raise DescriptorError("keys must be a non-empty list")
        try:
            keys = tuple(PublicNodeKey.from_descriptor(fields["node_id"], k) for k in raw_keys)
            rotations = tuple(SignedRecord.from_json(s) for s in value.get("rotations") or [])
        except (KeyError_, VerificationError) as exc:
            raise DescriptorError(str(exc)) from None
        return cls(
            fields["node_id"],
            fields["name"],
            fields["country"],
            fields["public_url"],
            keys,
            rotations,
        )


def describe(ring: KeyRing, *, name: str, country: str, public_url: str) -> NodeDescriptor:
    """This node's descriptor: every key it has had (retired ones verify old records)."""
    return NodeDescriptor(
        ring.node_id,
        name,
        country,
        public_url,
        tuple(ring.public_keys()),
        tuple(SignedRecord.from_json(s) for s in ring.statements),
    )
