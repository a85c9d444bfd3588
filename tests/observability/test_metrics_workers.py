"""``/metrics`` of a node served by several worker processes (``trex-node serve --workers 2``):
whichever worker answers a scrape, it counts every worker's requests.

Which worker served a request is read from its access log line (``pid``), found by the request's
``X-Request-ID``; once that line is written, so is the request's latency.
"""

from __future__ import annotations

import json
import stat
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.cli import METRICS_DIRECTORY
from tests.node_process import (
    NODE_BACKENDS,
    ServedNode,
    backend_environment,
    demo_tokens,
    node_environment,
    run_node_command,
    served_node,
)

OPERATOR = "operator@node.example"
REQUESTS = 30
ROUND = 10
MAX_REQUESTS = 300
LOG_TIMEOUT = 10.0
COUNT = "trex_http_request_duration_seconds_count"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True)
class WorkersNode:
    served: ServedNode
    data_dir: Path
    token: str


@pytest.fixture(scope="module", params=NODE_BACKENDS)
def two_workers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkersNode]:
    data_dir = tmp_path_factory.mktemp("two-workers")
    with backend_environment(request.param, data_dir, request) as env:
        token = demo_tokens(run_node_command(["demo"], env).stdout)[OPERATOR]
        # Left by an earlier run: not metric files at all, so kept they would break scrapes.
        stale = data_dir / METRICS_DIRECTORY
        stale.mkdir()
        (stale / "histogram_1.db").write_bytes(b"not a metrics file")
        with served_node(env, data_dir / "serve.log", workers=2) as node:
            yield WorkersNode(node, data_dir, token)


def _served_by(node: ServedNode, request_id: str) -> int:
    """The pid of the worker that served ``request_id``, once its access log line is written."""
    deadline = time.monotonic() + LOG_TIMEOUT
    while True:
        for line in node.output().splitlines():
            if request_id in line and line.startswith("{"):
                entry = json.loads(line)
                if entry.get("logger") == "trex.request" and entry["request_id"] == request_id:
                    return int(entry["pid"])
        if time.monotonic() > deadline:
            raise AssertionError(f"no access log line for {request_id}:\n{node.output()}")
        time.sleep(0.02)


def _get(node: ServedNode, path: str, request_id: str, token: str | None = None) -> httpx.Response:
    """One request on a connection of its own, so the kernel picks the worker each time."""
    headers = {"X-Request-ID": request_id}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(node.base_url + path, headers=headers, timeout=10.0)


def _samples(text: str) -> Samples:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _count(samples: Samples, route: str) -> float:
    return samples.get((COUNT, (("method", "GET"), ("route", route), ("status", "2xx"))), 0.0)


def test_every_scrape_counts_every_workers_requests(two_workers: WorkersNode) -> None:
    node = two_workers.served
    served: Counter[int] = Counter()
    sent = 0
    # The kernel hands each connection to either worker, and on a busy machine may hand many
    # in a row to one: requests go in concurrent rounds until both have served some.
    with ThreadPoolExecutor(max_workers=ROUND) as pool:
        while sent < REQUESTS or (len(served) < 2 and sent < MAX_REQUESTS):
            ids = [f"health-{sent + n}" for n in range(ROUND)]
            for response in pool.map(lambda rid: _get(node, "/healthz", rid), ids):
                assert response.status_code == 200
            served.update(_served_by(node, rid) for rid in ids)
            sent += ROUND
    assert len(served) == 2, f"one worker served all {sent} requests: {served}"

    answered: list[int] = []
    first_scrapes = None
    # Until both workers have answered (the kernel hands each connection to either).
    for i in range(MAX_REQUESTS):
        response = _get(node, "/metrics", f"scrape-{i}", two_workers.token)
        assert response.status_code == 200, response.text
        answered.append(_served_by(node, f"scrape-{i}"))
        samples = _samples(response.text)
        assert _count(samples, "/healthz") == sent
        # Every earlier scrape, whoever answered it; this one is counted once answered.
        if first_scrapes is None:
            first_scrapes = _count(samples, "/metrics")
        assert _count(samples, "/metrics") == first_scrapes + i
        # The scrape itself is the only request in flight, on either worker.
        assert samples[("trex_http_requests_in_flight", ())] == 1
        # One index per worker, each labelled with its process.
        index_pids = {
            int(dict(labels)["pid"])
            for name, labels in samples
            if name == "trex_screening_index_subjects"
        }
        assert index_pids == set(served)
        # Families computed at scrape time come once, from the answering worker only.
        types = [line for line in response.text.splitlines() if line.startswith("# TYPE ")]
        assert len(types) == len(set(types)), "a metric family appears twice"
        assert "# TYPE trex_federation_quarantine_records gauge" in types
        assert "# TYPE trex_federation_equivocation_alerts gauge" in types
        assert samples[("trex_metrics_database_up", ())] == 1
        if i >= 5 and set(answered) == set(served):
            break
    assert set(answered) == set(served), f"scrapes answered by {answered} only"


def test_metric_files_are_in_a_fresh_owner_only_directory(two_workers: WorkersNode) -> None:
    directory = two_workers.data_dir / METRICS_DIRECTORY
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    names = {path.name for path in directory.iterdir()}
    assert "histogram_1.db" not in names
    assert any(name.startswith("gauge_livesum_") for name in names)


def test_one_worker_keeps_metrics_in_memory_unless_the_operator_names_a_directory(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "node"
    env = node_environment(data_dir)
    token = demo_tokens(run_node_command(["demo"], env).stdout)[OPERATOR]
    with served_node(env, tmp_path / "one.log") as node:
        response = _get(node, "/metrics", "one-worker", token)
        assert response.status_code == 200
        samples = _samples(response.text)
        # As before multiprocess mode: the answering worker's index, without a pid label.
        assert ("trex_screening_index_subjects", ()) in samples
        assert samples[("trex_http_requests_in_flight", ())] == 1
    assert not (data_dir / METRICS_DIRECTORY).exists()

    # A gunicorn-style deployment names its own directory: used as it is, even for one worker.
    own = tmp_path / "operator-metrics"
    own.mkdir()
    (own / "README").write_text("the operator's", encoding="utf-8")
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(own)}
    with served_node(env, tmp_path / "own.log") as node:
        for i in range(3):
            assert _get(node, "/healthz", f"own-{i}").status_code == 200
        _served_by(node, "own-2")
        response = _get(node, "/metrics", "own-scrape", token)
        assert response.status_code == 200
        assert _count(_samples(response.text), "/healthz") == 3
        assert any(path.name.startswith("histogram_") for path in own.iterdir())
    assert (own / "README").read_text(encoding="utf-8") == "the operator's"
    assert not (data_dir / METRICS_DIRECTORY).exists()
