"""One sync runner per node, however many processes try: the lock every pass takes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.db import utcnow
from service.peering.runner import SyncRunner, runner_lock
from service.peering.service import NodeKeys


def test_a_second_runner_waits_for_the_first(engine: Engine, tmp_path: Path) -> None:
    # PostgreSQL: an advisory lock, held by a connection; SQLite: a file lock in the data dir.
    with runner_lock(engine, tmp_path, wait=False) as first:
        assert first
        with runner_lock(engine, tmp_path, wait=False) as second:
            assert not second
    with runner_lock(engine, tmp_path, wait=False) as again:
        assert again


def test_a_pass_is_skipped_while_another_runner_holds_the_lock(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    runner = SyncRunner(
        engine=engine,
        factory=session_factory,
        data_dir=tmp_path,
        node_id="test",
        node_keys=NodeKeys(tmp_path, "test", now=utcnow()),
    )
    with runner_lock(engine, tmp_path, wait=False):
        assert runner.run_pass(wait=False) is None
    assert runner.run_pass(wait=False) == []  # no peers yet: a pass that pulled nobody
