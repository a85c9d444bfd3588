"""Bearer tokens: ``trex_<id>_<secret>``, random, shown once, kept only as a hash.

The id part finds the row; the secret's SHA-256 is then compared in constant time, so a
lookup never depends on how much of a guessed secret is right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from service.access.models import ApiToken, Org, User
from service.access.principal import Principal
from service.db import table_of
from service.errors import NotAuthenticated

TOKEN_PREFIX = "trex_"  # noqa: S105  a prefix, not a secret
_ID_BYTES = 8
_SECRET_BYTES = 32
_LAST_USED_RESOLUTION = timedelta(minutes=1)
# Hashing a random string lets a failed lookup cost the same as a found one.
_DUMMY_HASH = hashlib.sha256(b"trex-no-such-token").hexdigest()


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    user: User,
    now: datetime,
    ttl: timedelta,
    read_only: bool = False,
    label: str | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``user``: the stored row, and the text shown once (never stored)."""
    token_id = secrets.token_hex(_ID_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    token = ApiToken(
        id=token_id,
        user_id=user.id,
        user=user,
        secret_hash=_hash_secret(secret),
        label=label,
        read_only=read_only,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(token)
    session.flush()
    return token, f"{TOKEN_PREFIX}{token_id}_{secret}"


def _split(raw: str) -> tuple[str, str]:
    if not raw.startswith(TOKEN_PREFIX):
        raise NotAuthenticated("The bearer token is not a trex token.")
    token_id, sep, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    if not sep or len(token_id) != 2 * _ID_BYTES or not secret:
        raise NotAuthenticated("The bearer token is malformed.")
    return token_id, secret


def token_id_of(raw: str) -> str:
    """The public id part of a token's text (``NotAuthenticated`` when malformed)."""
    return _split(raw)[0]


def current_token(session: Session, token_id: str, *, now: datetime) -> ApiToken | None:
    """The token with this id while it is neither revoked nor expired."""
    token = session.get(ApiToken, token_id)
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return None
    return token


# Built once, and columns rather than entities: every API request runs it.
_TOKEN_HOLDER = (
    select(
        ApiToken.secret_hash,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.last_used_at,
        ApiToken.read_only,
        User.id.label("user_id"),
        User.email,
        User.role,
        User.status.label("user_status"),
        Org.id.label("org_id"),
        Org.name.label("org_name"),
        Org.kind.label("org_kind"),
        Org.status.label("org_status"),
        Org.vetted_until,
    )
    .join(User, User.id == ApiToken.user_id)
    .join(Org, Org.id == User.org_id)
    .where(ApiToken.id == bindparam("token_id"))
)
_RECORD_USE = (
    update(table_of(ApiToken))
    .where(ApiToken.id == bindparam("token_id"))
    .values(last_used_at=bindparam("used_at"))
)


def authenticate(
    session: Session, raw: str, *, now: datetime, record_use: bool = True
) -> Principal:
    """The principal behind a bearer token, or ``NotAuthenticated`` for any bad token.

    With ``record_use``, records the token's last use (at most once a minute) in the session's
    transaction: the caller commits.
    """
    token_id, secret = _split(raw)
    row = session.execute(_TOKEN_HOLDER, {"token_id": token_id}).one_or_none()
    stored_hash = row.secret_hash if row is not None else _DUMMY_HASH
    matches = hmac.compare_digest(stored_hash, _hash_secret(secret))
    if row is None or not matches:
        raise NotAuthenticated("The bearer token is not valid.")
    if row.revoked_at is not None or row.expires_at <= now:
        raise NotAuthenticated("The bearer token has expired or been revoked.")
    if row.user_status != "active" or row.org_status != "active":
        raise NotAuthenticated("The user or its organisation is suspended.")
    if record_use and (row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION):
        session.execute(_RECORD_USE, {"token_id": token_id, "used_at": now})
    return Principal(
        user_id=row.user_id,
        email=row.email,
        org_id=row.org_id,
        org_name=row.org_name,
        org_kind=row.org_kind,
        role=row.role,
        vetted_until=row.vetted_until,
        read_only=row.read_only,
    )
