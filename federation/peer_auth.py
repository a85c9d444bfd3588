"""Peer authentication: RFC 9421 HTTP Message Signatures between trex nodes (SPEC section 7).

A calling node signs each request with its Ed25519 key (label ``trex``, ``alg="ed25519"``,
``tag="trex-federation-1"``), covering ``@method``, ``@target-uri``, ``@authority`` and, when
there is a body, ``content-digest`` (sha-256). The serving node signs its answer over
``@status`` and ``content-digest`` and echoes the request's ``nonce``, so that a response
cannot be replayed to another request.

The RFC mechanics (signature base, Structured Fields, Content-Digest) come from the maintained
``http_message_signatures`` package; this module adds trex's policy on top: which components
and parameters are required, the clock rules, pinned keys, and replay protection.

Verification raises ``PeerAuthError`` on any failure and returns only once every check passed.
Reasons are one short line and never contain key material.
"""

from __future__ import annotations

import secrets
from collections.abc import (
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from threading import Lock
from typing import Any, Protocol

import httpx
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    VerifyResult,
)
from http_message_signatures.algorithms import ED25519

from federation.keys import KeyLookup, NodeKey, PublicNodeKey, b64url_encode

__all__ = [
    "CLOCK_SKEW",
    "DEFAULT_LIFETIME",
    "LABEL",
    "MAX_LIFETIME",
    "TAG",
    "MemoryNonceStore",
    "NonceStore",
    "PeerAuth",
    "PeerAuthError",
    "VerifiedPeerRequest",
    "sign_request",
    "sign_response",
    "verify_request",
    "verify_response",
]

TAG = "trex-federation-1"
"""The signed application tag: verifiers select trex's signature by it (labels are unsigned)."""
LABEL = "trex"
"""The signature label in ``Signature-Input`` and ``Signature``."""
_ALG = ED25519.algorithm_id
"""``ed25519``: RFC 9421's name for the only algorithm trex accepts."""
MAX_LIFETIME = timedelta(seconds=120)
"""A request signature may be valid for at most this long (``expires - created``)."""
DEFAULT_LIFETIME = timedelta(seconds=60)
CLOCK_SKEW = timedelta(seconds=5)
"""How far apart two nodes' clocks may be."""

REQUEST_COMPONENTS = ("@method", "@target-uri", "@authority")
RESPONSE_COMPONENTS = ("@status", "content-digest")
_DIGEST = "content-digest"
_SIGNATURE_FIELDS = frozenset({"signature", "signature-input"})
_NONCE_BYTES = 16
"""128 random bits per request nonce."""
_MAX_NONCE_CHARS = 128
"""Longer nonces are refused: every accepted one is stored until it expires."""
_MAX_REASON_CHARS = 200


class PeerAuthError(Exception):
    """A peer message that must not be trusted, or one that could not be signed.

    ``reason`` is one short line, safe to log and to return to the peer.
    """

    def __init__(self, reason: str) -> None:
        reason = " ".join(reason.split())[:_MAX_REASON_CHARS] or "invalid signature"
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedPeerRequest:
    """Who signed a request, returned only after every check has passed."""

    node_id: str
    kid: str
    nonce: str
    created: datetime
    expires: datetime


class NonceStore(Protocol):
    """Where a serving node remembers request nonces until their signature expires.

    A node's store must survive restarts and be shared by all its workers (SPEC section 7).
    """

    def remember(self, kid: str, nonce: str, expires: datetime) -> bool:
        """Record ``(kid, nonce)``; ``False`` if it was seen before (a replay)."""
        ...


