"""Advisories: a row of current state per advisory, and every revision ever written.

``advisories`` holds the latest revision's filterable columns so that lists are one indexed
query; ``advisory_revisions`` keeps each revision's full JSON, immutable, numbered by the node's
change sequence (the order the federation feed pages in).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime


class Advisory(Base):
    __tablename__ = "advisories"
    __table_args__ = (
        Index("ix_advisories_status_pk", "status", "pk"),
        Index("ix_advisories_country_status_pk", "country", "status", "pk"),
        Index("ix_advisories_risk_status_pk", "risk", "status", "pk"),
        Index("ix_advisories_tier_status_pk", "tier", "status", "pk"),
        Index("ix_advisories_origin_status_pk", "origin", "status", "pk"),
        Index("ix_advisories_updated_at", "updated_at"),
    )

    # Local insertion order: lists page by it because, unlike timestamps, it never changes.
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    origin: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(16))
    tlp: Mapped[str] = mapped_column(String(16))
    country: Mapped[str] = mapped_column(String(2))
    risk: Mapped[str] = mapped_column(String(16))
    subject_name: Mapped[str] = mapped_column(String(300))
    search_text: Mapped[str] = mapped_column(Text)
    contributor_org: Mapped[str] = mapped_column(String(200))
    contributor_org_id: Mapped[str | None] = mapped_column(ForeignKey("orgs.id"), index=True)
    current_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AdvisoryRevision(Base):
    """One revision, immutable once written; ``document`` is its full JSON text."""

    __tablename__ = "advisory_revisions"
    __table_args__ = (UniqueConstraint("advisory_pk", "revision"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    advisory_pk: Mapped[int] = mapped_column(ForeignKey("advisories.pk"))
    revision: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(16))
    tlp: Mapped[str] = mapped_column(String(16))
    document: Mapped[str] = mapped_column(Text)
    # The origin's signature over ``document`` (federation): received ones as they arrived;
    # this node's own are made when written (older rows are signed when first served).
    origin: Mapped[str | None] = mapped_column(String(32))
    kid: Mapped[str | None] = mapped_column(String(100))
    sig: Mapped[str | None] = mapped_column(String(100))
    author_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AdvisoryAudience(Base):
    """Orgs named in the current revision's ``audience`` (for amber+strict and red)."""

    __tablename__ = "advisory_audience"

    advisory_pk: Mapped[int] = mapped_column(
        ForeignKey("advisories.pk", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True, index=True)


class AdvisoryCategory(Base):
    """The current revision's categories, one row each, for the ``category`` filter."""

    __tablename__ = "advisory_categories"

    advisory_pk: Mapped[int] = mapped_column(
        ForeignKey("advisories.pk", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)
