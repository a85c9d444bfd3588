"""``/v1/admin``: orgs, users and tokens, for operators only (no extra read of advisories).

The use cases (who may, the change, its audit entry) are ``service.access.admin``'s; a route
holds the transaction and turns the result into its read model.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter

from service.access import admin
from service.access.models import ApiToken, Org, User
from service.access.schemas import (
    OrgAdminRead,
    OrgCreate,
    OrgUpdate,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from service.api.deps import NowDep, PrincipalDep, SessionFactoryDep, SettingsDep
from service.api.problems import PROBLEM_CONTENT
from service.db import read_only, transaction

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in, or bad credentials", **PROBLEM_CONTENT},
    400: {"description": "Malformed body: not JSON, or not decodable", **PROBLEM_CONTENT},
    403: {"description": "Not an operator, or a read-only token", **PROBLEM_CONTENT},
    404: {"description": "No such org, user or token", **PROBLEM_CONTENT},
    409: {"description": "Conflicts with what exists", **PROBLEM_CONTENT},
    422: {"description": "Invalid input; the problem names each field", **PROBLEM_CONTENT},
}

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=_ERRORS)


def _org(org: Org, today: date) -> OrgAdminRead:
    return OrgAdminRead(
        id=org.id,
        name=org.name,
        kind=org.kind,
        status=org.status,
        vetted=org.vetted_until is not None and org.vetted_until > today,
        vetted_until=org.vetted_until,
        email_domains=org.email_domains,
        created_at=org.created_at,
    )


def _user(user: User) -> UserRead:
    return UserRead(
        id=user.id,
        email=user.email,
        org_id=user.org_id,
        org_name=user.org.name,
        role=user.role,
        status=user.status,
        created_at=user.created_at,
    )


def _token(token: ApiToken) -> TokenRead:
    return TokenRead(
        id=token.id,
        user_id=token.user_id,
        email=token.user.email,
        label=token.label,
        read_only=token.read_only,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
    )


@router.get("/orgs")
def list_orgs(
    principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> list[OrgAdminRead]:
    """Every member org with its vetting and status."""
    with read_only(factory) as session:
        return [_org(org, now.date()) for org in admin.list_orgs(session, principal=principal)]


@router.post("/orgs", status_code=201)
def add_org(
    org_in: OrgCreate, principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> OrgAdminRead:
    """Admit an org."""
    with transaction(factory) as session:
        org = admin.add_org(session, principal=principal, org_in=org_in, now=now)
        return _org(org, now.date())


@router.patch("/orgs/{org_id}")
def update_org(
    org_id: str,
    changes_in: OrgUpdate,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    now: NowDep,
) -> OrgAdminRead:
    """Vet (or end vetting), suspend or reinstate, or set the email domains of an org."""
    with transaction(factory) as session:
        org = admin.update_org(
            session, principal=principal, org_id=org_id, changes_in=changes_in, now=now
        )
        return _org(org, now.date())


@router.get("/users")
def list_users(
    principal: PrincipalDep, factory: SessionFactoryDep, org_id: str | None = None
) -> list[UserRead]:
    """Users, optionally of one org."""
    with read_only(factory) as session:
        users = admin.list_users(session, principal=principal, org_id=org_id)
        return [_user(user) for user in users]


@router.post("/users", status_code=201)
def add_user(
    user_in: UserCreate, principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> UserRead:
    """Add a user to an org with one role."""
    with transaction(factory) as session:
        return _user(admin.add_user(session, principal=principal, user_in=user_in, now=now))


@router.patch("/users/{user_id}")
def update_user(
    user_id: str,
    changes_in: UserUpdate,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    now: NowDep,
) -> UserRead:
    """Change a user's role, or disable (and re-enable) the user."""
    with transaction(factory) as session:
        user = admin.update_user(
            session, principal=principal, user_id=user_id, changes_in=changes_in, now=now
        )
        return _user(user)


@router.get("/tokens")
def list_tokens(
    principal: PrincipalDep, factory: SessionFactoryDep, user_id: str | None = None
) -> list[TokenRead]:
    """Tokens' metadata (never their secrets), newest first."""
    with read_only(factory) as session:
        tokens = admin.list_tokens(session, principal=principal, user_id=user_id)
        return [_token(token) for token in tokens]


@router.post("/tokens", status_code=201)
def create_token(
    token_in: TokenCreate,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    now: NowDep,
) -> TokenCreated:
    """Issue a token for a user; its text is in this answer and nowhere else, ever."""
    with transaction(factory) as session:
        token, text = admin.issue_token(
            session,
            principal=principal,
            token_in=token_in,
            default_ttl=timedelta(days=settings.token_ttl_days),
            now=now,
        )
        return TokenCreated(**_token(token).model_dump(), token=text)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    token_id: str, principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> TokenRead:
    """Revoke a token at once."""
    with transaction(factory) as session:
        return _token(admin.revoke_token(session, principal=principal, token_id=token_id, now=now))
