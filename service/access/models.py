"""Members: organisations, their users, and users' bearer tokens."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db import Base, UTCDateTime, utcnow

ORG_KINDS = ("university", "government", "company", "other")
ORG_STATUSES = ("active", "suspended")
ROLES = ("reader", "analyst", "publisher", "operator")
USER_STATUSES = ("active", "disabled")


def new_id() -> str:
    return str(uuid.uuid4())


class Org(Base):
    __tablename__ = "orgs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    vetted_until: Mapped[date | None] = mapped_column(Date)
    # A suspended org's users and tokens stop working at once; nothing is deleted.
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="org")
    domains: Mapped[list[OrgDomain]] = relationship(
        back_populates="org", cascade="all, delete-orphan", order_by="OrgDomain.domain"
    )

    @property
    def email_domains(self) -> list[str]:
        return [d.domain for d in self.domains]


class OrgDomain(Base):
    """An email domain whose verified addresses belong to the org (for OpenID Connect sign-in)."""

    __tablename__ = "org_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)

    org: Mapped[Org] = relationship(back_populates="domains")


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Org] = relationship(back_populates="users", lazy="joined")


class ApiToken(Base):
    """A bearer token; only a hash of its secret part is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(100))
    # A read-only token reads and screens; it can never write, whatever the user's role.
    read_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")
