"""Fresh, migrated databases for tests: a SQLite file, or a PostgreSQL database.

Each backend is migrated once per session (``alembic upgrade head``) into a template; every
test then gets its own copy, so tests never share state and order never matters.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from service.migrate import upgrade
from service.models import metadata

POSTGRES_ENV = "TREX_TEST_POSTGRES_URL"
ENABLE_POSTGRES_HINT = (
    f"PostgreSQL tests are off: set {POSTGRES_ENV}="
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres to run them"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def postgres_server_url() -> str:
    """The PostgreSQL URL from the environment; a failure in CI, a skip elsewhere."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if in_ci():
            pytest.fail(f"{POSTGRES_ENV} is not set in CI: PostgreSQL tests must run")
        pytest.skip(ENABLE_POSTGRES_HINT)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class SqliteDatabases:
    def __init__(self, root: Path) -> None:
        self.template = root / "template.db"
        upgrade(f"sqlite:///{self.template}")

    def fresh(self, directory: Path) -> str:
        target = directory / "node.db"
        shutil.copyfile(self.template, target)
        return f"sqlite:///{target}"


class PostgresDatabases:
    def __init__(self, server_url: str) -> None:
        self.server_url = make_url(server_url)
        self.admin = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        self.template_name = f"trex_tpl_{uuid.uuid4().hex[:12]}"
        self._shared: tuple[str, str] | None = None
        self._execute(f'CREATE DATABASE "{self.template_name}"')
        upgrade(self.url_for(self.template_name))
        self._seed = self._rows_written_by_migrations()

    def _rows_written_by_migrations(self) -> dict[str, list[dict[str, object]]]:
        engine = create_engine(self.url_for(self.template_name), poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return {
                    table.name: [dict(row._mapping) for row in connection.execute(table.select())]
                    for table in metadata.sorted_tables
                }
        finally:
            engine.dispose()

    def _execute(self, statement: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(statement))

    def url_for(self, name: str) -> str:
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def fresh(self) -> tuple[str, str]:
        name = f"trex_t_{uuid.uuid4().hex[:16]}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template_name}"')
        return name, self.url_for(name)

    def shared(self) -> str:
        """A database reused from test to test, emptied by ``reset`` after each one.

        Creating a database per test costs about half a second on PostgreSQL; emptying the
        tables costs a few milliseconds and isolates tests just as well, since they run one
        at a time.
        """
        if self._shared is None:
            self._shared = self.fresh()
        return self._shared[1]

    def reset(self) -> None:
        """Empty every table of the shared database and restart its sequences."""
        if self._shared is None:
            return
        tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        engine = create_engine(self._shared[1], poolclass=NullPool)
        try:
            with engine.begin() as connection:
                connection.execute(text("SET LOCAL lock_timeout = '5s'"))
                connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                for table in metadata.sorted_tables:
                    if self._seed[table.name]:
                        connection.execute(table.insert(), self._seed[table.name])
        except Exception:
            # A test left a connection holding a lock: start over with a new database.
            self.drop(self._shared[0])
            self._shared = None
        finally:
            engine.dispose()

    def drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self._shared is not None:
            self.drop(self._shared[0])
        self.drop(self.template_name)
        self.admin.dispose()
