"""Named counters (``service.sequence``): gap-free numbers, one sequence per name."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session, sessionmaker

from service.advisories.service import allocate_sequence
from service.db import read_only, transaction
from service.sequence import ChangeCounter, allocate


def counters(factory: sessionmaker[Session]) -> dict[str, int]:
    with read_only(factory) as session:
        rows = session.execute(select(ChangeCounter.name, ChangeCounter.value))
        return {name: value for name, value in rows}


def test_the_migrations_seed_each_counter_at_zero(session_factory: sessionmaker[Session]) -> None:
    assert counters(session_factory) == {"revisions": 0, "audit": 0}


def test_each_name_counts_on_its_own(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        assert allocate(session, "revisions") == 1
        assert allocate(session, "revisions", 10) == 11
        assert allocate(session, "audit") == 1
        assert allocate_sequence(session) == 12, "the advisories' name for 'revisions'"
    assert counters(session_factory) == {"revisions": 12, "audit": 1}


def test_a_rollback_gives_the_numbers_back(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        allocate(session, "audit", 5)
        session.rollback()
    with transaction(session_factory) as session:
        assert allocate(session, "audit") == 1


def test_an_unknown_name_or_a_count_below_one_is_refused(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        with pytest.raises(NoResultFound):
            allocate(session, "no-such-counter")
        with pytest.raises(ValueError, match="at least 1"):
            allocate(session, "audit", 0)
    assert counters(session_factory) == {"revisions": 0, "audit": 0}
