"""Member administration: orgs, users and their tokens (the operator's work).

Every function only flushes; the caller owns the transaction. Who may call them is decided by
``service.access.policy.require_operator`` at the edge that exposes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.models import (
    ORG_KINDS,
    ROLES,
    USER_STATUSES,
    ApiToken,
    Org,
    OrgDomain,
    User,
)
from service.access.schemas import OrgUpdate
from service.access.tokens import issue_token
from service.errors import Conflict, InvalidInput, NotFound


def _could_be_stored(key: str) -> bool:
    """Whether ``key`` could name a row: no stored id holds NUL, and PostgreSQL refuses a query
    that does (a 500 instead of "not found")."""
    return "\x00" not in key


def _normalise_domains(domains: Sequence[str]) -> list[str]:
    cleaned = sorted({d.strip().lower().lstrip("@") for d in domains})
    for domain in cleaned:
        labels = domain.split(".")
        if len(labels) < 2 or not all(
            label and label.replace("-", "").isalnum() for label in labels
        ):
            raise InvalidInput.for_field("email_domains", f"{domain!r} is not a domain name")
    return cleaned


def _set_domains(session: Session, org: Org, domains: Sequence[str]) -> None:
    wanted = _normalise_domains(domains)
    taken = session.scalars(
        select(OrgDomain).where(OrgDomain.domain.in_(wanted), OrgDomain.org_id != org.id)
    ).first()
    if taken is not None:
        raise Conflict(f"The domain {taken.domain!r} belongs to another org.")
    org.domains = [OrgDomain(domain=d, org_id=org.id) for d in wanted]


def add_org(
    session: Session,
    *,
    name: str,
    kind: str,
    vetted_until: date | None,
    email_domains: Sequence[str] = (),
) -> Org:
    if kind not in ORG_KINDS:
        raise InvalidInput.for_field("kind", f"must be one of {', '.join(ORG_KINDS)}")
    if not name.strip():
        raise InvalidInput.for_field("name", "must not be empty")
    if session.scalars(select(Org).where(Org.name == name)).first() is not None:
        raise Conflict(f"An org named {name!r} exists already.")
    org = Org(name=name, kind=kind, vetted_until=vetted_until, status="active")
    session.add(org)
    session.flush()
    _set_domains(session, org, email_domains)
    session.flush()
    return org


def list_orgs(session: Session) -> Sequence[Org]:
    return session.scalars(select(Org).order_by(Org.name)).all()


def get_org(session: Session, org_id: str) -> Org:
    org = session.get(Org, org_id) if _could_be_stored(org_id) else None
    if org is None:
        raise NotFound(f"No org {org_id}.")
    return org


def get_org_by_name(session: Session, name: str) -> Org:
    org = session.scalars(select(Org).where(Org.name == name)).one_or_none()
    if org is None:
        raise NotFound(f"No org named {name!r}.")
    return org


def update_org(session: Session, org: Org, changes_in: OrgUpdate) -> Org:
    """Change vetting (``null`` ends it), suspend or reinstate, or replace the email domains."""
    sent = changes_in.model_fields_set
    if "vetted_until" in sent:
        org.vetted_until = changes_in.vetted_until
    if changes_in.status is not None:
        org.status = changes_in.status
    if changes_in.email_domains is not None:
        _set_domains(session, org, changes_in.email_domains)
    session.flush()
    return org


def add_user(session: Session, *, email: str, org: Org, role: str) -> User:
    if role not in ROLES:
        raise InvalidInput.for_field("role", f"must be one of {', '.join(ROLES)}")
    if role == "publisher" and org.kind != "government":
        raise InvalidInput.for_field("role", "publishers belong to government orgs")
    normalised = email.strip().lower()
    local, _, domain = normalised.partition("@")
    if not local or "." not in domain:
        raise InvalidInput.for_field("email", "is not an email address")
    if session.scalars(select(User).where(User.email == normalised)).first() is not None:
        raise Conflict(f"A user {normalised!r} exists already.")
    user = User(email=normalised, org=org, role=role, status="active")
    session.add(user)
    session.flush()
    return user


def list_users(session: Session, *, org_id: str | None = None) -> Sequence[User]:
    query = select(User).order_by(User.email)
    if org_id is not None:
        if not _could_be_stored(org_id):
            return []
        query = query.where(User.org_id == org_id)
    return session.scalars(query).all()


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id) if _could_be_stored(user_id) else None
    if user is None:
        raise NotFound(f"No user {user_id}.")
    return user


def get_user_by_email(session: Session, email: str) -> User:
    user = session.scalars(select(User).where(User.email == email.strip().lower())).one_or_none()
    if user is None:
        raise NotFound(f"No user {email!r}.")
    return user


def update_user(
    session: Session, user: User, *, role: str | None = None, status: str | None = None
) -> User:
    """Change a user's role, or disable (and re-enable) the user and with it all its tokens."""
    if role is not None:
        if role not in ROLES:
            raise InvalidInput.for_field("role", f"must be one of {', '.join(ROLES)}")
        if role == "publisher" and user.org.kind != "government":
            raise InvalidInput.for_field("role", "publishers belong to government orgs")
        user.role = role
    if status is not None:
        if status not in USER_STATUSES:
            raise InvalidInput.for_field("status", f"must be one of {', '.join(USER_STATUSES)}")
        user.status = status
    session.flush()
    return user


def new_token(
    session: Session,
    *,
    user: User,
    now: datetime,
    ttl: timedelta,
    read_only: bool = False,
    label: str | None = None,
) -> tuple[ApiToken, str]:
    """Issue a token: its stored row, and its text, which is shown once and never stored."""
    if user.status != "active" or user.org.status != "active":
        raise Conflict("The user or its organisation is suspended; issue no token to it.")
    return issue_token(session, user=user, now=now, ttl=ttl, read_only=read_only, label=label)


def create_token(
    session: Session,
    *,
    email: str,
    now: datetime,
    ttl: timedelta,
    read_only: bool = False,
    label: str | None = None,
) -> str:
    """Issue a token for the user with this email and return its text."""
    user = get_user_by_email(session, email)
    _, text = new_token(session, user=user, now=now, ttl=ttl, read_only=read_only, label=label)
    return text


def list_tokens(session: Session, *, user_id: str | None = None) -> Sequence[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id)
    if user_id is not None:
        if not _could_be_stored(user_id):
            return []
        query = query.where(ApiToken.user_id == user_id)
    return session.scalars(query).all()


def revoke_token(session: Session, *, token_id: str, now: datetime) -> ApiToken:
    """Revoke a token at once; revoking it again changes nothing."""
    token = session.get(ApiToken, token_id) if _could_be_stored(token_id) else None
    if token is None:
        raise NotFound(f"No token {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = now
    session.flush()
    return token
