"""The topology of deploy/compose.yaml as processes: three nodes (us, uk, ca), each on its own
PostgreSQL database, each served by ``trex-node serve`` with no sync loop inside it and pulled by
a separate ``trex-node sync --interval 1`` worker, peered and grouped with the real commands.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.federation.cluster import Cluster, Node, cluster
from tests.node_process import STOP_TIMEOUT, TREX_NODE

NODES = ("us", "uk", "ca")
ARRIVAL_TIMEOUT = 10.0


@contextmanager
def sync_worker(node: Node) -> Iterator[subprocess.Popen[bytes]]:
    """``trex-node sync --interval 1`` for ``node``, as its own service would run it; stopped
    with SIGTERM (what the service manager sends) at the end."""
    log = node.data_dir / "sync.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [str(TREX_NODE), "sync", "--interval", "1"],
            env=node.env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
    # The worker stops cleanly on SIGTERM, as a service manager expects.
    assert process.returncode == 0, log.read_text(errors="replace")


def _holds(node: Node, advisory_id: str) -> bool:
    return any(item["id"] == advisory_id for item in node.advisories())


def _wait_for(nodes: list[Node], advisory_id: str, workers: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + ARRIVAL_TIMEOUT
    waiting = list(nodes)
    while waiting and time.monotonic() < deadline:
        assert all(w.poll() is None for w in workers), "a sync worker exited"
        waiting = [node for node in waiting if not _holds(node, advisory_id)]
        if waiting:
            time.sleep(0.2)
    logs = "\n".join(
        f"--- {n.node_id}\n" + (n.data_dir / "sync.log").read_text(errors="replace")
        for n in waiting
    )
    assert not waiting, f"not received within {ARRIVAL_TIMEOUT} s:\n{logs}"


@pytest.mark.postgres
def test_three_nodes_on_their_own_databases_share_through_separate_sync_workers(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with cluster(tmp_path, request) as nodes, ExitStack() as workers:
        for node_id in NODES:
            # Each node gets a fresh PostgreSQL database of its own and a served web process
            # with TREX_SYNC_INTERVAL_SECONDS=0, as the compose file's web service.
            nodes.add(node_id, backend="postgresql")
        assert len({nodes[n].env["TREX_DATABASE_URL"] for n in NODES}) == len(NODES)
        _peer_everyone(nodes)
        nodes.group("five-eyes", list(NODES))

        published = nodes["ca"].publish()
        # The web processes never pull: until the workers start, no peer was ever pulled.
        time.sleep(1.0)
        for node_id in NODES:
            assert [p["last_pull_at"] for p in nodes[node_id].status()["peers"]] == [None, None]
        assert not _holds(nodes["us"], published["id"])

        running = [workers.enter_context(sync_worker(nodes[n])) for n in NODES]
        _wait_for([nodes["us"], nodes["uk"]], published["id"], running)

        for node_id in ("us", "uk"):
            received = {a["id"]: a for a in nodes[node_id].advisories()}
            assert received[published["id"]] == published
            ca_peer = next(p for p in nodes[node_id].status()["peers"] if p["node_id"] == "ca")
            assert ca_peer["last_error"] is None
            assert ca_peer["accepted"] == 1


def _peer_everyone(nodes: Cluster) -> None:
    for index, here in enumerate(NODES):
        for there in NODES[index + 1 :]:
            nodes.peer(here, there)
