"""Engine, sessions and the declarative base shared by every domain's models."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import DateTime, Engine, MetaData, Table, TypeDecorator, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from service.errors import Conflict

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def table_of(model: type[Base]) -> Table:
    """The model's table, for core inserts of plain rows.

    The ORM's insert path costs a third more per row, and such rows need nothing from it (no
    defaults, no events, keys read back by id).
    """
    return cast(Table, model.__table__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed during a write; the busy timeout queues writers instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


_CONNECT_TIMEOUT_SECONDS = 5


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for ``url``, with the per-connection settings each backend needs."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    # A database that stops answering (rather than refusing) must not hold requests forever.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # The connection used last is lent first: it has the node's statements prepared
        # already (psycopg prepares one on its fifth use), and idle ones can be let go.
        pool_use_lifo=True,
        connect_args={"connect_timeout": _CONNECT_TIMEOUT_SECONDS},
    )


_POSTGRES_DISK_FULL = "53100"


def out_of_storage(error: Exception) -> bool:
    """The database refused a write because its disk (or file system) is full."""
    if not isinstance(error, DBAPIError):
        return False
    cause = error.orig
    # Extended SQLite result codes keep the primary code in their low byte.
    code = getattr(cause, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_FULL:
        return True
    return getattr(cause, "sqlstate", None) == _POSTGRES_DISK_FULL


def database_unavailable(error: Exception) -> bool:
    """The database could not be reached, dropped the connection, or could not do the work
    now (restarting, busy, out of space): a condition of the moment, not a fault of the request.
    """
    if isinstance(error, PoolTimeout):
        return True
    return isinstance(error, OperationalError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit if the block succeeds, roll back if it raises.

    A constraint the database refuses (two concurrent requests creating the same org name,
    domain or user, which each checked was free) is a conflict with another change, not a fault.
    """
    try:
        with factory() as session, session.begin():
            yield session
    except IntegrityError as exc:
        raise Conflict(
            "The change conflicts with another one made at the same time; reload and retry."
        ) from exc


@contextmanager
def audited_read(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that reads, and records in the audit log what it showed.

    On PostgreSQL its statements commit one by one: the reads need no transaction around them,
    and the one write, the audit entry, is a single insert that its trigger chains as it
    commits (``service.audit.service``). That saves each such request the round trips of BEGIN
    and COMMIT. On SQLite an entry takes three statements, so this is a ``transaction`` there.
    """
    with factory() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session
            session.commit()
            return
    with transaction(factory) as session:
        yield session


@contextmanager
def read_only(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reading; whatever happens, nothing it did is committed."""
    with factory() as session:
        try:
            yield session
        finally:
            session.rollback()
