"""A misbehaving remote node for federation tests: correct at the transport, crafty in its records.

``RoguePeer`` is a small real HTTP server on a loopback port that speaks trex-federation/1 the
way a peer must: it serves its descriptor, checks the RFC 9421 signature of the pulling node's
feed request and signs its answer echoing the request's nonce, so a real node accepts the
conversation. What it serves as records is whatever the test hands it (tampered bytes, wrong
kids, forged origins, relays it has no right to make), which is exactly what the node under
test must refuse. Its keys are real Ed25519 keys and its records are made with the same
``federation.signing`` functions a node uses.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from federation.descriptor import PROTOCOL
from federation.keys import NodeKey, PinnedKeys, PublicNodeKey, b64url_encode
from federation.peer_auth import MemoryNonceStore, PeerAuthError, sign_response, verify_request
from federation.signing import SignedRecord, sign_document
from tests.factories import advisory_payload

__all__ = ["RoguePeer", "new_key", "revision", "rogue_peer", "signed"]

FEED_PATH = "/v1/federation/feed"
DESCRIPTOR_PATH = "/.well-known/trex-node"


def new_key(node_id: str) -> NodeKey:
    """A fresh Ed25519 key for ``node_id`` with a kid in the nodes' own style."""
    return NodeKey.generate(node_id, f"{node_id}-2026-01", not_before=datetime.now(UTC))


def revision(
    origin: str,
    *,
    advisory_id: str | None = None,
    number: int = 1,
    **overrides: Any,
) -> dict[str, Any]:
    """A complete advisory revision as an origin node writes it (every field present)."""
    document = advisory_payload(audience=[], scope=["five-eyes"], tlp="green")
    document.update(
        id=advisory_id or str(uuid.uuid4()),
        origin=origin,
        revision=number,
        contributor_org=f"University of {origin}",
        published_at="2026-01-10T09:00:00Z",
        updated_at=f"2026-01-{10 + number:02d}T09:00:00Z",
    )
    document.update(overrides)
    return document


def signed(document: dict[str, Any], key: NodeKey) -> dict[str, str]:
    """``document`` canonicalised and signed by ``key``, as a record travels in a feed."""
    return sign_document(document, key).to_json()


class RoguePeer:
    """The server's state: the page it serves next and the requests it has seen."""

    def __init__(self, node_id: str, key: NodeKey, receiver: PublicNodeKey) -> None:
        self.node_id = node_id
        self.key = key
        self._receiver_keys = PinnedKeys([receiver])
        self._nonces = MemoryNonceStore()
        self._lock = threading.Lock()
        self._records: list[Any] = []
        self._page = 0
        self.port = 0
        self.feed_requests: list[str | None] = []
        """The ``after`` cursor of each feed request the receiver made, in order."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def public_key(self) -> str:
        return b64url_encode(self.key.public.public_key)

    @property
    def cursor(self) -> str:
        """The ``next`` cursor of the page now being served."""
        return f"rogue-page-{self._page}"

    def serve(self, records: Sequence[Any]) -> None:
        """Serve ``records`` as the one (and last) page of the feed from now on."""
        with self._lock:
            self._records = list(records)
            self._page += 1

    def descriptor(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "name": f"Rogue {self.node_id}",
            "country": "ZZ",
            "public_url": self.url,
            "protocol": PROTOCOL,
            "keys": [self.key.public.to_descriptor()],
            "rotations": [],
        }

    def feed(self, *, path: str, headers: list[tuple[str, str]]) -> tuple[int, bytes, str]:
        """The answer to a feed request: status, body and the nonce to echo."""
        try:
            verified = verify_request(
                method="GET",
                target_uri=self.url + path,
                headers=headers,
                body=b"",
                keys=self._receiver_keys,
                nonces=self._nonces,
            )
        except PeerAuthError as error:
            return 401, json.dumps({"detail": error.reason}).encode(), ""
        after = parse_qs(urlsplit(path).query).get("after", [None])[0]
        with self._lock:
            self.feed_requests.append(after)
            body = {
                "records": self._records,
                "next": self.cursor,
                "more": False,
                "key_statements": [],
            }
        return 200, json.dumps(body).encode(), verified.nonce


def _handler(peer: RoguePeer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path == DESCRIPTOR_PATH:
                self._send(200, json.dumps(peer.descriptor()).encode(), {})
                return
            if urlsplit(self.path).path != FEED_PATH:
                self._send(404, b'{"detail": "not found"}', {})
                return
            status, body, nonce = peer.feed(path=self.path, headers=list(self.headers.items()))
            headers: dict[str, str] = {}
            if nonce:
                sign_response(
                    status=status, headers=headers, body=body, key=peer.key, request_nonce=nonce
                )
            self._send(status, body, headers)

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test's own assertions say what happened

    return Handler


@contextmanager
def rogue_peer(node_id: str, key: NodeKey, *, receiver: PublicNodeKey) -> Iterator[RoguePeer]:
    """``RoguePeer`` served on a free loopback port until the block ends.

    ``receiver`` is the pulling node's key: its feed requests must carry a valid signature.
    """
    peer = RoguePeer(node_id, key, receiver)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(peer))
    server.daemon_threads = True
    peer.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name=f"rogue-{node_id}", daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def tampered(record: dict[str, str], old: str, new: str) -> dict[str, str]:
    """``record`` with ``old`` replaced by ``new`` in its payload, signature left as it was."""
    assert old in record["payload"], old
    return SignedRecord(
        record["payload"].replace(old, new, 1), record["kid"], record["alg"], record["sig"]
    ).to_json()
