"""Opaque list cursors: the position after which the next page starts."""

from __future__ import annotations

import base64
import binascii

from service.errors import InvalidInput

_PREFIX = "a1:"
# Positions are database integers; a larger number cannot be one and would overflow SQLite.
_MAX_POSITION = 2**63 - 1


def encode_cursor(last_pk: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position inside ``cursor``; ``InvalidInput`` naming ``cursor`` for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (ValueError, binascii.Error, UnicodeError):
        raise InvalidInput.for_field("cursor", "is not a cursor this node issued") from None
    digits = text[len(_PREFIX) :]
    if not text.startswith(_PREFIX) or not digits.isdigit() or int(digits) > _MAX_POSITION:
        raise InvalidInput.for_field("cursor", "is not a cursor this node issued")
    return int(digits)
