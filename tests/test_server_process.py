"""A real node: ``trex-node demo`` then ``trex-node serve``, spoken to over real HTTP.

Runs on the embedded SQLite file and on a fresh PostgreSQL database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from service.demo import DEMO_USERS, demo_advisories
from service.migrate import head_revision
from tests.node_process import (
    NODE_BACKENDS,
    backend_environment,
    demo_tokens,
    run_node_command,
    served_node,
)

PAGE = 5


@dataclass(frozen=True)
class DemoNode:
    base_url: str
    tokens: dict[str, str]

    def client(self, email: str | None = None, *, token: str | None = None) -> httpx.Client:
        if email is not None:
            token = self.tokens[email]
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10.0)


@pytest.fixture(scope="module", params=NODE_BACKENDS)
def demo_node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoNode]:
    """One served demo node per backend, shared by this module's read-only tests."""
    data_dir = tmp_path_factory.mktemp("demo-node")
    with backend_environment(request.param, data_dir, request) as env:
        tokens = demo_tokens(run_node_command(["demo"], env).stdout)
        assert set(tokens) == {user.email for user in DEMO_USERS}
        with served_node(env, data_dir / "serve.log") as node:
            yield DemoNode(node.base_url, tokens)


def _published() -> list[dict[str, Any]]:
    return [a for a in demo_advisories() if a["status"] == "published"]


def _all_pages(client: httpx.Client) -> tuple[list[dict[str, Any]], int]:
    """Every item of ``/v1/advisories?limit=PAGE``, following ``next_cursor``; and the pages."""
    items: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": PAGE}
    pages = 0
    while True:
        response = client.get("/v1/advisories", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= PAGE
        items.extend(body["items"])
        pages += 1
        assert pages <= 100, "the cursor never ends"
        if body["next_cursor"] is None:
            return items, pages
        params = {"limit": PAGE, "cursor": body["next_cursor"]}


def test_liveness_and_readiness(demo_node: DemoNode) -> None:
    with demo_node.client() as client:
        healthz = client.get("/healthz")
        readyz = client.get("/readyz")
    assert healthz.status_code == 200
    assert healthz.json() == {"status": "ok"}
    assert readyz.status_code == 200
    assert readyz.json() == {"status": "ok", "database": "reachable", "schema": head_revision()}


def test_me_names_the_reader(demo_node: DemoNode) -> None:
    with demo_node.client("reader@example.edu") as client:
        response = client.get("/v1/me")
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["email"] == "reader@example.edu"
    assert me["role"] == "reader"
    assert me["vetted"] is True
    assert me["org"]["name"] == "University of Example"
    assert me["org"]["kind"] == "university"


def test_anonymous_sees_only_tlp_clear(demo_node: DemoNode) -> None:
    with demo_node.client() as client:
        items, _ = _all_pages(client)
    expected = sorted(a["subject"]["name"] for a in _published() if a["tlp"] == "clear")
    assert expected, "the demo data should hold TLP:CLEAR advisories"
    assert {item["tlp"] for item in items} == {"clear"}
    assert sorted(item["subject"]["name"] for item in items) == expected


def test_vetted_reader_pages_through_every_published_advisory_once(demo_node: DemoNode) -> None:
    with demo_node.client("reader@example.edu") as client:
        items, pages = _all_pages(client)
    published = _published()
    assert len(published) == 24
    ids = [item["id"] for item in items]
    assert len(ids) == len(published)
    assert len(set(ids)) == len(ids), "an advisory came twice"
    assert pages == -(-len(published) // PAGE)
    assert {item["status"] for item in items} == {"published"}
    assert sorted(item["subject"]["name"] for item in items) == sorted(
        a["subject"]["name"] for a in published
    )
    # Every TLP level and both tiers are there: the reader's org is named in the restricted ones.
    assert {item["tlp"] for item in items} == {"clear", "green", "amber", "amber+strict", "red"}
    assert {item["tier"] for item in items} == {"academia", "government"}


def test_unvetted_reader_sees_less(demo_node: DemoNode) -> None:
    with demo_node.client("reader@poly.example") as client:
        items, _ = _all_pages(client)
        me = client.get("/v1/me").json()
    assert me["vetted"] is False
    expected = [
        a
        for a in _published()
        if a["tlp"] in ("clear", "green") and (a["tier"] == "academia" or a["tlp"] == "clear")
    ]
    assert 0 < len(items) < len(_published())
    assert len(items) == len(expected)
    assert len({item["id"] for item in items}) == len(items)
    assert not [i for i in items if i["tlp"] not in ("clear", "green")], "amber or above leaked"
    assert not [i for i in items if i["tier"] == "government" and i["tlp"] != "clear"]


@pytest.mark.parametrize(
    "token",
    [
        "trex_0123456789abcdef_not-the-secret-of-any-token",
        "trex_nonsense",
        "not-a-trex-token",
    ],
)
def test_a_bad_token_gets_401_problem(demo_node: DemoNode, token: str) -> None:
    with demo_node.client(token=token) as client:
        response = client.get("/v1/advisories")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    problem = response.json()
    assert problem["status"] == 401
    assert problem["title"]
    assert token not in response.text


def test_a_real_token_with_a_wrong_secret_gets_401(demo_node: DemoNode) -> None:
    real = demo_node.tokens["reader@example.edu"]
    forged = real[:-1] + ("A" if real[-1] != "A" else "B")
    with demo_node.client(token=forged) as client:
        response = client.get("/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
