"""``/sign-in`` (with a token; OpenID Connect goes through ``/auth/login``) and ``/sign-out``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker

from service.access.signin import sign_in_with_token
from service.api.auth import local_path
from service.api.deps import (
    SESSION_SIGNED_IN_AT,
    SESSION_TOKEN,
    SESSION_USER,
    NowDep,
    SessionFactoryDep,
)
from service.db import transaction
from service.errors import NotAuthenticated
from service.web.render import WebRoute, redirect, render
from service.web.security import check_csrf, renew_csrf_token

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_MAX_TOKEN_LENGTH = 200


@router.get("/sign-in")
def sign_in_page(
    request: Request, next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None
) -> Response:
    return render(request, "sign_in.html", {"next": local_path(next_path), "errors": {}})


def _sign_in(factory: sessionmaker[Session], token: str, now: Any) -> tuple[str, str]:
    with transaction(factory) as db:
        return sign_in_with_token(db, token, now=now)


@router.post("/sign-in")
async def sign_in(
    request: Request,
    factory: SessionFactoryDep,
    now: NowDep,
    token: Annotated[str, Form(max_length=_MAX_TOKEN_LENGTH)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2000)] = "/",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    landing = local_path(next_path)
    token = token.strip()
    try:
        if not token:
            raise NotAuthenticated("Enter your access token.")
        user_id, token_id = await run_in_threadpool(_sign_in, factory, token, now)
    except NotAuthenticated as exc:
        errors = {"token": exc.detail}
        return render(request, "sign_in.html", {"next": landing, "errors": errors}, status=400)
    session = request.scope["session"]
    # A fresh session: nothing from before the sign-in is carried over into it.
    session.clear()
    session[SESSION_USER] = user_id
    session[SESSION_SIGNED_IN_AT] = int(now.timestamp())
    session[SESSION_TOKEN] = token_id
    renew_csrf_token(request)
    return redirect(landing)


@router.post("/sign-out")
async def sign_out(request: Request, csrf_token: Annotated[str | None, Form()] = None) -> Response:
    check_csrf(request, csrf_token)
    request.scope["session"].clear()
    renew_csrf_token(request)
    return redirect("/")
