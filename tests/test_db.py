"""The unit of work: a constraint the database refuses is a conflict, and nothing is kept."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.access.models import Org
from service.db import transaction
from service.errors import Conflict


def test_a_refused_constraint_is_a_conflict_and_rolls_back(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        session.add(Org(name="Twin University", kind="university"))

    def add_twin() -> None:
        # As a request that checked the name was free just before another request took it.
        with transaction(session_factory) as session:
            session.add(Org(name="Other University", kind="university"))
            session.add(Org(name="Twin University", kind="university"))

    with pytest.raises(Conflict):
        add_twin()

    with session_factory() as session:
        names = session.scalars(select(Org.name).order_by(Org.name)).all()
        assert names == ["Twin University"]
        assert session.scalar(select(func.count()).select_from(Org)) == 1
