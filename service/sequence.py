"""Named, gap-free counters: one locked row per sequence.

Allocating from one row (rather than a database sequence) makes numbers commit in the order
they are handed out, with no gaps: the increment is part of the caller's transaction, so a
rollback returns the numbers, and a second writer waits on the row lock until the first one
commits. Readers paging by such a number never skip a late commit, and a chain built in
number order (the audit log) never forks.

Rows are seeded by the migrations (``revisions``, ``audit``). A transaction that allocates from
several counters takes them in one fixed order, ``revisions`` before ``audit``, so that two
writers never wait on each other in a cycle.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.db import Base

__all__ = ["ChangeCounter", "allocate"]


class ChangeCounter(Base):
    """The highest number handed out so far by each named sequence."""

    __tablename__ = "change_counter"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


def allocate(session: Session, name: str, count: int = 1) -> int:
    """Reserve ``count`` numbers of the sequence ``name`` and return the highest.

    The row stays locked until the caller's transaction ends: on PostgreSQL other allocators of
    ``name`` wait for it, and on SQLite this takes the database's write lock.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    return session.execute(
        update(ChangeCounter)
        .where(ChangeCounter.name == name)
        .values(value=ChangeCounter.value + count)
        .returning(ChangeCounter.value)
    ).scalar_one()
