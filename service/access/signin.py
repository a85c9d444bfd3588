"""Web sign-in: which user of this node a verified email address is.

An OpenID Connect provider vouches for an address; the node alone decides who that is. The
address maps to an org through the email domains the operator registered for it
(``org_domains``): a known user signs in as that user, an unknown address in a registered
domain becomes a ``reader`` of the org. Nothing else from the provider is trusted: no name, no
group, no role.

For the demo, and for nodes without a provider, a user may also sign in to the web pages with
one of their bearer tokens (``sign_in_with_token``); the session then lasts only while that
token does, and is read-only when the token is.

A web session is re-checked on every request (``principal_for_web_session``), so suspending an
org, disabling a user or revoking the sign-in token ends its sessions at once. On ``/v1`` a
session may only read (``service/api/deps.py``); the web pages write with it, behind a CSRF
token (``service/web/security.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.models import OrgDomain, User
from service.access.principal import Principal, principal_for
from service.access.service import add_user
from service.access.tokens import authenticate, current_token, token_id_of
from service.audit.service import record
from service.errors import NotPermitted

__all__ = [
    "JIT_ROLE",
    "SignInRefused",
    "principal_for_web_session",
    "sign_in_by_email",
    "sign_in_with_token",
]

JIT_ROLE = "reader"
"""The role of a user created at first sign-in; the operator may raise it afterwards."""

_ASK_TO_ADMIT = (
    "Ask the operator of this node to admit your organisation and register its email "
    "domain, or sign in with the address your organisation uses here."
)
_ASK_OPERATOR = "Contact the operator of this node if you think this is a mistake."


class SignInRefused(NotPermitted):
    """An address may not sign in.

    ``reason`` is a stable word for logs and tests (``email_unverified``, ``email_invalid``,
    ``unknown_domain``, ``domain_not_owned``, ``org_suspended``, ``user_disabled``);
    ``detail`` says why in a sentence, ``advice`` what the person can do about it.
    """

    def __init__(self, reason: str, detail: str, advice: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.advice = advice


def _normalise(email: str) -> tuple[str, str]:
    """The address in the form users are stored in, and its domain; refused if malformed."""
    normalised = email.strip().lower()
    local, at, domain = normalised.rpartition("@")
    if not at or not local or "@" in local or "." not in domain or domain.endswith("."):
        raise SignInRefused(
            "email_invalid",
            "Your identity provider did not give a usable email address.",
            "Sign in with an account that has the email address of your organisation.",
        )
    return normalised, domain


def sign_in_by_email(session: Session, *, email: str, verified: bool, now: datetime) -> User:
    """The user that a provider-verified ``email`` signs in as; raises ``SignInRefused``.

    - The provider must have verified the address (``email_verified`` true).
    - A known user signs in as itself, provided its org registered the address's domain and
      neither the user nor the org is suspended or disabled.
    - An unknown address in a domain an active org registered becomes a new ``reader`` of
      that org (flushed, not committed: the caller owns the transaction).
    - Anything else is refused: an unknown domain, a suspended org.

    Domains match exactly: registering ``example.edu`` does not admit ``cs.example.edu``.
    """
    normalised, domain = _normalise(email)
    if not verified:
        raise SignInRefused(
            "email_unverified",
            f"Your identity provider has not verified the address {normalised}.",
            "Verify the address with your identity provider, then sign in again.",
        )
    registered = session.get(OrgDomain, domain)
    user = session.scalars(select(User).where(User.email == normalised)).one_or_none()
    if user is not None:
        if registered is None or registered.org_id != user.org_id:
            raise SignInRefused(
                "domain_not_owned",
                f"Your account {normalised} belongs to {user.org.name}, which has not "
                f"registered the email domain {domain} for sign-in on this node.",
                "Ask the operator of this node to register the domain for your organisation.",
            )
        _check_active(user.org.name, user.org.status, user.status, normalised)
        _record_sign_in(session, user, created=False, now=now)
        return user
    if registered is None:
        raise SignInRefused(
            "unknown_domain",
            f"No member organisation of this node has registered the email domain {domain}.",
            _ASK_TO_ADMIT,
        )
    org = registered.org
    _check_active(org.name, org.status, "active", normalised)
    user = add_user(session, email=normalised, org=org, role=JIT_ROLE)
    user.created_at = now
    session.flush()
    _record_sign_in(session, user, created=True, now=now)
    return user


def sign_in_with_token(session: Session, raw: str, *, now: datetime) -> tuple[str, str]:
    """The user id and token id behind a bearer token typed into the sign-in page.

    Raises ``NotAuthenticated`` for a token that does not hold, as ``/v1`` would.
    """
    principal = authenticate(session, raw, now=now)
    user = session.get(User, principal.user_id)
    assert user is not None  # authenticate found it
    _record_sign_in(session, user, created=False, now=now, method="token")
    return user.id, token_id_of(raw)


def _record_sign_in(
    session: Session, user: User, *, created: bool, now: datetime, method: str = "oidc"
) -> None:
    # Web sign-ins, and the accounts they create, are administrative events: keep them.
    record(
        session,
        actor=user.email,
        actor_org_id=user.org_id,
        action="auth.sign_in",
        target=user.id,
        detail={"created_user": created, "role": user.role, "method": method},
        now=now,
    )


def _check_active(org_name: str, org_status: str, user_status: str, email: str) -> None:
    if org_status != "active":
        raise SignInRefused(
            "org_suspended",
            f"Your organisation, {org_name}, is suspended on this node.",
            "Ask the operator of this node to reinstate your organisation.",
        )
    if user_status != "active":
        raise SignInRefused(
            "user_disabled",
            f"The account {email} is disabled on this node.",
            _ASK_OPERATOR,
        )


def principal_for_web_session(
    session: Session, *, user_id: str, token_id: str | None = None, now: datetime | None = None
) -> Principal | None:
    """The principal of a signed-in web session, or None once it no longer holds.

    Called on every request that presents a session, so a user disabled, an org suspended
    (or a user removed) since sign-in stops at once; so does a session signed in with a token
    (``token_id``) once that token is revoked or expired. Read-only when that token is.
    """
    user = session.get(User, user_id)
    if user is None or user.status != "active" or user.org.status != "active":
        return None
    if token_id is None:
        return principal_for(user)
    token = current_token(session, token_id, now=now) if now is not None else None
    if token is None or token.user_id != user.id:
        return None
    return principal_for(user, read_only=token.read_only)
