"""The caller of a request, as the access policy sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.access.models import User


@dataclass(frozen=True)
class Principal:
    """Anonymous when ``user_id`` is None; otherwise a user of one member org with one role."""

    user_id: str | None = None
    email: str | None = None
    org_id: str | None = None
    org_name: str | None = None
    org_kind: str | None = None
    role: str | None = None
    vetted_until: date | None = None
    read_only: bool = False

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    def is_vetted(self, today: date) -> bool:
        """An org is vetted while its ``vetted_until`` date is in the future."""
        return self.vetted_until is not None and self.vetted_until > today


ANONYMOUS = Principal()


def principal_for(user: User, *, read_only: bool = False) -> Principal:
    """The principal a user acts as (``read_only`` for a token limited to reading)."""
    return Principal(
        user_id=user.id,
        email=user.email,
        org_id=user.org_id,
        org_name=user.org.name,
        org_kind=user.org.kind,
        role=user.role,
        vetted_until=user.org.vetted_until,
        read_only=read_only,
    )