class MemoryNonceStore:
    """A ``NonceStore`` in one process's memory, for tests and single-process tools.

    Not for a node: it forgets everything on restart and is not shared between workers.
    """

    def __init__(self, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._seen: dict[tuple[str, str], datetime] = {}
        self._lock = Lock()

    def remember(self, kid: str, nonce: str, expires: datetime) -> bool:
        with self._lock:
            # Entries past their expiry (plus skew) can go: their signatures are refused anyway.
            horizon = self._clock() - CLOCK_SKEW
            self._seen = {entry: until for entry, until in self._seen.items() if until >= horizon}
            if (kid, nonce) in self._seen:
                return False
            self._seen[(kid, nonce)] = expires
            return True


# --- The message interface the library reads -------------------------------------------------
#
# The library duck-types messages: ``.method``/``.url``/``.headers`` for requests,
# ``.status_code``/``.headers``/``.request`` for responses, where ``headers.items()`` yields the
# field lines in wire order. These small views give it exactly that, so verification depends on
# plain values the server passes in (never on a web framework's or httpx's internals).


class _FieldLines:
    """Header field lines, matched case-insensitively; writable only when signing."""

    def __init__(
        self,
        lines: Callable[[], Iterable[tuple[str, str]]],
        target: MutableMapping[str, str] | None = None,
    ) -> None:
        self._lines = lines
        self._target = target

    def items(self) -> list[tuple[str, str]]:
        return list(self._lines())

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self.items()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(
            field.lower() == name.lower() for field, _ in self.items()
        )

    def __setitem__(self, name: str, value: str) -> None:
        if self._target is None:
            raise TypeError("these header fields are read-only")
        self._target[name] = value

    def __delitem__(self, name: str) -> None:
        if self._target is None:
            raise TypeError("these header fields are read-only")
        del self._target[name]


@dataclass(frozen=True)
class _RequestView:
    method: str
    url: str
    headers: _FieldLines


@dataclass(frozen=True)
class _ResponseView:
    status_code: int
    headers: _FieldLines
    # Only consulted for ``;req`` components, which trex responses do not cover.
    request: _RequestView | None = None


def _request_view(request: httpx.Request) -> _RequestView:
    """A signing view of an httpx request: header writes go to the request itself."""
    return _RequestView(
        method=request.method,
        url=str(request.url),
        headers=_FieldLines(request.headers.multi_items, target=request.headers),
    )


# --- Keys -------------------------------------------------------------------------------------


class _SigningKey(HTTPSignatureKeyResolver):
    """Hands the library this node's private key, and nothing else."""

    def __init__(self, key: NodeKey) -> None:
        self._key = key

    def resolve_private_key(self, key_id: str) -> Any:
        if key_id != self._key.kid:
            raise PeerAuthError("no private key for this keyid")
        return self._key.private_key

    def resolve_public_key(self, key_id: str) -> Any:
        return None


class _PinnedKey(HTTPSignatureKeyResolver):
    """Resolves a ``keyid`` through the node's pinned keys, optionally only those of one node.

    Refusals are raised as ``InvalidSignature`` with trex's reason: the library passes that
    exception through unchanged, so the reason reaches the caller.
    """

    def __init__(self, keys: KeyLookup, *, node_id: str | None = None) -> None:
        self._keys = keys
        self._node_id = node_id
        self.resolved: PublicNodeKey | None = None

    def resolve_public_key(self, key_id: str) -> Any:
        key = self._keys.public_key(key_id)
        if key is None:
            raise InvalidSignature("unknown keyid")
        if self._node_id is not None and key.node_id != self._node_id:
            raise InvalidSignature("signed by a key of another node")
        self.resolved = key
        return key.verifier

    def resolve_private_key(self, key_id: str) -> Any:
        raise PeerAuthError("a verifier holds no private keys")


def _signer(key: NodeKey) -> HTTPMessageSigner:
    return HTTPMessageSigner(signature_algorithm=ED25519, key_resolver=_SigningKey(key))


# --- Verification policy ----------------------------------------------------------------------

_Params = Mapping[str, object]


class _Verifier(HTTPMessageVerifier):
    """The library's verifier with trex's parameter policy in place of its clock checks.

    The library checks ``created``/``expires`` against the wall clock in
    ``validate_created_and_expires``, before it resolves the key or checks the signature. trex
    replaces that hook: its rules are stricter (``expires``, ``nonce`` and ``alg`` required,
    lifetime capped) and ``now`` must be injectable so that the rules are testable.
    """

    def __init__(
        self, resolver: HTTPSignatureKeyResolver, policy: Callable[[_Params], None]
    ) -> None:
        super().__init__(signature_algorithm=ED25519, key_resolver=resolver)
        self._policy = policy

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        self._policy(dict(sig_input.params))


def _integer(params: _Params, name: str) -> int:
    value = params.get(name)
    # ``bool`` is an ``int`` in Python, but not in Structured Fields.
    if type(value) is not int:
        raise InvalidSignature(f"missing or malformed {name}")
    return value


def _string(params: _Params, name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidSignature(f"missing {name}")
    return value


def _common_params(params: _Params, now: int) -> int:
    """Checks shared by requests and responses; returns ``created``."""
    if _string(params, "alg") != _ALG:
        raise InvalidSignature(f"alg must be {_ALG}")
    _string(params, "keyid")
    nonce = _string(params, "nonce")
    if len(nonce) > _MAX_NONCE_CHARS:
        raise InvalidSignature("nonce too long")
    created = _integer(params, "created")
    if created > now + _seconds(CLOCK_SKEW):
        raise InvalidSignature("signature created in the future")
    return created


def _request_policy(now: int) -> Callable[[_Params], None]:
    def check(params: _Params) -> None:
        created = _common_params(params, now)
        expires = _integer(params, "expires")
        if expires <= created:
            raise InvalidSignature("expires is not after created")
        if expires - created > _seconds(MAX_LIFETIME):
            raise InvalidSignature("signature lifetime over the maximum")
        if expires < now - _seconds(CLOCK_SKEW):
            raise InvalidSignature("signature expired")

    return check


def _response_policy(now: int) -> Callable[[_Params], None]:
    def check(params: _Params) -> None:
        created = _common_params(params, now)
        if created < now - _seconds(MAX_LIFETIME + CLOCK_SKEW):
            raise InvalidSignature("response signature too old")
        if "expires" in params and _integer(params, "expires") < now - _seconds(CLOCK_SKEW):
            raise InvalidSignature("signature expired")

    return check


def _verify(
    message: _RequestView | _ResponseView,
    *,
    resolver: _PinnedKey,
    policy: Callable[[_Params], None],
    required: Sequence[str],
    body: bytes,
) -> tuple[VerifyResult, PublicNodeKey]:
    """Run the library's verification; every failure becomes a ``PeerAuthError``."""
    try:
        results = _Verifier(resolver, policy).verify(
            message,
            max_age=None,  # the policy bounds the age
            expect_tag=TAG,
            require_components=required,
            body=body,  # the library checks the signed Content-Digest against these bytes
        )
    except PeerAuthError:
        raise
    except InvalidSignature as exc:
        # A failed cryptographic check arrives as an empty message.
        raise PeerAuthError(str(exc) or "bad signature") from None
    except (HTTPMessageSignaturesException, ValueError, TypeError, LookupError) as exc:
        raise PeerAuthError(f"malformed signature ({type(exc).__name__})") from None
    # Each trex signature carries its own nonce; more than one would make the replay check
    # ambiguous.
    if len(results) != 1:
        raise PeerAuthError(f"expected one {TAG} signature, found {len(results)}")
    if resolver.resolved is None:  # pragma: no cover - the library resolved a key to verify
        raise PeerAuthError("no key resolved")
    return results[0], resolver.resolved


# --- Requests ---------------------------------------------------------------------------------


def sign_request(
    request: httpx.Request,
    key: NodeKey,
    *,
    now: datetime | None = None,
    nonce: str | None = None,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> str:
    """Sign ``request`` in place with this node's ``key``; return the signature's nonce.

    Covers ``@method``, ``@target-uri``, ``@authority``, and ``content-digest`` when the
    request has a body (a sha-256 ``Content-Digest`` is added then). Parameters: ``created``
    (``now``), ``expires`` (``created + lifetime``, at most ``MAX_LIFETIME``), ``nonce`` (128
    random bits, base64url, unless given), ``keyid``, ``tag`` and ``alg``. Any earlier
    signature or digest on the request is replaced, so a retried request is signed afresh.
    """
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise ValueError(f"a request signature lives more than 0 s and at most {MAX_LIFETIME}")
    created = _utc(now).replace(microsecond=0)
    nonce = b64url_encode(secrets.token_bytes(_NONCE_BYTES)) if nonce is None else nonce
    body = request.read()
    _drop_fields(request.headers, {*_SIGNATURE_FIELDS, _DIGEST})
    try:
        _signer(key).sign(
            _request_view(request),
            key_id=key.kid,
            created=created,
            expires=created + lifetime,
            nonce=nonce,
            label=LABEL,
            tag=TAG,
            covered_component_ids=REQUEST_COMPONENTS,
            # With a body the library adds Content-Digest and covers it; an empty body has none.
            body=body or None,
        )
    except (HTTPMessageSignaturesException, ValueError, TypeError) as exc:
        raise PeerAuthError(f"cannot sign request: {exc}") from None
    return nonce


def verify_request(
    *,
    method: str,
    target_uri: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    keys: KeyLookup,
    nonces: NonceStore,
    now: datetime | None = None,
) -> VerifiedPeerRequest:
    """Verify a peer's signed request; return who signed it, or raise ``PeerAuthError``.

    ``target_uri`` is the URL the server reconstructs from its own public URL, the path and the
    query, never from the ``Host`` header: a request signed for another node does not verify.
    ``headers`` are the field lines as received (names in any case). The signature tagged
    ``TAG`` must cover the request components (and ``content-digest``, matching ``body``, when
    there is a body), carry ``alg``, ``keyid``, ``created``, ``expires`` and ``nonce``, be
    within its lifetime, and verify under a pinned key valid at ``created``. Only then is the
    nonce recorded; a nonce seen before is refused as a replay.
    """
    moment = _utc(now)
    resolver = _PinnedKey(keys)
    required = [*REQUEST_COMPONENTS, _DIGEST] if body else list(REQUEST_COMPONENTS)
    message = _RequestView(method=method, url=target_uri, headers=_FieldLines(lambda: headers))
    result, key = _verify(
        message,
        resolver=resolver,
        policy=_request_policy(_timestamp(moment)),
        required=required,
        body=body,
    )
    params = result.parameters
    created = _moment(params["created"])
    if not key.valid_at(created):
        raise PeerAuthError("key not valid at the signature's creation time")
    nonce = str(params["nonce"])
    expires = _moment(params["expires"])
    # Only a verified signature may consume a nonce: otherwise anyone could burn a peer's
    # nonces with forged requests.
    if not nonces.remember(key.kid, nonce, expires):
        raise PeerAuthError("replayed nonce")
    return VerifiedPeerRequest(
        node_id=key.node_id, kid=key.kid, nonce=nonce, created=created, expires=expires
    )


# --- Responses --------------------------------------------------------------------------------


def sign_response(
    *,
    status: int,
    headers: MutableMapping[str, str],
    body: bytes,
    key: NodeKey,
    request_nonce: str,
    now: datetime | None = None,
) -> None:
    """Sign a response to a peer: add ``Content-Digest``, ``Signature-Input`` and ``Signature``.

    Covers ``@status`` and ``content-digest`` (sha-256 of ``body``, empty bodies included),
    with ``keyid``, ``created``, ``tag``, ``alg`` and the request's nonce echoed as ``nonce``.
    ``body`` must be the bytes sent on the wire (after any content coding). Existing signature
    and digest fields (in any case) are replaced.
    """
    if not request_nonce:
        raise PeerAuthError("a response signature needs the request's nonce")
    _drop_fields(headers, {*_SIGNATURE_FIELDS, _DIGEST})
    message = _ResponseView(
        status_code=status, headers=_FieldLines(lambda: list(headers.items()), target=headers)
    )
    try:
        _signer(key).sign(
            message,
            key_id=key.kid,
            created=_utc(now),
            nonce=request_nonce,
            label=LABEL,
            tag=TAG,
            covered_component_ids=RESPONSE_COMPONENTS[:1],
            body=body,  # adds Content-Digest and covers it
        )
    except (HTTPMessageSignaturesException, ValueError, TypeError) as exc:
        raise PeerAuthError(f"cannot sign response: {exc}") from None


def verify_response(
    *,
    status: int,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    keys: KeyLookup,
    signer: str,
    request_nonce: str,
    now: datetime | None = None,
) -> PublicNodeKey:
    """Verify a peer's signed response to our request; return the key that signed it.

    The signature tagged ``TAG`` must be made by a key of node ``signer`` valid at its
    creation, cover ``@status`` and ``content-digest`` (which must match ``body``), echo
    ``request_nonce`` as its ``nonce`` (a response replayed to another request is refused),
    and be created neither in the future nor more than ``MAX_LIFETIME`` ago.
    """
    moment = _utc(now)
    message = _ResponseView(status_code=status, headers=_FieldLines(lambda: headers))
    result, key = _verify(
        message,
        resolver=_PinnedKey(keys, node_id=signer),
        policy=_response_policy(_timestamp(moment)),
        required=RESPONSE_COMPONENTS,
        body=body,
    )
    if result.parameters["nonce"] != request_nonce:
        raise PeerAuthError("response nonce does not match the request")
    if not key.valid_at(_moment(result.parameters["created"])):
        raise PeerAuthError("key not valid at the signature's creation time")
    return key


class PeerAuth(httpx.Auth):
    """Signs each request with this node's key and checks the signed response came from the expected peer."""  # noqa: E501

    # The response's Content-Digest is checked against its body, so httpx must read it first.
    requires_response_body = True

    def __init__(self, key: NodeKey, peer_keys: KeyLookup, peer_id: str) -> None:
        self._key = key
        self._peer_keys = peer_keys
        self._peer_id = peer_id

    def __repr__(self) -> str:
        return f"PeerAuth(kid={self._key.kid!r}, peer_id={self._peer_id!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # The digest covers the bytes the peer sent; httpx hands over decoded content. Asking
        # for no content coding makes the two the same.
        request.headers["Accept-Encoding"] = "identity"
        nonce = sign_request(request, self._key)
        response = yield request
        try:
            verify_response(
                status=response.status_code,
                headers=response.headers.multi_items(),
                body=response.content,
                keys=self._peer_keys,
                signer=self._peer_id,
                request_nonce=nonce,
            )
        except PeerAuthError as exc:
            raise PeerAuthError(
                f"response from {self._peer_id} (HTTP {response.status_code}): {exc.reason}"
                + _unverified_detail(response)
            ) from None


# --- Helpers ----------------------------------------------------------------------------------


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _seconds(span: timedelta) -> int:
    return int(span.total_seconds())


def _timestamp(moment: datetime) -> int:
    # Structured Field timestamps are whole seconds; compare like with like.
    return int(moment.timestamp())


def _moment(value: object) -> datetime:
    assert type(value) is int  # checked by the policy before the signature was verified
    return datetime.fromtimestamp(value, UTC)


def _drop_fields(headers: MutableMapping[str, str], names: set[str]) -> None:
    """Delete every field named in ``names`` (lowercase), whatever its case in ``headers``."""
    for name in [field for field in headers if field.lower() in names]:
        if name in headers:
            del headers[name]


def _unverified_detail(response: httpx.Response) -> str:
    """An unsigned error's own explanation, marked as such: the operator needs the peer's
    reason (say, that it has not pinned this node's key), but nothing is trusted from it."""
    if response.status_code < 400:
        return ""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(detail, str):
        return ""
    return f" (unverified: {' '.join(detail.split())[:150]})"
