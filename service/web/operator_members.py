"""``/operator/members``: member orgs, their users and the users' tokens (operators only).

Reads and changes are the use cases of ``service.access.admin`` that the ``/v1/admin`` routes
call too, so a form makes exactly the API's checks (a read-only operator session looks but
cannot change) and leaves the same audit entry.

An issued token's text is in the answer to the form that issued it and nowhere else: not in a
redirect, the session or a log. The form carries the id of the newest token its page showed,
so sending it twice (a reload of that answer) issues nothing the second time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from service.access import admin
from service.access.models import ORG_KINDS, ORG_STATUSES, ROLES, USER_STATUSES
from service.access.policy import require_operator
from service.access.principal import Principal
from service.access.schemas import OrgCreate, OrgUpdate, TokenCreate, UserCreate, UserUpdate
from service.api.deps import NowDep, SessionFactoryDep, SettingsDep
from service.api.problems import validation_problem
from service.db import read_only, transaction
from service.errors import Conflict, InvalidInput
from service.web.render import WebRoute, redirect, render
from service.web.security import ViewerDep, check_csrf

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_MEMBERS = "/operator/members"
_TEXT = 320
_LONG_TEXT = 4000
DoneKey = Annotated[str | None, Query(max_length=40)]
Errors = dict[str, str]
M = TypeVar("M", bound=BaseModel)

# What the page says after a change; the query names a message, never carries its text.
_NOTICES: dict[str, tuple[str, str]] = {
    "org-added": ("notice-ok", "The organisation was added."),
    "org-updated": ("notice-ok", "The organisation was changed."),
    "user-added": ("notice-ok", "The user was added. Issue a token so they can sign in."),
    "user-updated": ("notice-ok", "The user was changed."),
    "token-revoked": ("notice-ok", "The token was revoked: it no longer works."),
    "tokens-changed": (
        "notice-warning",
        "No token was issued: this user's tokens changed since the form was loaded (was it "
        "sent twice?). Check the list below and issue one again if it is still needed.",
    ),
}


def _notice(done: str | None) -> tuple[str, str] | None:
    return _NOTICES.get(done or "")


def _org_url(org_id: str, done: str | None = None) -> str:
    return f"{_MEMBERS}/orgs/{org_id}" + (f"?done={done}" if done else "")


def _user_url(user_id: str, done: str | None = None) -> str:
    return f"{_MEMBERS}/users/{user_id}" + (f"?done={done}" if done else "")


def _split_domains(text: str) -> list[str]:
    return text.replace(",", " ").split()


def _parse(model: type[M], values: Mapping[str, Any]) -> M:
    """The wire model the API would have read, or ``InvalidInput`` naming each field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problem = validation_problem([dict(e) for e in exc.errors()])
        raise InvalidInput(problem.detail, errors=problem.errors) from None


def _form_errors(error: InvalidInput | Conflict, form_id: str) -> Errors:
    """Messages by form field (``email_domains.0`` is the ``email_domains`` field); a conflict,
    which names no field, is the whole form's."""
    if isinstance(error, Conflict) or not error.errors:
        return {form_id: error.detail}
    errors: Errors = {}
    for field_error in error.errors:
        errors.setdefault(field_error.field.split(".")[0], field_error.detail)
    return errors


def _status_of(error: InvalidInput | Conflict) -> int:
    return 409 if isinstance(error, Conflict) else 422


# --- the org list ---------------------------------------------------------------------------


