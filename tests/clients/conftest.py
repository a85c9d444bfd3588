"""One served demo node for the whole ``tests/clients`` package: the SDK and the ``trex``
command talk to it over real HTTP, as they would to any node.

It is started once (package scope) and on SQLite only: what a client sees does not depend on
the node's database, which the node's own tests cover on both backends. Tests that write
(publish, review) add to it, so every test asserts what holds whatever else ran before it.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from service.demo import DEMO_USERS, demo_advisories
from tests.node_process import backend_environment, demo_tokens, run_node_command, served_node

TREX = Path(sys.executable).parent / "trex"
"""The ``trex`` command, installed into the project's virtual environment by ``make venv``."""
READER = "reader@example.edu"
ANALYST = "analyst@example.edu"
POLY_READER = "reader@poly.example"


@dataclass(frozen=True)
class Node:
    base_url: str
    tokens: dict[str, str]

    def token(self, email: str) -> str:
        return self.tokens[email]


@pytest.fixture(scope="package")
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    data_dir = tmp_path_factory.mktemp("sdk-node")
    with backend_environment("sqlite", data_dir, request) as env:
        tokens = demo_tokens(run_node_command(["demo"], env).stdout)
        assert set(tokens) == {user.email for user in DEMO_USERS}
        with served_node(env, data_dir / "serve.log") as served:
            yield Node(served.base_url, tokens)


def published_demo_names() -> set[str]:
    """Subjects of the demo's published advisories (the vetted reader sees every one)."""
    return {a["subject"]["name"] for a in demo_advisories() if a["status"] == "published"}


_NEW_ADVISORY: dict[str, Any] = {
    "status": "published",
    "tier": "academia",
    "tlp": "green",
    "scope": ["five-eyes"],
    "subject": {
        "name": "Example Institute of Marine Acoustics",
        "names": [{"value": "EIMA", "type": "acronym"}],
        "country": "NZ",
        "kind": "research_institute",
        "identifiers": {},
    },
    "risk": "medium",
    "confidence": "moderate",
    "categories": ["defence_lab"],
    "technologies": ["acoustics"],
    "recommended_action": "due_diligence",
    "summary": "A test advisory written by the client tests.",
    "sources": [{"title": "Client test", "url": "https://example.org/"}],
}


def new_advisory(name: str) -> dict[str, Any]:
    """A valid advisory to publish, about a subject called ``name``."""
    document = copy.deepcopy(_NEW_ADVISORY)
    document["subject"]["name"] = name
    return document
