"""``audit_log``: one row per recorded action, chained by SHA-256 in ``seq`` order."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, Text
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
