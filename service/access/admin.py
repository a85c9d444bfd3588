"""The operator's use cases for members: orgs, users and their tokens.

Each one checks ``require_operator`` first (a change needs a principal that may write). A
change is made through ``service.access.service`` and recorded in the audit log (``record_by``)
in the same transaction, so the change and its entry commit together or not at all. Like every
domain function they only flush: the caller owns the transaction. The JSON API (``/v1/admin``)
and the operator's pages both call these, so a form makes exactly the API's checks and leaves
the same audit entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.access import service
from service.access.models import ApiToken, Org, User
from service.access.policy import require_operator
from service.access.principal import Principal
from service.access.schemas import OrgCreate, OrgUpdate, TokenCreate, UserCreate, UserUpdate
from service.audit.service import record_by

# --- orgs -----------------------------------------------------------------------------------


def list_orgs(session: Session, *, principal: Principal) -> Sequence[Org]:
    """Every member org, by name."""
    require_operator(principal, changes=False)
    return service.list_orgs(session)


def get_org(session: Session, *, principal: Principal, org_id: str) -> Org:
    """One org (``NotFound`` when there is none with this id)."""
    require_operator(principal, changes=False)
    return service.get_org(session, org_id)


def add_org(session: Session, *, principal: Principal, org_in: OrgCreate, now: datetime) -> Org:
    """Admit an org; the audit entry holds what was sent."""
    require_operator(principal, changes=True)
    org = service.add_org(
        session,
        name=org_in.name,
        kind=org_in.kind,
        vetted_until=org_in.vetted_until,
        email_domains=org_in.email_domains,
    )
    record_by(
        session,
        principal,
        action="admin.org.add",
        target=org.id,
        detail=org_in.model_dump(mode="json"),
        now=now,
    )
    return org


def update_org(
    session: Session,
    *,
    principal: Principal,
    org_id: str,
    changes_in: OrgUpdate,
    now: datetime,
) -> Org:
    """Vet (or end vetting), suspend or reinstate, or set the email domains of an org.

    The audit entry holds the fields that were sent, and only those.
    """
    require_operator(principal, changes=True)
    org = service.update_org(session, service.get_org(session, org_id), changes_in)
    record_by(
        session,
        principal,
        action="admin.org.update",
        target=org.id,
        detail=changes_in.model_dump(mode="json", exclude_unset=True),
        now=now,
    )
    return org


# --- users ----------------------------------------------------------------------------------


def list_users(
    session: Session, *, principal: Principal, org_id: str | None = None
) -> Sequence[User]:
    """Users by email, optionally only those of one org."""
    require_operator(principal, changes=False)
    return service.list_users(session, org_id=org_id)


def get_user(session: Session, *, principal: Principal, user_id: str) -> User:
    """One user (``NotFound`` when there is none with this id)."""
    require_operator(principal, changes=False)
    return service.get_user(session, user_id)


def add_user(session: Session, *, principal: Principal, user_in: UserCreate, now: datetime) -> User:
    """Add a user to an existing org with one role."""
    require_operator(principal, changes=True)
    org = service.get_org(session, user_in.org_id)
    user = service.add_user(session, email=user_in.email, org=org, role=user_in.role)
    record_by(
        session,
        principal,
        action="admin.user.add",
        target=user.id,
        detail={"email": user.email, "org_id": org.id, "role": user.role},
        now=now,
    )
    return user


def update_user(
    session: Session,
    *,
    principal: Principal,
    user_id: str,
    changes_in: UserUpdate,
    now: datetime,
) -> User:
    """Change a user's role, or disable (and re-enable) the user and with it all its tokens."""
    require_operator(principal, changes=True)
    user = service.update_user(
        session,
        service.get_user(session, user_id),
        role=changes_in.role,
        status=changes_in.status,
    )
    record_by(
        session,
        principal,
        action="admin.user.update",
        target=user.id,
        detail=changes_in.model_dump(mode="json", exclude_unset=True),
        now=now,
    )
    return user


# --- tokens ---------------------------------------------------------------------------------


def list_tokens(
    session: Session, *, principal: Principal, user_id: str | None = None
) -> Sequence[ApiToken]:
    """Tokens (their metadata: no secret is stored), newest first, optionally of one user."""
    require_operator(principal, changes=False)
    return service.list_tokens(session, user_id=user_id)


def issue_token(
    session: Session,
    *,
    principal: Principal,
    token_in: TokenCreate,
    default_ttl: timedelta,
    now: datetime,
) -> tuple[ApiToken, str]:
    """Issue a token for a user: its stored row, and its text, to be shown once and never again.

    It lasts ``token_in.ttl_days``, or ``default_ttl`` when that is not given. The audit entry
    names the user and the token's access and lifetime, never its text.
    """
    require_operator(principal, changes=True)
    ttl = timedelta(days=token_in.ttl_days) if token_in.ttl_days else default_ttl
    token, text = service.new_token(
        session,
        user=service.get_user(session, token_in.user_id),
        now=now,
        ttl=ttl,
        read_only=token_in.read_only,
        label=token_in.label,
    )
    record_by(
        session,
        principal,
        action="admin.token.create",
        target=token.id,
        detail={"user_id": token.user_id, "read_only": token.read_only, "ttl_days": ttl.days},
        now=now,
    )
    return token, text


def revoke_token(
    session: Session, *, principal: Principal, token_id: str, now: datetime
) -> ApiToken:
    """Revoke a token at once; revoking it again changes nothing (but is recorded again)."""
    require_operator(principal, changes=True)
    token = service.revoke_token(session, token_id=token_id, now=now)
    record_by(
        session,
        principal,
        action="admin.token.revoke",
        target=token.id,
        detail={"user_id": token.user_id},
        now=now,
    )
    return token
