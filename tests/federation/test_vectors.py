"""The trex-federation/1 conformance vectors (SPEC section 7), copied from the shared data.

An implementation must accept the valid record and refuse every invalid one; these tests hold
ours to the vectors, so that another implementation that passes them interoperates with ours.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature

from federation.canonical import canonical_text
from federation.keys import NodeKey, PinnedKeys, b64url_decode, b64url_encode, fingerprint
from federation.signing import SignedRecord, VerificationError, sign_document, verify

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "federation-vectors.json").read_text(encoding="utf-8")
)
KEY = NodeKey.from_seed(
    "ca", VECTORS["key"]["kid"], bytes.fromhex(VECTORS["key"]["private_seed_hex"])
)
PINNED = PinnedKeys([KEY.public])

# What our verifier must say for each invalid vector, by the vector's own "why".
REASONS = {
    "payload byte changed after signing": r"^signature does not verify with key 'ca-2026-01'$",
    "signature by another key under this kid": r"^signature does not verify with key 'ca-2026-01'$",
    "unknown kid": r"^unknown kid 'ca-1999-01'$",
    "payload is not RFC 8785 canonical (signature itself is valid)": (
        r"^payload is not RFC 8785 canonical JSON$"
    ),
    "payload has a duplicate key (signature itself is valid)": (
        r"^payload is not strict JSON: duplicate key '[a-z_]+'$"
    ),
    "alg is not Ed25519": r"^alg must be Ed25519, not 'HS256'$",
}
INVALID = {vector["why"]: vector["signed"] for vector in VECTORS["invalid"]}


def test_the_key_encodings_match_the_vector() -> None:
    assert KEY.kid == "ca-2026-01"
    assert b64url_encode(KEY.public.public_key) == VECTORS["key"]["public_key"]
    assert KEY.public.fingerprint == VECTORS["key"]["fingerprint"]
    # The fingerprint is of the raw 32 bytes the base64url text decodes to.
    raw = b64url_decode(VECTORS["key"]["public_key"], length=32)
    assert fingerprint(raw) == VECTORS["key"]["fingerprint"]
    assert re.fullmatch(r"SHA256:[0-9a-f]{64}", VECTORS["key"]["fingerprint"])


def test_the_record_canonicalises_to_the_vector_payload() -> None:
    assert canonical_text(VECTORS["record"]) == VECTORS["canonical_payload"]
    assert VECTORS["valid"]["payload"] == VECTORS["canonical_payload"]


def test_the_valid_record_verifies_with_the_vector_key() -> None:
    verified = verify(SignedRecord.from_json(VECTORS["valid"]), PINNED)
    assert verified.document == VECTORS["record"]
    assert verified.signer == "ca"
    assert verified.record.payload == VECTORS["canonical_payload"]


def test_our_signature_of_the_record_is_the_vectors_signature() -> None:
    # Ed25519 is deterministic: the same key and bytes give the same 64 bytes.
    ours = sign_document(VECTORS["record"], KEY)
    assert ours.to_json() == VECTORS["valid"]


def test_every_invalid_vector_has_an_expected_reason() -> None:
    # A vector added to the shared file must be looked at, not silently skipped.
    assert set(INVALID) == set(REASONS)


@pytest.mark.parametrize("why", sorted(REASONS))
def test_an_invalid_vector_is_refused_for_its_reason(why: str) -> None:
    with pytest.raises(VerificationError) as refused:
        verify(SignedRecord.from_json(INVALID[why]), PINNED)
    assert re.search(REASONS[why], refused.value.reason), refused.value.reason


@pytest.mark.parametrize(
    "why", [why for why in sorted(REASONS) if "signature itself is valid" in why]
)
def test_the_form_vectors_carry_good_signatures(why: str) -> None:
    """These are refused for their form alone: their bytes do carry the key's signature."""
    signed = INVALID[why]
    KEY.public.verifier.verify(b64url_decode(signed["sig"], length=64), signed["payload"].encode())


def test_the_tampered_vector_does_not_carry_a_good_signature() -> None:
    signed = INVALID["payload byte changed after signing"]
    assert signed["sig"] == VECTORS["valid"]["sig"]
    with pytest.raises(InvalidSignature):
        KEY.public.verifier.verify(
            b64url_decode(signed["sig"], length=64), signed["payload"].encode()
        )
