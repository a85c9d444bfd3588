"""The migrations and the models describe the same schema, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from service.access.models import Org
from service.db import make_engine
from service.migrate import current_revision, head_revision, upgrade
from service.models import metadata


@pytest.fixture
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _schema_snapshot(engine: Engine) -> dict[str, Any]:
    """Tables with their columns, indexes, unique constraints and foreign keys."""
    inspector = inspect(engine)
    snapshot: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        snapshot[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "indexes": sorted(
                (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "foreign_keys": sorted(
                (f["name"] or "", tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
        }
    return snapshot


def test_models_and_migrations_agree(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == [], f"models and migrations disagree: {differences}"


def test_database_is_at_the_head_revision(migrated_engine: Engine) -> None:
    head = head_revision()
    assert head is not None
    assert current_revision(migrated_engine) == head


def test_upgrading_a_migrated_database_is_a_no_op(
    database_url: str, migrated_engine: Engine
) -> None:
    with Session(migrated_engine) as session, session.begin():
        session.add(Org(name="Kept across upgrades", kind="university", vetted_until=None))
    before = _schema_snapshot(migrated_engine)
    migrated_engine.dispose()  # SQLite: nothing of ours holds the file while alembic runs

    upgrade(database_url)
    upgrade(database_url)

    assert current_revision(migrated_engine) == head_revision()
    assert _schema_snapshot(migrated_engine) == before
    with Session(migrated_engine) as session:
        assert session.scalars(select(Org.name)).all() == ["Kept across upgrades"]


def test_an_empty_database_reports_no_revision(tmp_path: Path) -> None:
    """The readiness probe relies on this: an unmigrated database is not at head."""
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert current_revision(engine) is None
    finally:
        engine.dispose()
