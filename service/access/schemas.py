"""Wire models for members and their administration."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.advisories.schemas import Printable

OrgKind = Literal["university", "government", "company", "other"]
OrgStatus = Literal["active", "suspended"]
Role = Literal["reader", "analyst", "publisher", "operator"]
UserStatus = Literal["active", "disabled"]
Domain = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=253)]
# Printable: control characters mean nothing in a name, and PostgreSQL cannot store NUL at all.
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Printable
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrgRead(BaseModel):
    id: str
    name: str
    kind: str
    vetted: bool
    vetted_until: date | None


class MeRead(BaseModel):
    """``GET /v1/me``: the caller."""

    user_id: str
    email: str
    role: str
    org: OrgRead
    vetted: bool
    read_only: bool = False


class OrgCreate(_Strict):
    name: Name
    kind: OrgKind
    vetted_until: date | None = None
    email_domains: list[Domain] = Field(default_factory=list, max_length=50)


class OrgUpdate(_Strict):
    """Fields to change; ``vetted_until: null`` ends vetting at once."""

    vetted_until: date | None = None
    status: OrgStatus | None = None
    email_domains: list[Domain] | None = Field(default=None, max_length=50)


class OrgAdminRead(BaseModel):
    id: str
    name: str
    kind: str
    status: str
    vetted: bool
    vetted_until: date | None
    email_domains: list[str]
    created_at: datetime


class UserCreate(_Strict):
    email: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320), Printable
    ]
    org_id: str
    role: Role


class UserUpdate(_Strict):
    role: Role | None = None
    status: UserStatus | None = None


class UserRead(BaseModel):
    id: str
    email: str
    org_id: str
    org_name: str
    role: str
    status: str
    created_at: datetime


class TokenCreate(_Strict):
    user_id: str
    ttl_days: int | None = Field(default=None, ge=1, le=3650)
    read_only: bool = False
    label: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), Printable] | None
    ) = None


class TokenRead(BaseModel):
    """A token's metadata; the secret is never shown again."""

    id: str
    user_id: str
    email: str
    label: str | None
    read_only: bool
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The bearer token: shown once, stored only as a hash.")
