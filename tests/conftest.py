"""Fixtures shared by the whole suite: databases on both backends, the app, members."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.app import create_app
from service.db import make_engine, make_session_factory
from service.settings import Settings
from tests.databases import PostgresDatabases, SqliteDatabases, postgres_server_url
from tests.factories import Members, make_members

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pass settings explicitly; a developer's own TREX_* variables must not leak in."""
    for name in list(os.environ):
        if name.startswith("TREX_") and name != "TREX_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(postgres_server_url())
    yield databases
    databases.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database of the test's backend."""
    if backend == "sqlite":
        sqlite: SqliteDatabases = request.getfixturevalue("sqlite_databases")
        yield sqlite.fresh(tmp_path)
        return
    postgres: PostgresDatabases = request.getfixturevalue("postgres_databases")
    yield postgres.shared()
    postgres.reset()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        node_id="test",
        node_name="Test node",
        node_country="CA",
        # Tests fire hundreds of requests a second from one client; tests/hardening/ sets limits.
        rate_limit_token_per_second=0,
        rate_limit_address_per_second=0,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.resolved_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def members(session_factory: sessionmaker[Session]) -> Members:
    """The demo's orgs and users, each with a token."""
    return make_members(session_factory)
