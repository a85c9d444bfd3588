"""RFC 8785 (JSON Canonicalization Scheme): the one byte form of a JSON value.

Signatures cover these bytes, and nodes store revisions in this form, so two nodes that hold the
same revision hold the same text.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

__all__ = ["CanonicalJSONError", "canonical_bytes", "canonical_text", "parse_strict"]


class CanonicalJSONError(ValueError):
    """A value that has no canonical form, or text that is not strict JSON."""


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 serialisation of ``value`` as UTF-8 bytes."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError) as exc:
        raise CanonicalJSONError(str(exc)) from exc


def canonical_text(value: Any) -> str:
    """The RFC 8785 serialisation of ``value`` as text."""
    return canonical_bytes(value).decode("utf-8")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in pairs:
        if key in result:
            raise CanonicalJSONError(f"duplicate key {key!r}")
        result[key] = item
    return result


def _refuse_constant(name: str) -> Any:
    raise CanonicalJSONError(f"{name} is not JSON")


def parse_strict(text: str | bytes) -> Any:
    """Parse JSON, refusing duplicate object keys and the non-standard NaN/Infinity."""
    try:
        # Decoded strictly here: json.loads would let bytes of an encoded surrogate through.
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(
            text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CanonicalJSONError(str(exc)) from exc
