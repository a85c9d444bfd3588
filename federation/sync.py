"""Pulling a peer's feed and deciding what to keep, written against a ``Store`` a node implements.

One page is one batch: its records are verified (``federation.signing``), checked against the
travel rule (``federation.policy``) and compared with what the store holds, then the store
commits the accepted records, the rejections and the new cursor in one transaction. A crash
anywhere before that commit leaves the cursor where it was, so the page is fetched again and
applied once.
"""

from __future__ import annotations

import functools
import json
import random
import ssl
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime
from multiprocessing import get_context
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

from federation.canonical import CanonicalJSONError, parse_strict
from federation.descriptor import DescriptorError, NodeDescriptor
from federation.keys import KeyLookup, NodeKey, PinnedKeys, PublicNodeKey
from federation.peer_auth import PeerAuth, PeerAuthError
from federation.policy import Groups, RecordFacts, TravelRefused, check_may_travel
from federation.rotation import AcceptedRotation, accept_rotations, statements_of
from federation.signing import SignedRecord, VerificationError, VerifiedRecord, verify

__all__ = [
    "DEFAULT_PAGE",
    "Batch",
    "FeedPage",
    "Held",
    "Peer",
    "PeerClient",
    "PeerError",
    "PullResult",
    "Rejection",
    "Store",
    "backoff_delays",
    "fetch_descriptor",
    "pull",
    "review_records",
]

DEFAULT_PAGE = 500
MAX_PAGE = 1000
FEED_PATH = "/v1/federation/feed"
NOTIFY_PATH = "/v1/federation/notify"
DESCRIPTOR_PATH = "/.well-known/trex-node"


class PeerError(Exception):
    """A peer that could not be reached, answered with an error, or answered unverifiably."""


@dataclass(frozen=True)
class Peer:
    node_id: str
    url: str


@dataclass(frozen=True)
class Held:
    """What a store holds of an advisory: origin, current revision, that payload's digest."""

    origin: str
    revision: int
    digest: str


@dataclass(frozen=True)
class Rejection:
    """A record refused (or quarantined for equivocation), kept with the reason, never served."""

    record: Any
    reason: str
    equivocation: bool = False
    origin: str | None = None
    advisory_id: str | None = None
    revision: int | None = None


@dataclass
class Batch:
    """The outcome of reviewing one page: what to store, what to quarantine, what to skip."""

    accepted: list[VerifiedRecord] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    unchanged: int = 0
    rotations: list[AcceptedRotation] = field(default_factory=list)


class Store(Protocol):
    """What the pull loop needs from a node's storage."""

    @property
    def node_id(self) -> str: ...

    def pinned_keys(self) -> PinnedKeys:
        """Every key this node trusts, by kid: pinned ones and those learned by rotation."""
        ...

    def groups(self) -> Groups: ...

    def cursor(self, peer_id: str) -> str | None: ...

    def held(self, advisory_ids: Collection[str]) -> Mapping[str, Held]:
        """What is held of these advisories (by id; absent ids are not held)."""
        ...

    def check_document(self, document: Mapping[str, Any]) -> str | None:
        """Why the node cannot store this revision (its schema), or None when it can."""
        ...

    def earlier_digests(
        self, revisions: Collection[tuple[str, int]]
    ) -> Mapping[tuple[str, int], str]:
        """Payload digests of these stored (advisory id, revision) pairs."""
        ...

    def commit(self, peer_id: str, batch: Batch, *, cursor: str | None, caught_up: bool) -> None:
        """Store the batch and move the peer's cursor, in one transaction."""
        ...


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rejection(raw: Any, reason: str, document: Mapping[str, Any] | None = None) -> Rejection:
    if document is None and isinstance(raw, Mapping) and isinstance(raw.get("payload"), str):
        # Best effort, for the operator reading the quarantine: the payload is untrusted.
        try:
            parsed = parse_strict(raw["payload"])
        except CanonicalJSONError:
            parsed = None
        document = parsed if isinstance(parsed, dict) else None
    document = document or {}
    origin = document.get("origin")
    advisory_id = document.get("id")
    return Rejection(
        raw,
        reason,
        origin=origin if isinstance(origin, str) else None,
        advisory_id=advisory_id if isinstance(advisory_id, str) else None,
        revision=_int_or_none(document.get("revision")),
    )


def _check_revision_shape(document: Mapping[str, Any]) -> None:
    if not isinstance(document.get("id"), str) or not document["id"]:
        raise TravelRefused("a revision has a string id")
    if _int_or_none(document.get("revision")) is None or document["revision"] < 1:
        raise TravelRefused("a revision has a positive integer revision number")


