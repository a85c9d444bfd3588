"""Signed records: the origin's Ed25519 signature over the canonical payload's bytes.

``verify`` checks in the order SPEC section 7 fixes (the bytes, then strict parsing, then the
canonical form, then that the signer is who the payload says) and returns the record only once
every check has passed; otherwise it raises ``VerificationError`` with the reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature

from federation.canonical import CanonicalJSONError, canonical_text, parse_strict
from federation.keys import (
    ALG,
    SIGNATURE_BYTES,
    KeyError_,
    KeyLookup,
    NodeKey,
    b64url_decode,
    b64url_encode,
)

__all__ = [
    "SignedRecord",
    "VerificationError",
    "VerifiedRecord",
    "payload_digest",
    "sign_document",
    "sign_payload",
    "verify",
]

_FIELDS = ("payload", "kid", "alg", "sig")


class VerificationError(Exception):
    """A signed record that must not be trusted; ``reason`` says why, in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SignedRecord:
    """``{"payload", "kid", "alg", "sig"}`` exactly as it travels (SPEC section 7)."""

    payload: str
    kid: str
    alg: str
    sig: str

    def to_json(self) -> dict[str, str]:
        return {"payload": self.payload, "kid": self.kid, "alg": self.alg, "sig": self.sig}

    @classmethod
    def from_json(cls, value: Any) -> SignedRecord:
        """The record's envelope; ``VerificationError`` when its shape is wrong."""
        if not isinstance(value, Mapping):
            raise VerificationError("a signed record must be a JSON object")
        extra = sorted(set(value) - set(_FIELDS))
        if extra:
            raise VerificationError(f"unexpected field(s) in signed record: {', '.join(extra)}")
        for name in _FIELDS:
            if not isinstance(value.get(name), str):
                raise VerificationError(f"signed record field {name!r} must be a string")
        return cls(value["payload"], value["kid"], value["alg"], value["sig"])


def payload_digest(payload: str) -> str:
    """SHA-256 of a payload's bytes, hex: how equivocation (same revision, other bytes) shows."""
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def sign_payload(payload: str, key: NodeKey) -> SignedRecord:
    """Sign canonical text as it is; callers that hold a document use ``sign_document``."""
    return SignedRecord(payload, key.kid, ALG, b64url_encode(key.sign(payload.encode("utf-8"))))


def sign_document(document: Mapping[str, Any], key: NodeKey) -> SignedRecord:
    """Canonicalise (RFC 8785) and sign."""
    return sign_payload(canonical_text(document), key)


@dataclass(frozen=True)
class VerifiedRecord:
    """A record whose signature, form and signer all checked out."""

    record: SignedRecord
    document: dict[str, Any]
    signer: str
    """The node whose key made the signature (equal to the payload's signer field)."""

    @property
    def digest(self) -> str:
        return payload_digest(self.record.payload)


def verify(
    signed: SignedRecord, keys: KeyLookup, *, signer_field: str = "origin"
) -> VerifiedRecord:
    """Check ``signed`` and return it with its parsed payload, or raise ``VerificationError``.

    ``signer_field`` names the payload field that must equal the node owning the key: a record
    signed by any node other than its origin is refused, whatever the key.
    """
    if signed.alg != ALG:
        raise VerificationError(f"alg must be {ALG}, not {signed.alg!r}")
    key = keys.public_key(signed.kid)
    if key is None:
        raise VerificationError(f"unknown kid {signed.kid!r}")
    try:
        signature = b64url_decode(signed.sig, length=SIGNATURE_BYTES)
    except KeyError_ as exc:
        raise VerificationError(f"malformed signature: {exc}") from None
    try:
        payload_bytes = signed.payload.encode("utf-8", errors="strict")
    except UnicodeEncodeError:
        raise VerificationError("payload is not valid Unicode text") from None
    try:
        key.verifier.verify(signature, payload_bytes)
    except InvalidSignature:
        raise VerificationError(f"signature does not verify with key {signed.kid!r}") from None
    try:
        document = parse_strict(signed.payload)
    except CanonicalJSONError as exc:
        raise VerificationError(f"payload is not strict JSON: {exc}") from None
    if not isinstance(document, dict):
        raise VerificationError("payload must be a JSON object")
    try:
        canonical = canonical_text(document)
    except CanonicalJSONError as exc:
        raise VerificationError(f"payload has no canonical form: {exc}") from None
    if canonical != signed.payload:
        raise VerificationError("payload is not RFC 8785 canonical JSON")
    claimed = document.get(signer_field)
    if claimed != key.node_id:
        raise VerificationError(
            f"signed by node {key.node_id!r} with {signed.kid!r}, but the payload's "
            f"{signer_field} is {claimed!r}"
        )
    return VerifiedRecord(signed, document, key.node_id)
