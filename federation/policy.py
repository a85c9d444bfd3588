"""What may travel between nodes (SPEC sections 5 and 7), the same rule for sending and accepting.

A revision may go from ``sender`` to ``receiver`` when it is published or withdrawn, its TLP is
clear, green or amber, its origin is not the receiver, and its scope names a sharing group that
holds the sender, the receiver and the origin. The origin's membership is what keeps a relay
honest: a node may forward another node's record only into a group that origin belongs to.
Each node applies the rule with its own view of the groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SHAREABLE_STATUSES",
    "SHAREABLE_TLP",
    "Groups",
    "RecordFacts",
    "TravelRefused",
    "check_may_travel",
    "may_travel",
]

SHAREABLE_STATUSES = frozenset({"published", "withdrawn"})
SHAREABLE_TLP = frozenset({"clear", "green", "amber"})


class TravelRefused(Exception):
    """A record that may not go (or may not have come) from one node to another."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Groups:
    """Sharing groups as one node sees them: group name to member node ids."""

    members: Mapping[str, frozenset[str]]

    @classmethod
    def of(cls, groups: Mapping[str, Iterable[str]]) -> Groups:
        return cls({name: frozenset(ids) for name, ids in groups.items()})

    def holding(self, *node_ids: str) -> frozenset[str]:
        """Names of the groups that hold every one of ``node_ids``."""
        wanted = set(node_ids)
        return frozenset(name for name, ids in self.members.items() if wanted <= ids)

    def peers_of(self, node_id: str) -> frozenset[str]:
        """Every node sharing at least one group with ``node_id`` (itself excluded)."""
        return frozenset(
            other for ids in self.members.values() if node_id in ids for other in ids
        ) - {node_id}


@dataclass(frozen=True)
class RecordFacts:
    """The fields of a revision the travel rule reads."""

    origin: str
    status: str
    tlp: str
    scope: frozenset[str]

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> RecordFacts:
        """The facts of a revision document; ``TravelRefused`` when a field is malformed."""
        origin = document.get("origin")
        status = document.get("status")
        tlp = document.get("tlp")
        scope = document.get("scope")
        if not isinstance(origin, str) or not isinstance(status, str) or not isinstance(tlp, str):
            raise TravelRefused("origin, status and tlp must be strings")
        if not isinstance(scope, list) or not all(isinstance(g, str) for g in scope):
            raise TravelRefused("scope must be a list of group names")
        return cls(origin, status, tlp, frozenset(scope))


def check_may_travel(facts: RecordFacts, *, sender: str, receiver: str, groups: Groups) -> None:
    """Raise ``TravelRefused`` with the reason unless the record may go from sender to receiver."""
    if facts.status not in SHAREABLE_STATUSES:
        raise TravelRefused(f"status {facts.status!r} never leaves its node")
    if facts.tlp not in SHAREABLE_TLP:
        raise TravelRefused(f"TLP {facts.tlp!r} never leaves its node")
    if facts.origin == receiver:
        raise TravelRefused("the record's origin is the receiver itself")
    in_scope = facts.scope & groups.holding(receiver)
    if not in_scope:
        raise TravelRefused("the record's scope names no group the receiver is in")
    if sender != facts.origin and not in_scope & groups.holding(sender, facts.origin):
        raise TravelRefused(
            f"{sender!r} may not relay {facts.origin!r}'s record: no group in its scope holds "
            "the sender, the receiver and the origin"
        )
    if not in_scope & groups.holding(sender, receiver, facts.origin):
        raise TravelRefused("no group in the record's scope holds the sender, receiver and origin")


def may_travel(facts: RecordFacts, *, sender: str, receiver: str, groups: Groups) -> bool:
    """Whether the record may go from ``sender`` to ``receiver`` (``check_may_travel``)."""
    try:
        check_may_travel(facts, sender=sender, receiver=receiver, groups=groups)
    except TravelRefused:
        return False
    return True
