"""``federation.sync.pull`` against a node app served in this process (uvicorn in a thread).

The serving node ``ca`` runs ``create_app`` on the test's database (either backend); the
pulling node ``uk`` is a ``DatabaseStore`` on its own SQLite database with its own key. Every
request and answer is signed and checked exactly as between two node processes; only the
process boundary is gone, so the tests can look at both databases directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from federation.keys import KeyRing, NodeKey
from federation.peer_auth import sign_request
from federation.signing import SignedRecord, verify
from federation.sync import Peer, PeerClient, PeerError, pull
from service.advisories.models import Advisory, AdvisoryRevision
from service.advisories.service import NewRevision, allocate_sequence, store_revisions
from service.app import create_app
from service.db import make_engine, make_session_factory, read_only, transaction, utcnow
from service.peering.models import Peer as PeerRow
from service.peering.service import add_group, add_peer, load_pinned_keys, remember_nonce
from service.peering.store import DatabaseStore
from service.settings import Settings
from tests.databases import SqliteDatabases
from tests.factories import advisory_payload, make_members
from tests.node_process import free_port

ANALYST = "analyst@example.edu"


@dataclass
class ServedNode:
    url: str
    ring: KeyRing
    factory: sessionmaker[Session]
    tokens: dict[str, str]

    def publish(self, **overrides: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[ANALYST]}"}
        response = httpx.post(
            f"{self.url}/v1/advisories",
            json=advisory_payload(**overrides),
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 201, response.text
        document: dict[str, Any] = response.json()
        return document


@dataclass
class Receiver:
    ring: KeyRing
    factory: sessionmaker[Session]
    store: DatabaseStore


@pytest.fixture
def ca(database_url: str, tmp_path: Path) -> Iterator[ServedNode]:
    """Node ``ca`` served on a loopback port, its sync loop off."""
    data_dir = tmp_path / "ca"
    data_dir.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        node_id="ca",
        node_name="Node ca",
        node_country="CA",
        public_url=url,
        sync_interval_seconds=0,
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="ca-server", daemon=True)
    thread.start()
    engine = make_engine(settings.resolved_database_url)
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive(), "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        factory = make_session_factory(engine)
        yield ServedNode(url, KeyRing.load(data_dir), factory, make_members(factory).tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        engine.dispose()


@pytest.fixture
def uk(sqlite_databases: SqliteDatabases, tmp_path: Path, ca: ServedNode) -> Iterator[Receiver]:
    """Node ``uk`` (SQLite), peered with ``ca`` both ways in the group ``five-eyes``."""
    directory = tmp_path / "uk"
    directory.mkdir()
    engine = make_engine(sqlite_databases.fresh(directory))
    factory = make_session_factory(engine)
    now = utcnow()
    # Whole seconds, as a key ring file and a descriptor give it: a request signed within
    # the key's first second would otherwise predate the key.
    ring = KeyRing.create("uk", now=now.replace(microsecond=0))
    with transaction(factory) as session:
        add_peer(
            session, node_id="ca", url=ca.url, keys=ca.ring.public_keys(), self_id="uk", now=now
        )
        add_group(session, name="five-eyes", members=["ca", "uk"], now=now)
    with transaction(ca.factory) as session:
        add_peer(session, node_id="uk", url=None, keys=[ring.current.public], self_id="ca", now=now)
        add_group(session, name="five-eyes", members=["ca", "uk"], now=now)
    try:
        yield Receiver(ring, factory, DatabaseStore(factory, node_id="uk"))
    finally:
        engine.dispose()


def _client(ca: ServedNode, uk: Receiver) -> PeerClient:
    return PeerClient(
        Peer("ca", ca.url), key=uk.ring.current, peer_keys=uk.store.pinned_keys(), timeout=30
    )


def _documents_by_id(factory: sessionmaker[Session]) -> dict[str, list[str]]:
    """Each advisory's stored revision texts, in revision order."""
    with read_only(factory) as session:
        rows = session.execute(
            select(Advisory.id, AdvisoryRevision.document)
            .join(Advisory, Advisory.pk == AdvisoryRevision.advisory_pk)
            .order_by(AdvisoryRevision.seq)
        )
        held: dict[str, list[str]] = {}
        for advisory_id, document in rows:
            held.setdefault(advisory_id, []).append(document)
        return held


def test_pull_brings_every_shareable_record_page_by_page(ca: ServedNode, uk: Receiver) -> None:
    published = [ca.publish(summary=f"Advisory {n}.") for n in range(7)]
    ca.publish(status="draft")
    ca.publish(scope=[])
    ca.publish(scope=["nordic"])

    with _client(ca, uk) as client:
        result = pull(Peer("ca", ca.url), uk.store, client, limit=3)

    assert (result.pages, result.accepted, result.rejected, result.unchanged) == (3, 7, 0, 0)
    on_ca = _documents_by_id(ca.factory)
    on_uk = _documents_by_id(uk.factory)
    assert set(on_uk) == {p["id"] for p in published}
    # uk holds ca's texts byte for byte, so it can relay them and anyone can re-verify them.
    assert all(on_uk[i] == on_ca[i] for i in on_uk)
    with read_only(uk.factory) as session:
        peer = session.get(PeerRow, "ca")
        assert peer is not None
        assert peer.cursor is not None
        assert peer.caught_up_at is not None
        assert peer.accepted_count == 7
        assert peer.last_error is None


