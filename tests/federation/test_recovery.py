"""Crashes and outages between real nodes (issue 4, acceptance point 4).

A receiver killed with SIGKILL in the middle of a sync loses nothing and stores nothing twice
once restarted: each page is stored with the cursor in one transaction. A peer that is down
is retried with back-off and caught up when it returns; a peer's notify makes a node pull at
once instead of waiting for its interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import func, select

from federation.keys import KeyRing
from service.access.models import User
from service.access.principal import principal_for
from service.advisories.models import Advisory, AdvisoryRevision
from service.advisories.schemas import AdvisoryCreate, AdvisoryUpdate
from service.advisories.service import create_advisory, update_advisory
from service.db import transaction, utcnow
from service.peering.models import Peer
from tests.factories import advisory_payload
from tests.federation.cluster import ANALYST, Cluster, Node

FIVE_EYES = "five-eyes"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def wait_for(what: str, check: Callable[[], bool], *, timeout: float, every: float = 0.2) -> float:
    """Poll ``check`` until it holds; the seconds it took. Fails naming ``what`` on timeout."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(every)
    return time.monotonic() - start


def bulk_publish(node: Node, count: int, *, revise_every: int) -> None:
    """``count`` published five-eyes advisories on ``node``, every ``revise_every``-th revised
    once, written with the node's own domain functions and key (the API would take minutes)."""
    ring = KeyRing.load(node.data_dir)
    now = utcnow()
    with node.database() as factory, transaction(factory) as session:
        user = session.scalars(
            select(User).where(User.email == ANALYST.format(node=node.node_id))
        ).one()
        principal = principal_for(user)
        for n in range(count):
            body = advisory_payload(status="published", summary=f"Advisory number {n}.")
            document = create_advisory(
                session,
                principal=principal,
                node_id=node.node_id,
                advisory_in=AdvisoryCreate.model_validate(body),
                now=now,
                key=ring.current,
            )
            if n % revise_every == 0:
                update_advisory(
                    session,
                    principal=principal,
                    node_id=node.node_id,
                    advisory_id=document["id"],
                    changes_in=AdvisoryUpdate(base_revision=1, risk="high"),
                    now=now,
                    key=ring.current,
                )


def revisions_in_order(node: Node) -> list[tuple[str, int, str]]:
    """(advisory id, revision, stored text) of every revision the node holds, in its own
    change order (for the origin: the order its feed serves them)."""
    with node.database() as factory, factory() as session:
        rows = session.execute(
            select(Advisory.id, AdvisoryRevision.revision, AdvisoryRevision.document)
            .join(Advisory, Advisory.pk == AdvisoryRevision.advisory_pk)
            .order_by(AdvisoryRevision.seq)
        ).all()
    return [(advisory_id, revision, text) for advisory_id, revision, text in rows]


def revision_count(node: Node) -> int:
    with node.database() as factory, factory() as session:
        return session.scalar(select(func.count()).select_from(AdvisoryRevision)) or 0


def peer_status(node: Node, peer: str) -> dict[str, Any]:
    rows = [row for row in node.status()["peers"] if row["node_id"] == peer]
    assert len(rows) == 1, node.status()
    return rows[0]


def kill_mid_sync(uk: Node, total: int, *, above: int) -> int:
    """SIGKILL uk's server once its sync loop has stored more than ``above`` revisions but not
    all ``total``; how many it had stored (committed) when it died."""
    with uk.database() as factory:

        def count() -> int:
            with factory() as session:
                return session.scalar(select(func.count()).select_from(AdvisoryRevision)) or 0

        deadline = time.monotonic() + 60
        while (seen := count()) <= above:
            assert time.monotonic() < deadline, f"uk's sync loop stored nothing past {above}"
            time.sleep(0.01)
        assert seen < total, f"uk finished ({seen} of {total}) before it could be killed"
        uk.kill()
        return count()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_receiver_killed_mid_sync_loses_nothing_and_stores_nothing_twice(
    nodes: Cluster, backend: str
) -> None:
    ca = nodes.add("ca")
    # Small pages make the sync a long run of batches, so the kill lands in the middle.
    uk = nodes.add("uk", backend=backend, sync_interval_seconds="0.5", sync_page_size="2")
    bulk_publish(ca, 150, revise_every=3)
    origin = revisions_in_order(ca)
    total = len(origin)
    assert total == 200
    nodes.group(FIVE_EYES, ["ca", "uk"])
    nodes.peer("ca", "uk")  # from here on uk's own sync loop pulls ca

    stored_before = 0
    for _ in range(2):
        # About a fifth further into the run each time (it takes a few seconds in all).
        stored = kill_mid_sync(uk, total, above=stored_before + 40)
        # What uk committed before it died is exactly a prefix of ca's feed, in order, each
        # revision as ca signed it, and the accepted count moved with it.
        assert revisions_in_order(uk) == origin[:stored]
        assert stored > stored_before
        with uk.database() as factory, factory() as session:
            accepted = session.scalar(select(Peer.accepted_count).where(Peer.id == "ca"))
        assert accepted == stored
        stored_before = stored
        uk.start()

    wait_for("uk holds all of ca's revisions", lambda: revision_count(uk) >= total, timeout=120)
    held = revisions_in_order(uk)
    assert held == origin  # everything, once, in ca's order, byte for byte
    assert {a["id"] for a in uk.advisories()} == {a["id"] for a in ca.advisories()}
    status = uk.status()
    assert status["quarantine"]["count"] == 0
    ca_row = peer_status(uk, "ca")
    assert (ca_row["accepted"], ca_row["rejected"], ca_row["last_error"]) == (total, 0, None)
    # A further pass finds nothing new and changes nothing.
    assert "0 accepted, 0 rejected, 0 unchanged" in uk.sync().stdout
    assert revisions_in_order(uk) == origin


