"""``/v1/admin``: orgs, users and tokens, for operators only (no extra read of advisories)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from service.access import service
from service.access.models import ApiToken, Org, User
from service.access.policy import require_operator
from service.access.principal import Principal
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
from service.audit.service import record
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


def record_admin_change(
    session: Session,
    principal: Principal,
    action: str,
    target: str,
    detail: dict[str, Any],
    now: datetime,
) -> None:
    # Every administrative change is in the audit log, in the change's own transaction.
    record(
        session,
        actor=principal.email or "unknown",
        actor_org_id=principal.org_id,
        action=action,
        target=target,
        detail=detail,
        now=now,
    )


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
    require_operator(principal, changes=False)
    with read_only(factory) as session:
        return [_org(org, now.date()) for org in service.list_orgs(session)]


@router.post("/orgs", status_code=201)
def add_org(
    org_in: OrgCreate, principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> OrgAdminRead:
    """Admit an org."""
    require_operator(principal, changes=True)
    with transaction(factory) as session:
        org = service.add_org(
            session,
            name=org_in.name,
            kind=org_in.kind,
            vetted_until=org_in.vetted_until,
            email_domains=org_in.email_domains,
        )
        record_admin_change(
            session, principal, "admin.org.add", org.id, org_in.model_dump(mode="json"), now
        )
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
    require_operator(principal, changes=True)
    with transaction(factory) as session:
        org = service.update_org(session, service.get_org(session, org_id), changes_in)
        changes = changes_in.model_dump(mode="json", exclude_unset=True)
        record_admin_change(session, principal, "admin.org.update", org.id, changes, now)
        return _org(org, now.date())


@router.get("/users")
def list_users(
    principal: PrincipalDep, factory: SessionFactoryDep, org_id: str | None = None
) -> list[UserRead]:
    """Users, optionally of one org."""
    require_operator(principal, changes=False)
    with read_only(factory) as session:
        return [_user(user) for user in service.list_users(session, org_id=org_id)]


@router.post("/users", status_code=201)
def add_user(
    user_in: UserCreate, principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> UserRead:
    """Add a user to an org with one role."""
    require_operator(principal, changes=True)
    with transaction(factory) as session:
        org = service.get_org(session, user_in.org_id)
        user = service.add_user(session, email=user_in.email, org=org, role=user_in.role)
        detail = {"email": user.email, "org_id": org.id, "role": user.role}
        record_admin_change(session, principal, "admin.user.add", user.id, detail, now)
        return _user(user)


@router.patch("/users/{user_id}")
def update_user(
    user_id: str,
    changes_in: UserUpdate,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    now: NowDep,
) -> UserRead:
    """Change a user's role, or disable (and re-enable) the user."""
    require_operator(principal, changes=True)
    with transaction(factory) as session:
        user = service.update_user(
            session,
            service.get_user(session, user_id),
            role=changes_in.role,
            status=changes_in.status,
        )
        changes = changes_in.model_dump(mode="json", exclude_unset=True)
        record_admin_change(session, principal, "admin.user.update", user.id, changes, now)
        return _user(user)


@router.get("/tokens")
def list_tokens(
    principal: PrincipalDep, factory: SessionFactoryDep, user_id: str | None = None
) -> list[TokenRead]:
    """Tokens' metadata (never their secrets), newest first."""
    require_operator(principal, changes=False)
    with read_only(factory) as session:
        return [_token(token) for token in service.list_tokens(session, user_id=user_id)]


@router.post("/tokens", status_code=201)
def create_token(
    token_in: TokenCreate,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    now: NowDep,
) -> TokenCreated:
    """Issue a token for a user; its text is in this answer and nowhere else, ever."""
    require_operator(principal, changes=True)
    ttl = timedelta(days=token_in.ttl_days or settings.token_ttl_days)
    with transaction(factory) as session:
        token, text = service.new_token(
            session,
            user=service.get_user(session, token_in.user_id),
            now=now,
            ttl=ttl,
            read_only=token_in.read_only,
            label=token_in.label,
        )
        detail = {"user_id": token.user_id, "read_only": token.read_only, "ttl_days": ttl.days}
        record_admin_change(session, principal, "admin.token.create", token.id, detail, now)
        return TokenCreated(**_token(token).model_dump(), token=text)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    token_id: str, principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> TokenRead:
    """Revoke a token at once."""
    require_operator(principal, changes=True)
    with transaction(factory) as session:
        token = service.revoke_token(session, token_id=token_id, now=now)
        record_admin_change(
            session, principal, "admin.token.revoke", token.id, {"user_id": token.user_id}, now
        )
        return _token(token)
