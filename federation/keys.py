"""Ed25519 node keys: encodings, fingerprints, the node's own key ring, and pinned peer keys.

A node's private keys live in one file in its data directory (mode 0600), written atomically.
Nothing here ever puts private key material into a ``repr``, a log line or an exception.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "ALG",
    "KeyError_",
    "KeyLookup",
    "KeyRing",
    "NodeKey",
    "PinnedKeys",
    "PublicNodeKey",
    "b64url_decode",
    "b64url_encode",
    "fingerprint",
    "format_time",
    "parse_time",
]

ALG = "Ed25519"
"""The only signature algorithm of trex-federation/1."""
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


class KeyError_(ValueError):
    """A key that cannot be decoded, or a key ring file that is unusable."""


def b64url_encode(raw: bytes) -> str:
    """Base64url without padding (SPEC section 7, encodings)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, length: int | None = None) -> bytes:
    """Decode base64url without padding; refuse padding, other alphabets and wrong lengths."""
    if not isinstance(text, str) or "=" in text or not text.isascii():
        raise KeyError_("not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise KeyError_("not unpadded base64url") from exc
    # Reject non-canonical encodings (trailing bits set): one value, one text.
    if b64url_encode(raw) != text:
        raise KeyError_("not canonical base64url")
    if length is not None and len(raw) != length:
        raise KeyError_(f"expected {length} bytes, got {len(raw)}")
    return raw


def fingerprint(public_key: bytes) -> str:
    """``SHA256:`` and the lowercase hex SHA-256 of the raw 32-byte public key."""
    return "SHA256:" + hashlib.sha256(public_key).hexdigest()


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with a ``Z``, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset) as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError) as exc:
        raise KeyError_(f"not an RFC 3339 timestamp: {text!r}") from exc
    if moment.tzinfo is None:
        raise KeyError_(f"timestamp without a time zone: {text!r}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class PublicNodeKey:
    """A node's public key as a descriptor lists it (and as a peer pins it)."""

    node_id: str
    kid: str
    public_key: bytes
    not_before: datetime | None = None
    not_after: datetime | None = None
    _verifier: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.public_key) != PUBLIC_KEY_BYTES:
            raise KeyError_("an Ed25519 public key is 32 bytes")
        object.__setattr__(self, "_verifier", Ed25519PublicKey.from_public_bytes(self.public_key))

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    @property
    def verifier(self) -> Ed25519PublicKey:
        """The key as a ``cryptography`` object, built once."""
        return self._verifier

    def valid_at(self, moment: datetime) -> bool:
        """Whether the key may sign at ``moment`` (requests; records are checked by kid only)."""
        if self.not_before is not None and moment < self.not_before:
            return False
        return self.not_after is None or moment < self.not_after

    def to_descriptor(self) -> dict[str, Any]:
        """The key's entry in a node descriptor (SPEC section 7)."""
        return {
            "kid": self.kid,
            "alg": ALG,
            "public_key": b64url_encode(self.public_key),
            "not_before": format_time(self.not_before) if self.not_before else None,
            "not_after": format_time(self.not_after) if self.not_after else None,
        }

    @classmethod
    def from_descriptor(cls, node_id: str, entry: Mapping[str, Any]) -> PublicNodeKey:
        """A descriptor's key entry; ``KeyError_`` when it is malformed."""
        if not isinstance(entry, Mapping) or entry.get("alg") != ALG:
            raise KeyError_("a key entry must be an object with alg Ed25519")
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            raise KeyError_("a key entry needs a kid")
        not_before = entry.get("not_before")
        not_after = entry.get("not_after")
        return cls(
            node_id=node_id,
            kid=kid,
            public_key=b64url_decode(str(entry.get("public_key", "")), length=PUBLIC_KEY_BYTES),
            not_before=parse_time(not_before) if not_before else None,
            not_after=parse_time(not_after) if not_after else None,
        )


class KeyLookup(Protocol):
    """Where verifiers find public keys: by ``kid``, across every node this node knows."""

    def public_key(self, kid: str) -> PublicNodeKey | None: ...


class PinnedKeys:
    """An in-memory ``KeyLookup`` over a set of keys (kids are unique across nodes)."""

    def __init__(self, keys: Iterable[PublicNodeKey] = ()) -> None:
        self._by_kid: dict[str, PublicNodeKey] = {}
        for key in keys:
            self.add(key)

    def add(self, key: PublicNodeKey) -> None:
        known = self._by_kid.get(key.kid)
        if known is not None and (known.node_id, known.public_key) != (
            key.node_id,
            key.public_key,
        ):
            raise KeyError_(f"kid {key.kid!r} is already pinned to another key")
        self._by_kid[key.kid] = key

    def public_key(self, kid: str) -> PublicNodeKey | None:
        return self._by_kid.get(kid)

    def of_node(self, node_id: str) -> list[PublicNodeKey]:
        return [key for key in self._by_kid.values() if key.node_id == node_id]

    def __iter__(self) -> Any:
        return iter(list(self._by_kid.values()))