def _attempt_times(
    uk: Node, *, after: int, attempts: int, timeout: float
) -> list[tuple[datetime, int]]:
    """(time, consecutive failures) of uk's failed pulls of ca once more than ``after`` have
    failed, each seen once, until a gap between two of them is longer than one tick of the
    loop (back-off), or ``attempts`` are seen."""
    seen: list[tuple[datetime, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(seen) < attempts:
        row = peer_status(uk, "ca")
        if row["consecutive_failures"] > after and (
            not seen or row["consecutive_failures"] > seen[-1][1]
        ):
            stamp = row["last_pull_at"]
            seen.append(
                (datetime.fromisoformat(stamp.replace("Z", "+00:00")), row["consecutive_failures"])
            )
            if len(seen) >= 2 and (seen[-1][0] - seen[-2][0]).total_seconds() > 1.8:
                return seen
        time.sleep(0.1)
    return seen


def test_a_peer_that_is_down_is_retried_with_back_off_and_caught_up(nodes: Cluster) -> None:
    ca, uk = nodes.add("ca"), nodes.add("uk")
    nodes.group(FIVE_EYES, ["ca", "uk"])
    nodes.peer("ca", "uk")
    first = ca.publish()
    assert "1 accepted" in uk.sync().stdout
    ca.stop()

    failed = uk.sync(check=False)
    assert failed.returncode != 0
    assert "ca: failed:" in failed.stdout
    row = peer_status(uk, "ca")
    assert row["consecutive_failures"] == 1
    assert row["last_error"]
    assert row["last_success_at"] is not None  # the earlier success is still on record

    # uk's server now runs its sync loop (every second when all is well).
    uk.stop()
    uk.env["TREX_SYNC_INTERVAL_SECONDS"] = "1"
    uk.start()
    seen = _attempt_times(uk, after=1, attempts=7, timeout=60)
    # Every attempt the loop made failed and was counted, each one seen here...
    assert [count for _, count in seen] == list(range(2, 2 + len(seen))), seen
    assert len(seen) >= 2, seen
    # ...and not every second: after a failure the next pull waits longer (full jitter makes
    # one short wait possible, not six in a row).
    gaps = [(b - a).total_seconds() for (a, _), (b, _) in pairwise(seen)]
    assert max(gaps) > 1.8, gaps

    ca.start()
    second = ca.publish()
    waited = wait_for(
        "uk catches up with ca",
        lambda: {a["id"] for a in uk.advisories()} == {first["id"], second["id"]},
        timeout=60,
    )
    row = peer_status(uk, "ca")
    assert (row["last_error"], row["consecutive_failures"], row["accepted"]) == (None, 0, 2), (
        row,
        waited,
    )


def test_a_notify_from_a_peer_makes_the_node_pull_at_once(nodes: Cluster) -> None:
    ca = nodes.add("ca")
    # Left to its interval, uk would pull ca again in an hour.
    uk = nodes.add("uk", sync_interval_seconds="3600")
    nodes.group(FIVE_EYES, ["ca", "uk"])
    nodes.peer("ca", "uk")
    wait_for(
        "uk's loop has made its first pull of ca",
        lambda: peer_status(uk, "ca")["last_success_at"] is not None,
        timeout=30,
    )
    published = ca.publish()
    time.sleep(3)  # several ticks of uk's loop: it does not pull on its own
    assert uk.advisories() == []

    # ca's runner pulls its peers, then tells them it has news.
    assert "uk: 0 accepted" in ca.sync().stdout
    wait_for("uk pulls after ca's notify", lambda: uk.advisories() == [published], timeout=30)
    assert peer_status(uk, "ca")["accepted"] == 1
