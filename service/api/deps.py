"""Request dependencies: settings, the database, the clock and the calling principal."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.access.principal import ANONYMOUS, Principal
from service.access.signin import principal_for_web_session
from service.access.tokens import authenticate
from service.db import out_of_storage, utcnow
from service.errors import FieldError, NotAuthenticated
from service.peering.service import NodeKeys
from service.screening.index import ScreeningIndex
from service.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


async def get_now() -> datetime:
    return utcnow()


async def get_node_keys(request: Request) -> NodeKeys:
    keys: NodeKeys = request.app.state.node_keys
    return keys


async def get_screening_index(request: Request) -> ScreeningIndex:
    index: ScreeningIndex = request.app.state.screening_index
    return index


SettingsDep = Annotated[Settings, Depends(get_settings)]
ScreeningIndexDep = Annotated[ScreeningIndex, Depends(get_screening_index)]
NodeKeysDep = Annotated[NodeKeys, Depends(get_node_keys)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
NowDep = Annotated[datetime, Depends(get_now)]


def _bad_credentials(detail: str) -> NotAuthenticated:
    # Like any refused input, the problem names what was wrong: the header.
    return NotAuthenticated(detail, errors=(FieldError("authorization", detail),))


_SAFE_METHODS = frozenset({"GET", "HEAD"})
SESSION_USER = "uid"
"""Key of the signed-in user's id in the browser session (set by ``/auth/callback``)."""
SESSION_SIGNED_IN_AT = "at"
"""Key of the sign-in time (Unix seconds) in the browser session."""
SESSION_TOKEN = "tid"  # noqa: S105  a session key, not a secret
"""Key of the token's id in a session signed in with a bearer token (the sign-in page)."""


def web_session_principal(
    request: Request, factory: sessionmaker[Session], settings: Settings, now: datetime
) -> Principal:
    """The user of a signed-in browser session, re-checked now, with the user's own rights.

    Anonymous when there is no signed-in session, a session older than ``session_ttl_hours``,
    a user or org no longer active, or a sign-in token since revoked or expired.
    """
    session = request.scope.get("session")
    if not session:
        return ANONYMOUS
    user_id = session.get(SESSION_USER)
    signed_in_at = session.get(SESSION_SIGNED_IN_AT)
    token_id = session.get(SESSION_TOKEN)
    if not isinstance(user_id, str) or not isinstance(signed_in_at, int):
        return ANONYMOUS
    if token_id is not None and not isinstance(token_id, str):
        return ANONYMOUS
    if now.timestamp() - signed_in_at > settings.session_ttl_hours * 3600:
        return ANONYMOUS
    with factory() as db:
        principal = principal_for_web_session(db, user_id=user_id, token_id=token_id, now=now)
    return principal if principal is not None else ANONYMOUS


def get_principal(
    request: Request, factory: SessionFactoryDep, settings: SettingsDep, now: NowDep
) -> Principal:
    """The caller: anonymous without credentials, 401 for credentials that do not hold.

    A bearer token is the API's credential. A browser's session cookie counts only for GET and
    HEAD requests that send no ``Authorization`` header: writes always need a token, so a page
    on another site can never write with a member's cookie.
    """
    header = request.headers.get("authorization")
    if header is None:
        if request.method in _SAFE_METHODS:
            # On /v1 a cookie only reads: the API has no CSRF token to check.
            return replace(web_session_principal(request, factory, settings, now), read_only=True)
        return ANONYMOUS
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise _bad_credentials("Use 'Authorization: Bearer <token>'.")
    try:
        # Not in the request's transaction: recording last use (at most once a minute a
        # token) must not hold its write lock. In none at all: the lookup is one statement and
        # so is the record, which saves a request two round trips to the database.
        with factory() as session:
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            try:
                return authenticate(session, credentials.strip(), now=now)
            except OperationalError as error:
                # Last use is bookkeeping: a full disk must not stop members reading.
                if not out_of_storage(error):
                    raise
                return authenticate(session, credentials.strip(), now=now, record_use=False)
    except NotAuthenticated as exc:
        raise _bad_credentials(exc.detail) from None


PrincipalDep = Annotated[Principal, Depends(get_principal)]
