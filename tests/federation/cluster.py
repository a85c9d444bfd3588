"""Several real nodes for federation tests: each its own data directory and database, served by
``trex-node serve`` on its own loopback port, configured through ``trex-node`` commands.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from service.access.service import add_org, add_user, create_token
from service.db import make_engine, make_session_factory, transaction, utcnow
from tests.factories import advisory_payload
from tests.node_process import (
    ServedNode,
    backend_environment,
    free_port,
    run_node_command,
    served_node,
)

ANALYST = "analyst@{node}.example"
PUBLISHER = "publisher@{node}.example"
OPERATOR = "operator@{node}.example"
READER = "reader@{node}.example"


@dataclass
class Node:
    """One node: its id, environment, served address, public key and tokens."""

    node_id: str
    data_dir: Path
    env: dict[str, str]
    port: int
    public_key: str = ""
    kid: str = ""
    fingerprint: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    served: ServedNode | None = None
    _stack: ExitStack | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str, check: bool = True) -> Any:
        """``trex-node ARGS`` for this node (its data directory, database and public URL)."""
        return run_node_command(list(args), self.env, check=check)

    def sync(self, *args: str, check: bool = True) -> Any:
        return self.run("sync", "--once", *args, check=check)

    def start(self) -> ServedNode:
        """Serve the node (again) on its own port; its sync runner is off unless configured."""
        assert self.served is None, "already serving"
        self._stack = ExitStack()
        self.served = self._stack.enter_context(
            served_node(self.env, self.data_dir / "serve.log", port=self.port)
        )
        return self.served

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack = None
        self.served = None

    def kill(self) -> None:
        """SIGKILL the serving process group: no shutdown, no cleanup."""
        assert self.served is not None
        os.killpg(self.served.pid, signal.SIGKILL)
        self.stop()

    def client(self, email: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[email]}"} if email else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def publish(self, email: str | None = None, **overrides: Any) -> dict[str, Any]:
        """Create an advisory through the API (published, five-eyes, green by default)."""
        payload = advisory_payload(
            **{"status": "published", "scope": ["five-eyes"], "tlp": "green", **overrides}
        )
        with self.client(email or ANALYST.format(node=self.node_id)) as client:
            response = client.post("/v1/advisories", json=payload)
        assert response.status_code == 201, response.text
        document: dict[str, Any] = response.json()
        return document

    def advisories(self, email: str | None = None, **params: str) -> list[dict[str, Any]]:
        """Every advisory the user (default: this node's reader) may list, all pages."""
        items: list[dict[str, Any]] = []
        cursor = None
        with self.client(email or READER.format(node=self.node_id)) as client:
            while True:
                query = {"status": "all", "limit": "500", **params}
                if cursor:
                    query["cursor"] = cursor
                response = client.get("/v1/advisories", params=query)
                assert response.status_code == 200, response.text
                body = response.json()
                items.extend(body["items"])
                cursor = body["next_cursor"]
                if not cursor:
                    return items

    def status(self) -> dict[str, Any]:
        with self.client(OPERATOR.format(node=self.node_id)) as client:
            response = client.get("/v1/federation/status")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    @property
    def database_url(self) -> str:
        return self.env.get("TREX_DATABASE_URL") or f"sqlite:///{self.data_dir / 'node.db'}"

    @contextmanager
    def database(self) -> Iterator[sessionmaker[Session]]:
        """Sessions on the node's own database, from the test process (engine disposed after)."""
        engine = make_engine(self.database_url)
        try:
            yield make_session_factory(engine)
        finally:
            engine.dispose()

    def add_member(self, email: str, *, org_name: str, kind: str, role: str, vetted: bool) -> str:
        """A user of a new org (vetted or not) with a token, as ``orgs/users/tokens`` add them."""
        with self.database() as factory, transaction(factory) as session:
            org = add_org(
                session,
                name=org_name,
                kind=kind,
                vetted_until=date(2099, 1, 1) if vetted else None,
            )
            add_user(session, email=email, org=org, role=role)
            token = create_token(session, email=email, now=utcnow(), ttl=timedelta(days=1))
        self.tokens[email] = token
        return token


def _add_members(node: Node) -> dict[str, str]:
    """Members written straight into the node's database with the domain functions the
    ``orgs``/``users``/``tokens`` commands use (those commands have their own tests)."""
    url = node.env.get("TREX_DATABASE_URL") or f"sqlite:///{node.data_dir / 'node.db'}"
    engine = make_engine(url)
    tokens = {}
    until = date(2099, 1, 1)
    try:
        with transaction(make_session_factory(engine)) as session:
            orgs = {
                "university": add_org(
                    session,
                    name=f"University of {node.node_id}",
                    kind="university",
                    vetted_until=until,
                ),
                "government": add_org(
                    session,
                    name=f"Agency of {node.node_id}",
                    kind="government",
                    vetted_until=until,
                ),
                "other": add_org(
                    session, name=f"Operations of {node.node_id}", kind="other", vetted_until=None
                ),
            }
            for template, kind, role in (
                (READER, "university", "reader"),
                (ANALYST, "university", "analyst"),
                (PUBLISHER, "government", "publisher"),
                (OPERATOR, "other", "operator"),
            ):
                email = template.format(node=node.node_id)
                add_user(session, email=email, org=orgs[kind], role=role)
                tokens[email] = create_token(
                    session, email=email, now=utcnow(), ttl=timedelta(days=1)
                )
    finally:
        engine.dispose()
    return tokens


class Cluster:
    """Nodes created on demand; every served one is stopped at the end."""

    def __init__(self, tmp_path: Path, request: pytest.FixtureRequest, stack: ExitStack) -> None:
        self._tmp = tmp_path
        self._request = request
        self._stack = stack
        self.nodes: dict[str, Node] = {}

    def __getitem__(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def add(
        self, node_id: str, *, backend: str = "sqlite", serve: bool = True, **settings: str
    ) -> Node:
        """A new node ``node_id``: initialised, with a vetted university (reader, analyst),
        a vetted government org (publisher) and an operator, each with a token."""
        data_dir = self._tmp / node_id
        env = self._stack.enter_context(backend_environment(backend, data_dir, self._request))
        port = free_port()
        env.update(
            {
                "TREX_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "TREX_SYNC_INTERVAL_SECONDS": "0",
                **{f"TREX_{k.upper()}": v for k, v in settings.items()},
            }
        )
        node = Node(node_id, data_dir, env, port)
        init = node.run(
            "init", "--node-id", node_id, "--name", f"Node {node_id}", "--country", "CA"
        )
        for line in init.stdout.splitlines():
            label, _, value = line.strip().partition(" ")
            if label in {"kid", "public", "fingerprint"}:
                setattr(
                    node,
                    {"kid": "kid", "public": "public_key", "fingerprint": "fingerprint"}[label],
                    value.split()[-1],
                )
        node.tokens = _add_members(node)
        self.nodes[node_id] = node
        if serve:
            node.start()
            self._stack.callback(node.stop)
        return node

    def peer(self, a: str, b: str, *, both: bool = True) -> None:
        """``a`` pins ``b``'s key and pulls from it (and the other way round with ``both``)."""
        pairs = [(a, b), (b, a)] if both else [(a, b)]
        for here, there in pairs:
            other = self.nodes[there]
            self.nodes[here].run(
                "peers", "add", there, "--url", other.url, "--public-key", other.public_key
            )

    def trust(self, here: str, origin: str) -> None:
        """``here`` pins ``origin``'s key without pulling from it (records arrive by relay)."""
        other = self.nodes[origin]
        self.nodes[here].run(
            "peers", "add", origin, "--public-key", other.public_key, "--kid", other.kid
        )

    def group(self, name: str, members: list[str], *, on: list[str] | None = None) -> None:
        """Configure group ``name`` with ``members`` on each node of ``on`` (default: members)."""
        args = [arg for member in members for arg in ("--member", member)]
        for node_id in on or members:
            self.nodes[node_id].run("groups", "add", name, *args)


@contextmanager
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    with ExitStack() as stack:
        yield Cluster(tmp_path, request, stack)


@pytest.fixture
def nodes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A cluster of real nodes for one test."""
    with cluster(tmp_path, request) as built:
        yield built