def test_a_second_pull_starts_at_the_cursor(ca: ServedNode, uk: Receiver) -> None:
    ca.publish()
    with _client(ca, uk) as client:
        assert pull(Peer("ca", ca.url), uk.store, client).accepted == 1
        nothing_new = pull(Peer("ca", ca.url), uk.store, client)
        later = ca.publish(summary="Published after the first pull.")
        one_more = pull(Peer("ca", ca.url), uk.store, client)

    assert (nothing_new.pages, nothing_new.accepted, nothing_new.unchanged) == (1, 0, 0)
    assert (one_more.accepted, one_more.unchanged) == (1, 0)
    assert later["id"] in _documents_by_id(uk.factory)


def _store_many(ca: ServedNode, count: int) -> None:
    """``count`` shareable revisions written straight into ca's database, signed by ca."""
    stamp = "2026-03-01T12:00:00Z"
    documents = [
        {
            **advisory_payload(),
            "id": f"00000000-0000-4000-8000-{n:012d}",
            "origin": "ca",
            "revision": 1,
            "audience": [],
            "contributor_org": "a member",
            "published_at": stamp,
            "updated_at": stamp,
        }
        for n in range(count)
    ]
    with transaction(ca.factory) as session:
        last = allocate_sequence(session, count)
        store_revisions(
            session,
            [NewRevision(d, None, None) for d in documents],
            first_seq=last - count + 1,
            now=utcnow(),
            key=ca.ring.current,
        )


def test_the_feed_limit_is_capped_at_1000(ca: ServedNode, uk: Receiver) -> None:
    _store_many(ca, 1003)
    keys = uk.store.pinned_keys()

    with _client(ca, uk) as client:
        first = client.feed(None, limit=5000)
        rest = client.feed(first.next, limit=5000)
        default = client.feed(None)

    assert len(first.records) == 1000
    assert first.more
    assert len(rest.records) == 3
    assert not rest.more
    assert len(default.records) == 500  # SPEC: the limit defaults to 500
    assert default.more
    ids = [verify(SignedRecord.from_json(r), keys).document["id"] for r in first.records]
    ids += [verify(SignedRecord.from_json(r), keys).document["id"] for r in rest.records]
    assert len(set(ids)) == 1003


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(ca: ServedNode, uk: Receiver, limit: int) -> None:
    with _client(ca, uk) as client, pytest.raises(PeerError, match="HTTP 422"):
        client.feed(None, limit=limit)


def test_a_cursor_the_node_never_issued_is_refused(ca: ServedNode, uk: Receiver) -> None:
    with _client(ca, uk) as client, pytest.raises(PeerError, match="HTTP 422"):
        client.feed("f1.not-a-number")


def test_a_node_that_is_not_a_peer_gets_nothing(ca: ServedNode, uk: Receiver) -> None:
    ca.publish()
    stranger = NodeKey.generate("se", "se-2026-01", not_before=datetime.now(UTC))
    with read_only(uk.factory) as session:
        keys = load_pinned_keys(session)

    with (
        PeerClient(Peer("ca", ca.url), key=stranger, peer_keys=keys) as client,
        pytest.raises(PeerError, match="HTTP 401"),
    ):
        client.feed(None)


def test_a_nonce_is_remembered_once_per_key(session_factory: sessionmaker[Session]) -> None:
    now = utcnow()
    expires = now + timedelta(seconds=60)
    with transaction(session_factory) as session:
        first = remember_nonce(session, kid="uk-2026-01", nonce="n1", expires=expires, now=now)
        replay = remember_nonce(session, kid="uk-2026-01", nonce="n1", expires=expires, now=now)
        other_key = remember_nonce(session, kid="au-2026-01", nonce="n1", expires=expires, now=now)
    with transaction(session_factory) as session:
        # The store outlives the transaction (and so the request, and a restart).
        later = remember_nonce(session, kid="uk-2026-01", nonce="n1", expires=expires, now=now)

    assert (first, replay, other_key, later) == (True, False, True, False)


def test_a_replayed_request_is_refused(ca: ServedNode, uk: Receiver) -> None:
    request = httpx.Request("GET", f"{ca.url}/v1/federation/feed")
    sign_request(request, uk.ring.current)

    with httpx.Client(timeout=30) as client:
        first = client.send(request)
        replayed = client.send(request)

    assert first.status_code == 200, first.text
    assert replayed.status_code == 401
    assert "replayed nonce" in replayed.json()["detail"]
