"""Wire models for members."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel


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
