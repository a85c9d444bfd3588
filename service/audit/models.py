"""``audit_log``: one row per recorded action, chained by SHA-256 in ``seq`` order; and
``audit_pending``, where PostgreSQL holds a running transaction's entries until its commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Identity, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime


class AuditEntry(Base):
    """One recorded action; never updated or deleted once written.

    ``hash`` covers every other column (``prev_hash`` included), so changing, removing or
    reordering a row breaks the chain at that row or the next. ``actor_org_id`` has no foreign
    key on purpose: the log outlives whatever it names, and must not stop an org's removal.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(320))
    actor_org_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(320), index=True)
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class PendingAuditEntry(Base):
    """An entry recorded by a transaction still running, chained when that transaction commits.

    PostgreSQL only (``service.audit.service`` explains why): a deferred trigger moves each row
    into ``audit_log`` at commit, in the order they were recorded, and deletes it, so committed
    data never holds a row here. ``head`` and ``tail`` are the entry's hashed text around
    ``prev_hash`` and ``seq``, which only the commit knows.
    """

    __tablename__ = "audit_pending"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(320))
    actor_org_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(320))
    detail: Mapped[str] = mapped_column(Text)
    head: Mapped[str] = mapped_column(Text)
    tail: Mapped[str] = mapped_column(Text)
