"""``GET /v1/me``."""

from __future__ import annotations

from fastapi import APIRouter

from service.access.policy import require_authenticated
from service.access.schemas import MeRead, OrgRead
from service.api.deps import NowDep, PrincipalDep

router = APIRouter(prefix="/v1", tags=["members"])


@router.get("/me", responses={401: {"description": "Not signed in"}})
def me(principal: PrincipalDep, now: NowDep) -> MeRead:
    """The caller: user, org, role and whether the org is vetted today."""
    require_authenticated(principal)
    vetted = principal.is_vetted(now.date())
    return MeRead(
        user_id=principal.user_id or "",
        email=principal.email or "",
        role=principal.role or "",
        vetted=vetted,
        read_only=principal.read_only,
        org=OrgRead(
            id=principal.org_id or "",
            name=principal.org_name or "",
            kind=principal.org_kind or "",
            vetted=vetted,
            vetted_until=principal.vetted_until,
        ),
    )