@dataclass(frozen=True)
class NodeKey:
    """One of this node's own keys, private half included (never shown by ``repr``)."""

    public: PublicNodeKey
    _private: Ed25519PrivateKey = field(repr=False, compare=False)

    @property
    def kid(self) -> str:
        return self.public.kid

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return self._private

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    @classmethod
    def generate(cls, node_id: str, kid: str, *, not_before: datetime) -> NodeKey:
        return cls.from_seed(node_id, kid, secrets.token_bytes(32), not_before=not_before)

    @classmethod
    def from_seed(
        cls, node_id: str, kid: str, seed: bytes, *, not_before: datetime | None = None
    ) -> NodeKey:
        """A key from its 32-byte private seed (test vectors use a published one)."""
        private = Ed25519PrivateKey.from_private_bytes(seed)
        raw_public = private.public_key().public_bytes_raw()
        return cls(PublicNodeKey(node_id, kid, raw_public, not_before=not_before), private)


KEY_RING_FILE = "node-keys.json"
"""The node's private keys, in its data directory (mode 0600)."""


class KeyRing:
    """This node's keys: the current signing key and the retired ones, with rotation statements.

    Retired keys stay: peers still verify what they signed. ``statements`` are the signed
    rotation statements (``federation.rotation``) this node has issued, oldest first.
    """

    def __init__(self, node_id: str, keys: list[NodeKey], statements: list[dict[str, str]]) -> None:
        if not keys:
            raise KeyError_("a key ring holds at least one key")
        self.node_id = node_id
        self.keys = keys
        self.statements = statements

    def __repr__(self) -> str:
        return f"KeyRing(node_id={self.node_id!r}, kids={[k.kid for k in self.keys]!r})"

    @property
    def current(self) -> NodeKey:
        """The newest key: the one this node signs with."""
        return self.keys[-1]

    def public_keys(self) -> list[PublicNodeKey]:
        return [key.public for key in self.keys]

    @staticmethod
    def path(data_dir: Path) -> Path:
        return data_dir / KEY_RING_FILE

    @classmethod
    def load(cls, data_dir: Path) -> KeyRing:
        """Read the key ring; refuse a file that others can read."""
        path = cls.path(data_dir)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise KeyError_(f"no node key in {data_dir}: run 'trex-node init'") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyError_(f"{path} is readable by others: make it private (chmod 600 {path})")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            node_id = data["node_id"]
            if not all(isinstance(e.get("kid"), str) and e["kid"] for e in data["keys"]):
                raise ValueError("a key needs a kid")
            keys = [
                NodeKey.from_seed(
                    node_id,
                    entry["kid"],
                    b64url_decode(entry["private_seed"], length=32),
                    not_before=parse_time(entry["not_before"]) if entry["not_before"] else None,
                )
                for entry in data["keys"]
            ]
            keys = [
                replace(key, public=replace(key.public, not_after=parse_time(entry["not_after"])))
                if entry.get("not_after")
                else key
                for key, entry in zip(keys, data["keys"], strict=True)
            ]
            return cls(node_id, keys, list(data.get("statements", [])))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # The message never quotes the file: it holds private keys.
            raise KeyError_(f"{path} is not a valid key ring ({type(exc).__name__})") from None

    def save(self, data_dir: Path, *, path: Path | None = None) -> None:
        """Write the key ring atomically, readable by the owner only."""
        data = {
            "node_id": self.node_id,
            "keys": [
                {
                    "kid": key.kid,
                    "private_seed": b64url_encode(key.private_key.private_bytes_raw()),
                    "not_before": format_time(key.public.not_before)
                    if key.public.not_before
                    else None,
                    "not_after": format_time(key.public.not_after)
                    if key.public.not_after
                    else None,
                }
                for key in self.keys
            ],
            "statements": self.statements,
        }
        path = path or self.path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()

    @classmethod
    def load_or_create(cls, data_dir: Path, node_id: str, *, now: datetime) -> KeyRing:
        """The node's key ring, generated on first use.

        Several workers may start at once: the first one to link its file into place wins and
        every worker then reads that one, so they all sign with the same key.
        """
        path = cls.path(data_dir)
        if not path.exists():
            fresh = cls.create(node_id, now=now)
            staging = data_dir / f".{KEY_RING_FILE}.{secrets.token_hex(8)}"
            fresh.save(data_dir, path=staging)
            try:
                with contextlib.suppress(FileExistsError):
                    os.link(staging, path)
            finally:
                staging.unlink(missing_ok=True)
        ring = cls.load(data_dir)
        if ring.node_id != node_id:
            raise KeyError_(f"the key ring in {data_dir} belongs to node {ring.node_id!r}")
        return ring

    @classmethod
    def create(cls, node_id: str, *, now: datetime) -> KeyRing:
        return cls(
            node_id, [NodeKey.generate(node_id, next_kid(node_id, [], now), not_before=now)], []
        )


def next_kid(node_id: str, existing: Iterable[str], now: datetime) -> str:
    """``<node>-<year>-<nn>``: the first number not yet used this year."""
    taken = set(existing)
    number = 1
    while f"{node_id}-{now.year}-{number:02d}" in taken:
        number += 1
    return f"{node_id}-{now.year}-{number:02d}"