HeldLookup = Callable[[Collection[str]], Mapping[str, Held]]
"""What a receiver holds of these advisory ids (``Store.held``)."""
DocumentCheck = Callable[[Mapping[str, Any]], str | None]
"""Why a revision cannot be stored, or None (``Store.check_document``)."""
DigestLookup = Callable[[Collection[tuple[str, int]]], Mapping[tuple[str, int], str]]
"""Digests of stored (id, revision) pairs (``Store.earlier_digests``)."""


@dataclass
class Checked:
    """A page after the stage that needs no storage: signatures, form and the travel rule."""

    verified: list[tuple[Any, VerifiedRecord]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def check_records(
    raw_records: Iterable[Any], *, sender: str, receiver: str, keys: KeyLookup, groups: Groups
) -> Checked:
    """Verify each record and apply the travel rule; the CPU-bound half of a review."""
    checked = Checked()
    for raw in raw_records:
        try:
            record = verify(SignedRecord.from_json(raw), keys)
            _check_revision_shape(record.document)
            check_may_travel(
                RecordFacts.of(record.document), sender=sender, receiver=receiver, groups=groups
            )
        except VerificationError as exc:
            checked.rejected.append(_rejection(raw, exc.reason))
            continue
        except TravelRefused as exc:
            checked.rejected.append(_rejection(raw, exc.reason, record.document))
            continue
        checked.verified.append((raw, record))
    return checked


def judge_records(
    checked: Checked,
    *,
    held: Mapping[str, Held] | None = None,
    lookup: HeldLookup | None = None,
    check_document: DocumentCheck | None = None,
    earlier_digests: DigestLookup | None = None,
) -> Batch:
    """Compare verified records with what the receiver holds: the half that reads storage.

    See ``review_records`` for the parameters.
    """
    batch = Batch(rejected=list(checked.rejected))
    verified: list[tuple[Any, VerifiedRecord]] = []
    for raw, record in checked.verified:
        problem = check_document(record.document) if check_document else None
        if problem is None:
            verified.append((raw, record))
        else:
            reason = f"not a valid advisory revision: {problem}"
            batch.rejected.append(_rejection(raw, reason, record.document))
    state: dict[str, Held] = dict(held or {})
    if lookup is not None:
        state.update(lookup({r.document["id"] for _, r in verified}))
    accepted_digests: dict[tuple[str, int], str] = {}
    older: list[tuple[Any, VerifiedRecord]] = []
    for raw, record in verified:
        document = record.document
        current = state.get(document["id"])
        if current is not None and current.origin != record.signer:
            batch.rejected.append(
                _rejection(
                    raw, f"advisory id already belongs to origin {current.origin!r}", document
                )
            )
        elif current is None or document["revision"] > current.revision:
            batch.accepted.append(record)
            state[document["id"]] = Held(record.signer, document["revision"], record.digest)
            accepted_digests[(document["id"], document["revision"])] = record.digest
        elif document["revision"] == current.revision and record.digest != current.digest:
            batch.rejected.append(_equivocation(raw, document))
        elif document["revision"] == current.revision:
            batch.unchanged += 1  # the same revision again: nothing to do
        else:
            older.append((raw, record))  # no rollback; but is it the text once held?
    wanted = {(r.document["id"], r.document["revision"]) for _, r in older}
    known = dict(earlier_digests(wanted)) if earlier_digests and wanted else {}
    known.update(accepted_digests)
    for raw, record in older:
        digest = known.get((record.document["id"], record.document["revision"]))
        if digest is not None and digest != record.digest:
            batch.rejected.append(_equivocation(raw, record.document))
        else:
            batch.unchanged += 1
    return batch


def review_records(
    raw_records: Iterable[Any],
    *,
    sender: str,
    receiver: str,
    keys: KeyLookup,
    groups: Groups,
    held: Mapping[str, Held] | None = None,
    lookup: HeldLookup | None = None,
    check_document: DocumentCheck | None = None,
    earlier_digests: DigestLookup | None = None,
) -> Batch:
    """Verify and judge records that ``sender`` delivered to ``receiver``.

    ``held`` (or ``lookup``, a callable from advisory ids to ``held``) says what the receiver
    already has; ``check_document`` (the store's schema check) may refuse a well-signed
    revision the node cannot hold; ``earlier_digests`` gives the digests of stored revisions
    older than the current one, so that an older revision with other content is caught as
    equivocation too. Records later in the batch see those accepted before them.
    """
    checked = check_records(raw_records, sender=sender, receiver=receiver, keys=keys, groups=groups)
    return judge_records(
        checked,
        held=held,
        lookup=lookup,
        check_document=check_document,
        earlier_digests=earlier_digests,
    )


def _equivocation(raw: Any, document: Mapping[str, Any]) -> Rejection:
    rejection = _rejection(
        raw,
        f"equivocation: revision {document['revision']} already held with other content",
        document,
    )
    return replace(rejection, equivocation=True)


@dataclass(frozen=True)
class FeedPage:
    records: list[Any]
    next: str | None
    more: bool
    key_statements: list[Any]


@functools.cache
def _tls() -> ssl.SSLContext:
    # Built once: loading the CA bundle costs ~25 ms, on every client of every pass otherwise.
    return httpx.create_ssl_context()


class PeerClient:
    """Signed calls to one peer over one httpx client with explicit timeouts.

    Every request is signed with this node's key and every answer must carry the peer's
    signature over it (``federation.peer_auth``); failures become ``PeerError``.
    """

    def __init__(
        self,
        peer: Peer,
        *,
        key: NodeKey,
        peer_keys: KeyLookup,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.peer = peer
        self._client = httpx.Client(
            base_url=peer.url.rstrip("/"),
            auth=PeerAuth(key, peer_keys, peer.node_id),
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
            follow_redirects=False,
            verify=_tls(),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PeerClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except PeerAuthError as exc:
            raise PeerError(f"{self.peer.node_id}: unverifiable answer: {exc.reason}") from None
        except httpx.HTTPError as exc:
            raise PeerError(f"{self.peer.node_id}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            detail = response.text[:300]
            raise PeerError(f"{self.peer.node_id}: HTTP {response.status_code}: {detail}")
        try:
            return parse_strict(response.content)
        except CanonicalJSONError as exc:
            raise PeerError(f"{self.peer.node_id}: answer is not JSON: {exc}") from None

    def feed(self, after: str | None, limit: int = DEFAULT_PAGE) -> FeedPage:
        params = {"limit": str(limit)}
        if after is not None:
            params["after"] = after
        body = self._call("GET", f"{FEED_PATH}?{urlencode(params)}")
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise PeerError(f"{self.peer.node_id}: a feed page is an object with records")
        next_cursor = body.get("next")
        if next_cursor is not None and not isinstance(next_cursor, str):
            raise PeerError(f"{self.peer.node_id}: a feed's next cursor is a string")
        statements = body.get("key_statements") or []
        return FeedPage(
            body["records"],
            next_cursor,
            body.get("more") is True,
            statements if isinstance(statements, list) else [],
        )

    def notify(self) -> None:
        self._call("POST", NOTIFY_PATH, json={"node_id": None})

    def descriptor(self) -> NodeDescriptor:
        """The peer's descriptor, fetched without signatures (it only ever adds proven keys)."""
        return fetch_descriptor(self.peer.url)


def fetch_descriptor(url: str, *, timeout: float = 10.0) -> NodeDescriptor:
    """A node's descriptor from its public URL; ``PeerError`` when there is none usable.

    Unsigned: what it says is only ever used to find a key the operator gives out of band, or
    to read rotation statements that a pinned key signed.
    """
    try:
        response = httpx.get(url.rstrip("/") + DESCRIPTOR_PATH, timeout=timeout, verify=_tls())
        response.raise_for_status()
        return NodeDescriptor.from_json(parse_strict(response.content))
    except (
        httpx.HTTPError,
        httpx.InvalidURL,
        UnicodeError,
        CanonicalJSONError,
        DescriptorError,
    ) as exc:
        raise PeerError(f"{url}: no usable descriptor: {exc}") from None


@dataclass
class PullResult:
    pages: int = 0
    accepted: int = 0
    rejected: int = 0
    unchanged: int = 0
    equivocations: int = 0


def _pages(client: PeerClient, cursor: str | None, limit: int) -> Iterator[FeedPage]:
    """Feed pages in order, the next one fetched while the caller works on the current one."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed") as prefetch:
        pending: Future[FeedPage] = prefetch.submit(client.feed, cursor, limit)
        while True:
            page = pending.result()
            if page.more:
                pending = prefetch.submit(client.feed, page.next, limit)
            yield page
            if not page.more:
                return


_KeyMaterial = list[tuple[str, str, bytes, datetime | None, datetime | None]]


def _key_material(keys: PinnedKeys) -> _KeyMaterial:
    # Plain values: a worker process rebuilds the keys (cryptography's objects do not pickle).
    return [(k.node_id, k.kid, k.public_key, k.not_before, k.not_after) for k in keys]


def _check_in_worker(
    raw_records: list[Any], sender: str, receiver: str, material: _KeyMaterial, groups: Groups
) -> tuple[list[tuple[int, str]], list[Rejection]]:
    """``check_records`` in a worker process: verified records come back as (index, signer)."""
    keys = PinnedKeys(PublicNodeKey(*entry) for entry in material)
    checked = check_records(raw_records, sender=sender, receiver=receiver, keys=keys, groups=groups)
    index = {id(raw): i for i, raw in enumerate(raw_records)}
    return [(index[id(raw)], r.signer) for raw, r in checked.verified], checked.rejected


def _rebuild(
    raw_records: list[Any], outcome: tuple[list[tuple[int, str]], list[Rejection]]
) -> Checked:
    verified, rejected = outcome
    checked = Checked(rejected=list(rejected))
    for i, signer in verified:
        raw = raw_records[i]
        # Already verified and found canonical in the worker: plain parsing gives the same value.
        document = json.loads(raw["payload"])
        checked.verified.append(
            (raw, VerifiedRecord(SignedRecord.from_json(raw), document, signer))
        )
    return checked


@dataclass
class _Pending:
    page: FeedPage
    rotations: list[AcceptedRotation]
    checked: Future[tuple[list[tuple[int, str]], list[Rejection]]] | None


def pull(
    peer: Peer,
    store: Store,
    client: PeerClient,
    *,
    limit: int = DEFAULT_PAGE,
    parallel: bool = True,
) -> PullResult:
    """Pull ``peer``'s feed from the store's cursor until the peer has nothing more.

    Each page is committed (records, quarantine, cursor) before the next one is applied.
    Raises ``PeerError`` when the peer fails; what was committed before stays.

    A feed of several pages runs as a pipeline: the next page is fetched (a thread) and its
    signatures checked (a worker process, with ``parallel``) while this one is stored.
    """
    keys = store.pinned_keys()
    groups = store.groups()
    result = PullResult()
    receiver = store.node_id
    pending: deque[_Pending] = deque()
    with ExitStack() as stack:
        workers: ProcessPoolExecutor | None = None
        for page in _pages(client, store.cursor(peer.node_id), limit):
            rotations = accept_rotations(statements_of(page.key_statements), keys)
            if parallel and page.more and workers is None:
                workers = stack.enter_context(
                    ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
                )
            checked = (
                workers.submit(
                    _check_in_worker,
                    page.records,
                    peer.node_id,
                    receiver,
                    _key_material(keys),
                    groups,
                )
                if workers is not None
                else None
            )
            pending.append(_Pending(page, rotations, checked))
            if len(pending) > 1:
                _apply(pending.popleft(), peer, store, keys, groups, result)
        while pending:
            _apply(pending.popleft(), peer, store, keys, groups, result)
    return result


def _apply(
    item: _Pending, peer: Peer, store: Store, keys: PinnedKeys, groups: Groups, result: PullResult
) -> None:
    page = item.page
    checked: Checked | None = None
    if item.checked is not None:
        try:
            checked = _rebuild(page.records, item.checked.result())
        except Exception:  # a lost worker only costs speed: check here instead
            checked = None
    if checked is None:
        checked = check_records(
            page.records, sender=peer.node_id, receiver=store.node_id, keys=keys, groups=groups
        )
    batch = judge_records(
        checked,
        lookup=store.held,
        check_document=store.check_document,
        earlier_digests=store.earlier_digests,
    )
    batch.rotations = item.rotations
    store.commit(peer.node_id, batch, cursor=page.next, caught_up=not page.more)
    result.pages += 1
    result.accepted += len(batch.accepted)
    result.rejected += len(batch.rejected)
    result.unchanged += batch.unchanged
    result.equivocations += sum(1 for r in batch.rejected if r.equivocation)


def refresh_rotations(client: PeerClient, keys: PinnedKeys) -> list[AcceptedRotation]:
    """Keys the peer proved by rotation statements in its descriptor (signed by pinned keys)."""
    descriptor = client.descriptor()
    return accept_rotations(descriptor.rotations, keys)


def backoff_delays(
    *, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Retry delays: exponential with full jitter, so peers that failed together spread out."""
    chooser = rng or random.Random()  # noqa: S311  jitter, not cryptography
    attempt = 0
    while True:
        yield chooser.uniform(0, min(cap, base * 2**attempt))
        attempt += 1
