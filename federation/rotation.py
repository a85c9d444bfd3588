"""Key rotation: a new node key, announced by a statement the previous key signs.

A peer that has pinned the previous key accepts the new one from the statement alone, without
re-pinning out of band. The previous key stays in the ring and in the descriptor: records it
signed still verify. From the statement's ``issued_at`` on it no longer signs requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from federation.keys import (
    KeyError_,
    KeyRing,
    NodeKey,
    PinnedKeys,
    PublicNodeKey,
    format_time,
    next_kid,
    parse_time,
)
from federation.signing import SignedRecord, VerificationError, sign_document, verify

__all__ = ["ROTATION_TYPE", "AcceptedRotation", "accept_rotations", "rotate"]

ROTATION_TYPE = "trex-key-rotation"


def rotate(ring: KeyRing, *, now: datetime) -> KeyRing:
    """A ring whose current key is new, with the rotation statement signed by both keys.

    The previous key's signature lets peers that pinned it accept the new key; the new key's
    signature lets a peer that pins only the new key accept the previous one, and so verify
    the records it signed.
    """
    previous = ring.current
    new = NodeKey.generate(
        ring.node_id, next_kid(ring.node_id, (k.kid for k in ring.keys), now), not_before=now
    )
    retired = replace(previous, public=replace(previous.public, not_after=now))
    statement = {
        "type": ROTATION_TYPE,
        "node_id": ring.node_id,
        "previous_kid": previous.kid,
        "previous_key": retired.public.to_descriptor(),
        "key": new.public.to_descriptor(),
        "issued_at": format_time(now),
    }
    signed = [sign_document(statement, previous).to_json(), sign_document(statement, new).to_json()]
    keys = [*ring.keys[:-1], retired, new]
    return KeyRing(ring.node_id, keys, [*ring.statements, *signed])


@dataclass(frozen=True)
class AcceptedRotation:
    """A key learned from a verified rotation statement, and the key it retires."""

    key: PublicNodeKey
    previous_kid: str | None
    """The key the new one replaces (None when ``key`` is itself the retired one)."""
    retired_at: datetime
    statement: SignedRecord


def accept_rotations(
    statements: Iterable[SignedRecord], keys: PinnedKeys, *, earlier: bool = False
) -> list[AcceptedRotation]:
    """The new keys that ``statements`` prove, each signed by a key already known.

    Statements may come in any order and chain (a key learned from one signs the next); those
    that do not verify are ignored: a new key is only ever taken from the previous key's word.
    With ``earlier``, a known key's word also brings in the key it replaced: only when an
    operator pins a node, never from what arrives later (a peer that re-pinned after a
    compromise must not get the stolen key back from the feed). ``keys`` is extended with
    every accepted key.
    """
    pending: list[SignedRecord] = list(statements)
    accepted: list[AcceptedRotation] = []
    progress = True
    while pending and progress:
        progress = False
        still: list[SignedRecord] = []
        for signed in pending:
            try:
                rotation = _check_statement(signed, keys, earlier=earlier)
            except (VerificationError, KeyError_):
                still.append(signed)
                continue
            if rotation is None:
                continue  # already known
            keys.add(rotation.key)
            accepted.append(rotation)
            progress = True
        pending = still
    return accepted


def _check_statement(
    signed: SignedRecord, keys: PinnedKeys, *, earlier: bool
) -> AcceptedRotation | None:
    verified = verify(signed, keys, signer_field="node_id")
    document = verified.document
    if document.get("type") != ROTATION_TYPE:
        raise VerificationError("not a key rotation statement")
    new_entry = document.get("key")
    previous_entry = document.get("previous_key")
    if not isinstance(new_entry, dict):
        raise VerificationError("a rotation statement names its new key")
    if document.get("previous_kid") == signed.kid:
        # Signed by the previous key: it vouches for the new one.
        key = PublicNodeKey.from_descriptor(verified.signer, new_entry)
        previous_kid: str | None = signed.kid
    elif earlier and new_entry.get("kid") == signed.kid and isinstance(previous_entry, dict):
        # Signed by the new key: the node names the key it used before (retired from then on).
        key = PublicNodeKey.from_descriptor(verified.signer, previous_entry)
        if key.kid != document.get("previous_kid"):
            raise VerificationError("previous_key and previous_kid disagree")
        previous_kid = None
    else:
        raise VerificationError("a rotation statement is signed by the previous or the new key")
    known = keys.public_key(key.kid)
    if known is not None:
        if known.public_key != key.public_key or known.node_id != key.node_id:
            raise VerificationError(f"kid {key.kid!r} is already pinned to another key")
        return None
    issued_at = document.get("issued_at")
    if not isinstance(issued_at, str):
        raise VerificationError("a rotation statement has an issued_at time")
    return AcceptedRotation(key, previous_kid, parse_time(issued_at), signed)


def statements_of(values: Sequence[object]) -> list[SignedRecord]:
    """Signed statements from JSON values, skipping malformed ones."""
    result = []
    for value in values:
        try:
            result.append(SignedRecord.from_json(value))
        except VerificationError:
            continue
    return result
