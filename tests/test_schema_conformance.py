"""The published API keeps its own promises: schemathesis against ``/openapi.json``.

For every operation, a few generated requests (``max_examples`` each, derandomised so a run is
repeatable) go to the app in-process, as a member org's reader. The node must never answer 5xx,
and every answer must be one the schema declares: its status code, its content type and, for
JSON, its body's schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.db import make_engine, make_session_factory
from service.settings import Settings
from tests.databases import SqliteDatabases
from tests.factories import make_members

READER = "reader@example.edu"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Node:
    app: FastAPI
    reader_auth: dict[str, str]


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, sqlite_databases: SqliteDatabases
) -> Iterator[Node]:
    """One node on SQLite for the whole run, with the demo's members; no rate limits."""
    data_dir = tmp_path_factory.mktemp("schema-node")
    settings = Settings(
        data_dir=data_dir,
        database_url=sqlite_databases.fresh(data_dir),
        node_id="test",
        node_name="Test node",
        node_country="CA",
        rate_limit_token_per_second=0,
        rate_limit_address_per_second=0,
    )
    engine = make_engine(settings.resolved_database_url)
    members = make_members(make_session_factory(engine))
    yield Node(create_app(settings), {"Authorization": f"Bearer {members.tokens[READER]}"})
    engine.dispose()


# Operations left out, each with the reason (a finding too big for a declaration fix).
EXCLUDED: dict[str, str] = {}
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def _run(operation: APIOperation, mode: GenerationMode, auth: dict[str, str]) -> None:
    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=5,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Case) -> None:
        case.call_and_validate(headers=auth, checks=CHECKS)

    call()


def test_every_operation_keeps_to_the_schema(node: Node) -> None:
    api = schemathesis.openapi.from_asgi("/openapi.json", node.app)
    failures: dict[str, str] = {}
    tested = 0
    for result in api.get_all_operations():
        operation = result.ok()
        if operation.label in EXCLUDED:
            continue
        tested += 1
        for mode in MODES:
            try:
                _run(operation, mode, node.reader_auth)
            except Unsatisfiable:
                # No invalid request can be made of an operation without inputs.
                continue
            except (Exception, BaseExceptionGroup) as exc:  # every finding, not the first only
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:3000]
    assert tested > 30
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
