"""Member administration: orgs, users and their tokens."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.models import ORG_KINDS, ROLES, Org, User
from service.access.tokens import issue_token
from service.errors import Conflict, InvalidInput, NotFound


def add_org(session: Session, *, name: str, kind: str, vetted_until: date | None) -> Org:
    if kind not in ORG_KINDS:
        raise InvalidInput.for_field("kind", f"must be one of {', '.join(ORG_KINDS)}")
    if not name.strip():
        raise InvalidInput.for_field("name", "must not be empty")
    if session.scalars(select(Org).where(Org.name == name)).first() is not None:
        raise Conflict(f"An org named {name!r} exists already.")
    org = Org(name=name, kind=kind, vetted_until=vetted_until)
    session.add(org)
    session.flush()
    return org


def get_org_by_name(session: Session, name: str) -> Org:
    org = session.scalars(select(Org).where(Org.name == name)).one_or_none()
    if org is None:
        raise NotFound(f"No org named {name!r}.")
    return org


def add_user(session: Session, *, email: str, org: Org, role: str) -> User:
    if role not in ROLES:
        raise InvalidInput.for_field("role", f"must be one of {', '.join(ROLES)}")
    if role == "publisher" and org.kind != "government":
        raise InvalidInput.for_field("role", "publishers belong to government orgs")
    normalised = email.strip().lower()
    if "@" not in normalised:
        raise InvalidInput.for_field("email", "is not an email address")
    if session.scalars(select(User).where(User.email == normalised)).first() is not None:
        raise Conflict(f"A user {normalised!r} exists already.")
    user = User(email=normalised, org=org, role=role)
    session.add(user)
    session.flush()
    return user


def get_user_by_email(session: Session, email: str) -> User:
    user = session.scalars(select(User).where(User.email == email.strip().lower())).one_or_none()
    if user is None:
        raise NotFound(f"No user {email!r}.")
    return user


def create_token(session: Session, *, email: str, now: datetime, ttl: timedelta) -> str:
    """Issue a token for the user with this email; the text is returned once, never stored."""
    return issue_token(session, user=get_user_by_email(session, email), now=now, ttl=ttl)
