"""Request dependencies: settings, the database, the clock and the calling principal."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from service.access.principal import ANONYMOUS, Principal
from service.access.tokens import authenticate
from service.db import utcnow
from service.errors import FieldError, NotAuthenticated
from service.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


async def get_now() -> datetime:
    return utcnow()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
NowDep = Annotated[datetime, Depends(get_now)]


def _bad_credentials(detail: str) -> NotAuthenticated:
    # Like any refused input, the problem names what was wrong: the header.
    return NotAuthenticated(detail, errors=(FieldError("authorization", detail),))


def get_principal(request: Request, factory: SessionFactoryDep, now: NowDep) -> Principal:
    """The caller: anonymous without credentials, 401 for credentials that do not hold."""
    header = request.headers.get("authorization")
    if header is None:
        return ANONYMOUS
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise _bad_credentials("Use 'Authorization: Bearer <token>'.")
    try:
        # Its own short session: recording last use must not hold the request's write lock,
        # and it commits only when there is a use to record (at most once a minute a token).
        with factory() as session:
            principal = authenticate(session, credentials.strip(), now=now)
            if session.dirty:
                session.commit()
            return principal
    except NotAuthenticated as exc:
        raise _bad_credentials(exc.detail) from None


PrincipalDep = Annotated[Principal, Depends(get_principal)]