def _members_page(
    request: Request,
    viewer: Principal,
    factory: sessionmaker[Session],
    now: datetime,
    *,
    done: str | None = None,
    errors: Errors | None = None,
    values: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    with read_only(factory) as session:
        orgs = admin.list_orgs(session, principal=viewer)
        user_counts = Counter(user.org_id for user in admin.list_users(session, principal=viewer))
        return render(
            request,
            "operator_members.html",
            {
                "orgs": orgs,
                "user_counts": user_counts,
                "today": now.date(),
                "kinds": ORG_KINDS,
                "notice": _notice(done),
                "errors": errors or {},
                "values": values or {},
            },
            status=status,
        )


@router.get(_MEMBERS)
def members(
    request: Request,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    now: NowDep,
    done: DoneKey = None,
) -> Response:
    return _members_page(request, viewer, factory, now, done=done)


@router.post(_MEMBERS)
def add_org(
    request: Request,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    now: NowDep,
    name: Annotated[str, Form(max_length=_TEXT)] = "",
    kind: Annotated[str, Form(max_length=40)] = "",
    vetted_until: Annotated[str, Form(max_length=40)] = "",
    email_domains: Annotated[str, Form(max_length=_LONG_TEXT)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    values = {
        "name": name,
        "kind": kind,
        "vetted_until": vetted_until,
        "email_domains": email_domains,
    }
    try:
        org_in = _parse(
            OrgCreate,
            {
                "name": name,
                "kind": kind,
                "vetted_until": vetted_until or None,
                "email_domains": _split_domains(email_domains),
            },
        )
        with transaction(factory) as session:
            org = admin.add_org(session, principal=viewer, org_in=org_in, now=now)
    except (InvalidInput, Conflict) as error:
        return _members_page(
            request,
            viewer,
            factory,
            now,
            errors=_form_errors(error, "add-org"),
            values=values,
            status=_status_of(error),
        )
    return redirect(_org_url(org.id, "org-added"))


# --- one org and its users ------------------------------------------------------------------


def _org_page(
    request: Request,
    viewer: Principal,
    factory: sessionmaker[Session],
    now: datetime,
    org_id: str,
    *,
    done: str | None = None,
    errors: Errors | None = None,
    values: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    with read_only(factory) as session:
        org = admin.get_org(session, principal=viewer, org_id=org_id)
        return render(
            request,
            "operator_org.html",
            {
                "org": org,
                "users": admin.list_users(session, principal=viewer, org_id=org.id),
                "today": now.date(),
                "org_statuses": ORG_STATUSES,
                "roles": ROLES,
                "notice": _notice(done),
                "errors": errors or {},
                "values": values or {},
            },
            status=status,
        )


@router.get(_MEMBERS + "/orgs/{org_id}")
def org_page(
    request: Request,
    org_id: str,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    now: NowDep,
    done: DoneKey = None,
) -> Response:
    return _org_page(request, viewer, factory, now, org_id, done=done)


@router.post(_MEMBERS + "/orgs/{org_id}")
def update_org(
    request: Request,
    org_id: str,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    now: NowDep,
    vetted_until: Annotated[str, Form(max_length=40)] = "",
    status: Annotated[str, Form(max_length=40)] = "",
    email_domains: Annotated[str, Form(max_length=_LONG_TEXT)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    try:
        # An empty date ends vetting, as "vetted_until": null does on the API.
        changes_in = _parse(
            OrgUpdate,
            {
                "vetted_until": vetted_until or None,
                "status": status,
                "email_domains": _split_domains(email_domains),
            },
        )
        with transaction(factory) as session:
            admin.update_org(
                session, principal=viewer, org_id=org_id, changes_in=changes_in, now=now
            )
    except (InvalidInput, Conflict) as error:
        values = {"vetted_until": vetted_until, "status": status, "email_domains": email_domains}
        return _org_page(
            request,
            viewer,
            factory,
            now,
            org_id,
            errors=_form_errors(error, "change-org"),
            values=values,
            status=_status_of(error),
        )
    return redirect(_org_url(org_id, "org-updated"))


@router.post(_MEMBERS + "/orgs/{org_id}/users")
def add_user(
    request: Request,
    org_id: str,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    now: NowDep,
    email: Annotated[str, Form(max_length=_TEXT)] = "",
    role: Annotated[str, Form(max_length=40)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    try:
        user_in = _parse(UserCreate, {"email": email, "org_id": org_id, "role": role})
        with transaction(factory) as session:
            user = admin.add_user(session, principal=viewer, user_in=user_in, now=now)
    except (InvalidInput, Conflict) as error:
        return _org_page(
            request,
            viewer,
            factory,
            now,
            org_id,
            errors=_form_errors(error, "add-user"),
            values={"email": email, "role": role},
            status=_status_of(error),
        )
    return redirect(_user_url(user.id, "user-added"))


# --- one user and its tokens ----------------------------------------------------------------


def _user_page(
    request: Request,
    viewer: Principal,
    factory: sessionmaker[Session],
    now: datetime,
    user_id: str,
    default_ttl_days: int,
    *,
    done: str | None = None,
    errors: Errors | None = None,
    values: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    with read_only(factory) as session:
        user = admin.get_user(session, principal=viewer, user_id=user_id)
        tokens = admin.list_tokens(session, principal=viewer, user_id=user.id)
        return render(
            request,
            "operator_user.html",
            {
                "user": user,
                "tokens": tokens,
                "newest": tokens[0].id if tokens else "",
                "now": now,
                "today": now.date(),
                "roles": ROLES,
                "user_statuses": USER_STATUSES,
                "default_ttl_days": default_ttl_days,
                "notice": _notice(done),
                "errors": errors or {},
                "values": values or {},
            },
            status=status,
        )


@router.get(_MEMBERS + "/users/{user_id}")
def user_page(
    request: Request,
    user_id: str,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    now: NowDep,
    done: DoneKey = None,
) -> Response:
    return _user_page(request, viewer, factory, now, user_id, settings.token_ttl_days, done=done)


@router.post(_MEMBERS + "/users/{user_id}")
def update_user(
    request: Request,
    user_id: str,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    now: NowDep,
    role: Annotated[str, Form(max_length=40)] = "",
    status: Annotated[str, Form(max_length=40)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    try:
        changes_in = _parse(UserUpdate, {"role": role, "status": status})
        with transaction(factory) as session:
            admin.update_user(
                session, principal=viewer, user_id=user_id, changes_in=changes_in, now=now
            )
    except (InvalidInput, Conflict) as error:
        return _user_page(
            request,
            viewer,
            factory,
            now,
            user_id,
            settings.token_ttl_days,
            errors=_form_errors(error, "change-user"),
            values={"role": role, "status": status},
            status=_status_of(error),
        )
    return redirect(_user_url(user_id, "user-updated"))


@router.post(_MEMBERS + "/users/{user_id}/tokens")
def issue_token(
    request: Request,
    user_id: str,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    now: NowDep,
    label: Annotated[str, Form(max_length=_TEXT)] = "",
    ttl_days: Annotated[str, Form(max_length=10)] = "",
    read_only_token: Annotated[bool, Form(alias="read_only")] = False,
    newest: Annotated[str, Form(max_length=100)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    # Before the list is read: a read-only operator is refused, not sent back to the form.
    require_operator(viewer, changes=True)
    try:
        with transaction(factory) as session:
            tokens = admin.list_tokens(session, principal=viewer, user_id=user_id)
            if (tokens[0].id if tokens else "") != newest:
                return redirect(_user_url(user_id, "tokens-changed"))
            token_in = _parse(
                TokenCreate,
                {
                    "user_id": user_id,
                    "ttl_days": ttl_days.strip() or None,
                    "read_only": read_only_token,
                    "label": label.strip() or None,
                },
            )
            token, text = admin.issue_token(
                session,
                principal=viewer,
                token_in=token_in,
                default_ttl=timedelta(days=settings.token_ttl_days),
                now=now,
            )
            issued = {
                "token": text,
                "user_id": token.user_id,
                "email": token.user.email,
                "label": token.label,
                "read_only": token.read_only,
                "created_at": token.created_at,
                "expires_at": token.expires_at,
            }
    except (InvalidInput, Conflict) as error:
        values = {"label": label, "ttl_days": ttl_days, "read_only": read_only_token}
        return _user_page(
            request,
            viewer,
            factory,
            now,
            user_id,
            settings.token_ttl_days,
            errors=_form_errors(error, "issue-token"),
            values=values,
            status=_status_of(error),
        )
    # The one time this text is shown: the page is not cached (render sets no-store).
    return render(request, "operator_token_issued.html", {"issued": issued})


@router.post(_MEMBERS + "/tokens/{token_id}/revoke")
def revoke_token(
    request: Request,
    token_id: str,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    now: NowDep,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    with transaction(factory) as session:
        token = admin.revoke_token(session, principal=viewer, token_id=token_id, now=now)
    return redirect(_user_url(token.user_id, "token-revoked"))
