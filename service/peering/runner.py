"""The sync runner: pulls every peer, retries with back-off, tells peers about local news.

However many processes run it (``trex-node sync``, each server worker), one pass runs at a
time per node: passes take a PostgreSQL advisory lock, or an exclusive file lock beside the
SQLite database.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from federation.sync import (
    Batch,
    Peer,
    PeerClient,
    PeerError,
    PullResult,
    backoff_delays,
    pull,
    refresh_rotations,
)
from service.advisories.models import AdvisoryRevision
from service.db import read_only, transaction, utcnow
from service.peering.models import Peer as PeerRow
from service.peering.service import NodeKeys, list_peers, load_pinned_keys
from service.peering.store import DatabaseStore, apply_batch

log = logging.getLogger("trex.sync")

# An arbitrary constant naming the sync runner among PostgreSQL advisory locks.
_ADVISORY_LOCK_KEY = 0x7472_6578_7379_6E63 & 0x7FFF_FFFF_FFFF_FFFF


@contextmanager
def runner_lock(engine: Engine, data_dir: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the node's one sync lock; yield False at once if ``wait`` is off and it is taken."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            if wait:
                connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
                acquired = True
            else:
                acquired = bool(
                    connection.execute(
                        text("SELECT pg_try_advisory_lock(:k)"), {"k": _ADVISORY_LOCK_KEY}
                    ).scalar()
                )
            connection.commit()
            try:
                yield acquired
            finally:
                if acquired:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_LOCK_KEY}
                    )
                    connection.commit()
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "sync.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class PeerOutcome:
    peer_id: str
    result: PullResult | None = None
    error: str | None = None


@dataclass
class _Schedule:
    due: float = 0.0
    failing: bool = False
    delays: Iterator[float] = field(default_factory=lambda: backoff_delays(base=2.0, cap=300.0))


class SyncRunner:
    """Pulls peers for one node. ``run_pass`` does one round; ``run_forever`` keeps going."""

    def __init__(
        self,
        *,
        engine: Engine,
        factory: sessionmaker[Session],
        data_dir: Path,
        node_id: str,
        node_keys: NodeKeys,
        interval: float = 30.0,
        timeout: float = 30.0,
        page_size: int = 500,
    ) -> None:
        self._engine = engine
        self._factory = factory
        self._data_dir = data_dir
        self._node_id = node_id
        self._node_keys = node_keys
        self.interval = interval
        self.timeout = timeout
        self.page_size = page_size
        self._schedules: dict[str, _Schedule] = {}

    def _peers(self, only: str | None) -> list[Peer]:
        with read_only(self._factory) as session:
            peers = [Peer(row.id, row.url) for row in list_peers(session) if row.url]
        if only is not None:
            peers = [p for p in peers if p.node_id == only]
            if not peers:
                raise PeerError(f"no peer {only!r} with a URL to pull from")
        return peers

    def pull_peer(self, peer: Peer) -> PeerOutcome:
        """Pull one peer now; a failure is recorded on the peer and returned, not raised."""
        store = DatabaseStore(self._factory, node_id=self._node_id)
        ring = self._node_keys.ring()
        try:
            keys = store.pinned_keys()
            with PeerClient(peer, key=ring.current, peer_keys=keys, timeout=self.timeout) as client:
                try:
                    result = pull(peer, store, client, limit=self.page_size)
                except PeerError:
                    # The peer may have rotated its key: learn it from its signed statement.
                    rotations = refresh_rotations(client, keys)
                    if not rotations:
                        raise
                    with transaction(self._factory) as session:
                        apply_batch(
                            session, Batch(rotations=rotations), sender=peer.node_id, now=utcnow()
                        )
                    result = pull(peer, store, client, limit=self.page_size)
        except PeerError as error:
            store.record_failure(peer.node_id, str(error))
            log.warning("sync from %s failed: %s", peer.node_id, error)
            return PeerOutcome(peer.node_id, error=str(error))
        except Exception as error:  # a batch this node failed to store: shown, retried later
            log.exception("sync from %s failed while storing", peer.node_id)
            message = f"could not store a batch: {type(error).__name__}"
            store.record_failure(peer.node_id, message)
            return PeerOutcome(peer.node_id, error=message)
        log.info(
            "sync from %s: %d accepted, %d rejected, %d unchanged",
            peer.node_id,
            result.accepted,
            result.rejected,
            result.unchanged,
        )
        return PeerOutcome(peer.node_id, result=result)

    def run_pass(self, *, only: str | None = None, wait: bool = True) -> list[PeerOutcome] | None:
        """Pull every peer (or ``only`` one) once; None when another runner holds the lock."""
        with runner_lock(self._engine, self._data_dir, wait=wait) as acquired:
            if not acquired:
                return None
            outcomes = [self.pull_peer(peer) for peer in self._peers(only)]
            self.announce()
            return outcomes

    def announce(self, *, skip: Collection[str] = ()) -> None:
        """Tell each peer, once, that this node has revisions it has not announced yet.

        ``skip`` names peers to leave alone for now (those in back-off after a failure).
        """
        with read_only(self._factory) as session:
            highest = session.scalar(select(func.max(AdvisoryRevision.seq))) or 0
            stale = [
                (Peer(row.id, row.url), row.announced_seq)
                for row in list_peers(session)
                if row.url and row.announced_seq < highest and row.id not in skip
            ]
            keys = load_pinned_keys(session)
        if not stale:
            return
        ring = self._node_keys.ring()
        for peer, _ in stale:
            try:
                with PeerClient(peer, key=ring.current, peer_keys=keys, timeout=5.0) as client:
                    client.notify()
            except PeerError as error:
                log.info("could not notify %s: %s", peer.node_id, error)
                continue
            with transaction(self._factory) as session:
                session.execute(
                    update(PeerRow).where(PeerRow.id == peer.node_id).values(announced_seq=highest)
                )

    def _due(self, now: float, notified: Mapping[str, datetime]) -> list[Peer]:
        due = []
        for peer in self._peers(None):
            schedule = self._schedules.setdefault(peer.node_id, _Schedule())
            if now >= schedule.due or peer.node_id in notified:
                due.append(peer)
        return due

    def run_forever(
        self, stop: threading.Event, *, tick: float = 1.0, only: str | None = None
    ) -> None:
        """Pull peers (or ``only`` one) when due: every ``interval``, at once when notified,
        after a failure with back-off; until ``stop``."""
        while not stop.is_set():
            try:
                self._tick(time.monotonic(), only=only)
            except Exception:  # the loop must outlive any one failure; it is logged
                log.exception("sync pass failed")
            stop.wait(tick)

    def _tick(self, now: float, *, only: str | None = None) -> None:
        with read_only(self._factory) as session:
            notified = {
                row.id: row.notified_at
                for row in list_peers(session)
                if row.notified_at is not None
                and (row.last_pull_at is None or row.notified_at >= row.last_pull_at)
            }
        due = [p for p in self._due(now, notified) if only is None or p.node_id == only]
        with runner_lock(self._engine, self._data_dir, wait=False) as acquired:
            if not acquired:
                return
            for peer in due:
                outcome = self.pull_peer(peer)
                schedule = self._schedules[peer.node_id]
                schedule.failing = outcome.error is not None
                if outcome.error is None:
                    schedule.due = now + self.interval
                    schedule.delays = backoff_delays(base=2.0, cap=300.0)
                else:
                    schedule.due = now + next(schedule.delays)
            failing = {
                peer_id
                for peer_id, schedule in self._schedules.items()
                if schedule.due > now and schedule.failing
            }
            self.announce(skip=failing)
