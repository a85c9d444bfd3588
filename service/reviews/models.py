"""``reviews``: one stored collaboration review, private to the org of the member who ran it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime


class Review(Base):
    """A review as it was run: what the member described and what the node answered then.

    ``input`` and ``result`` are kept as given and computed; reads check again that every
    advisory the result cites is still visible to the reader before showing it.
    """

    __tablename__ = "reviews"
    # The org's reviews, newest first: the only way reviews are ever listed.
    __table_args__ = (Index("ix_reviews_org_id_created_at", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    input: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
