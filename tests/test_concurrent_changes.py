"""Concurrent changes to one advisory, against a real served node on each backend.

Clients change the same advisory from the same ``base_revision`` at the same moment (their
threads are released together by a barrier, each on its own warmed-up connection, while the
node serves requests on several threads): exactly one change wins, every other one gets 409,
and nothing is lost or written twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from tests.factories import advisory_payload
from tests.node_process import (
    NODE_BACKENDS,
    backend_environment,
    demo_tokens,
    run_node_command,
    served_node,
)

ANALYST = "analyst@example.edu"
ROUNDS = 5
BARRIER_TIMEOUT = 10.0


@dataclass(frozen=True)
class Writers:
    base_url: str
    token: str

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0)


@pytest.fixture(scope="module", params=NODE_BACKENDS)
def writers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Writers]:
    data_dir = tmp_path_factory.mktemp("race-node")
    with backend_environment(request.param, data_dir, request) as env:
        token = demo_tokens(run_node_command(["demo"], env).stdout)[ANALYST]
        with served_node(env, data_dir / "serve.log") as node:
            yield Writers(node.base_url, token)


def _create(writers: Writers) -> str:
    with writers.client() as client:
        response = client.post("/v1/advisories", json=advisory_payload())
    assert response.status_code == 201, response.text
    assert response.json()["revision"] == 1
    advisory_id: str = response.json()["id"]
    return advisory_id


@dataclass(frozen=True)
class Attempt:
    response: httpx.Response
    sent: float
    answered: float


def _all_in_flight_together(attempts: list[Attempt]) -> bool:
    """Whether some moment had every request sent and none answered yet: a real race."""
    return max(a.sent for a in attempts) < min(a.answered for a in attempts)


def _race(writers: Writers, advisory_id: str, contenders: int, tag: str) -> list[Attempt]:
    """Every contender PATCHes from revision 1 at once; the attempts, in contender order."""
    barrier = threading.Barrier(contenders)
    clients = [writers.client() for _ in range(contenders)]
    try:
        for client in clients:
            # Open the connection and authenticate now, so only the PATCH itself races.
            assert client.get("/v1/me").status_code == 200

        def change(index: int) -> Attempt:
            barrier.wait(timeout=BARRIER_TIMEOUT)
            sent = time.monotonic()
            response = clients[index].patch(
                f"/v1/advisories/{advisory_id}",
                json={"base_revision": 1, "summary": f"{tag}: the change of contender {index}."},
            )
            return Attempt(response, sent, time.monotonic())

        with ThreadPoolExecutor(max_workers=contenders) as pool:
            return list(pool.map(change, range(contenders)))
    finally:
        for client in clients:
            client.close()


def _check_one_winner(
    writers: Writers, advisory_id: str, attempts: list[Attempt], tag: str
) -> None:
    responses = [attempt.response for attempt in attempts]
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * (len(responses) - 1), [r.text for r in responses]
    winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
    won = responses[winner].json()
    assert won["revision"] == 2
    assert won["summary"] == f"{tag}: the change of contender {winner}."
    for response in responses:
        if response.status_code == 409:
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["status"] == 409
            assert [e["field"] for e in problem["errors"]] == ["base_revision"]

    with writers.client() as client:
        history = client.get(f"/v1/advisories/{advisory_id}/revisions")
        current = client.get(f"/v1/advisories/{advisory_id}")
    assert history.status_code == 200, history.text
    revisions = history.json()["items"]
    assert [r["revision"] for r in revisions] == [1, 2]
    assert revisions[1]["summary"] == won["summary"]
    assert current.json() == won


@pytest.mark.parametrize(("contenders", "rounds"), [(2, ROUNDS), (6, 2)])
def test_changes_from_the_same_revision_one_wins(
    writers: Writers, contenders: int, rounds: int
) -> None:
    raced = 0
    for round_number in range(rounds):
        advisory_id = _create(writers)
        tag = f"Round {round_number} of {contenders}"
        attempts = _race(writers, advisory_id, contenders, tag)
        _check_one_winner(writers, advisory_id, attempts, tag)
        raced += _all_in_flight_together(attempts)
    # Otherwise the requests merely ran one after the other and nothing was proven.
    assert raced, "in no round were the requests in flight at the same time"
