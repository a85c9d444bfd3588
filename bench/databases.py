"""Throw-away databases for a benchmark run: a SQLite file, or a fresh PostgreSQL database.

Each is migrated with ``alembic upgrade head``, as a node's database is, and removed afterwards.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from service.migrate import upgrade

POSTGRES_ENV = "TREX_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class Unavailable(Exception):
    """The backend cannot be benchmarked here; the message says why."""


@contextmanager
def sqlite_database() -> Iterator[str]:
    """The URL of a migrated SQLite file in a temporary directory, deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="trex-bench-") as directory:
        url = f"sqlite:///{Path(directory) / 'node.db'}"
        upgrade(url)
        yield url


def postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a new, migrated database on the server, dropped afterwards.

    Raises ``Unavailable`` when the server cannot be reached or will not create a database.
    """
    server = make_url(postgres_server_url())
    shown = server.render_as_string(hide_password=True)
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"trex_bench_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise Unavailable(f"cannot create a database on {shown}: {reason}") from exc
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
