"""The database going away under load and coming back (issue 8, faults).

The shared PostgreSQL server keeps running (other tests use it): the node's own database
refuses connections and every one it had is terminated, as a restart looks from the node,
then it accepts connections again. Requests meanwhile fail fast and cleanly, the node recovers
on its own, and every write is there whole or not at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.databases import PostgresDatabases
from tests.faults.load import (
    SLOWEST_ANSWER,
    Load,
    assert_audit_chain_verifies,
    assert_clean_refusal,
    assert_writes_whole,
    every_kind,
    running,
    succeeded,
)
from tests.federation.cluster import Cluster, Node
from tests.federation.test_recovery import wait_for

pytestmark = pytest.mark.postgres

UNAVAILABLE_WORDS = ("database", "unavailable")


def terminate_connections(postgres: PostgresDatabases, database: str) -> int:
    """Kill every session on ``database`` (the node's pool and requests in flight)."""
    with postgres.admin.connect() as connection:
        killed = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database},
        ).scalar()
    return int(killed or 0)


def allow_connections(postgres: PostgresDatabases, database: str, *, allowed: bool) -> None:
    with postgres.admin.connect() as connection:
        connection.execute(
            text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        )


@contextmanager
def database_down(postgres: PostgresDatabases, database: str) -> Iterator[None]:
    """``database`` refuses new connections and has lost all it had, for the block."""
    allow_connections(postgres, database, allowed=False)
    try:
        terminate_connections(postgres, database)
        yield
    finally:
        allow_connections(postgres, database, allowed=True)


def readiness(node: Node) -> int:
    with httpx.Client(base_url=node.url, timeout=SLOWEST_ANSWER) as client:
        return client.get("/readyz").status_code


def test_requests_fail_cleanly_while_the_database_is_down_and_recover_without_a_restart(
    nodes: Cluster, postgres_databases: PostgresDatabases
) -> None:
    node = nodes.add("pg", backend="postgresql")
    database = make_url(node.env["TREX_DATABASE_URL"]).database
    assert database is not None
    node.publish()  # something to list and to find by screening
    assert readiness(node) == 200

    with running(Load(node, "pg")) as load:
        wait_for(
            "lists, screens and writes succeed before the outage",
            every_kind(load, 0.0, succeeded),
            timeout=15,
        )

        outage = time.monotonic()
        with database_down(postgres_databases, database):
            wait_for("/readyz reports not ready", lambda: readiness(node) == 503, timeout=5)
            wait_for(
                "a list, a screen and a write are each refused during the outage",
                every_kind(load, outage, lambda o: o.status == 503),
                timeout=15,
            )
            assert readiness(node) == 503

        back = time.monotonic()
        wait_for("/readyz reports ready again", lambda: readiness(node) == 200, timeout=10)
        wait_for(
            "lists, screens and writes succeed again, the node never restarted",
            every_kind(load, back, succeeded),
            timeout=15,
        )

        # Connections dropped with the database still accepting new ones (a fail-over, an
        # idle-session reaper): the next requests get new connections.
        blips = time.monotonic()
        for _ in range(3):
            assert terminate_connections(postgres_databases, database) > 0
            wait_for(
                "requests succeed after the connections were dropped",
                every_kind(load, time.monotonic(), succeeded),
                timeout=10,
            )
        after_blips = load.since(blips)

    outcomes = load.snapshot()
    refused = [o for o in outcomes if not succeeded(o)]
    # Every answer, fault or not, was a success or a clean 503 with Retry-After; none hung.
    for outcome in refused:
        assert_clean_refusal(outcome, 503, words=UNAVAILABLE_WORDS)
    slowest = max(outcomes, key=lambda o: o.seconds)
    assert slowest.seconds < SLOWEST_ANSWER, slowest.describe()
    # With the database still up, a dropped connection costs at most the requests in flight.
    assert sum(not succeeded(o) for o in after_blips) <= 3, [o.describe() for o in after_blips]

    # No write was half done: each is there whole, or not at all.
    landed = assert_writes_whole(node, outcomes)
    assert landed >= sum(o.status == 201 for o in outcomes) > 0
    listed = {a["subject"]["name"] for a in node.advisories()}
    assert {o.subject for o in outcomes if o.status == 201} <= listed
    assert_audit_chain_verifies(node)
