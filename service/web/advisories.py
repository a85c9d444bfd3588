"""Pages: advisories.

``/advisories`` lists what the viewer may see (as ``GET /v1/advisories`` does for them),
``/advisories/{id}`` shows one with its history, and the forms under ``/advisories/new`` and
``/advisories/{id}/edit|withdraw`` write through the domain with the viewer's own rights.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from service.access.policy import WRITE_ROLES, check_can_write
from service.access.principal import Principal
from service.advisories import service
from service.advisories.schemas import AdvisoryCreate, AdvisoryWithdraw, ListFilters
from service.api.deps import NodeKeysDep, NowDep, SessionFactoryDep, SettingsDep
from service.db import transaction
from service.errors import Conflict, InvalidInput, NotPermitted
from service.peering.service import NodeKeys
from service.settings import Settings
from service.web import advisory_forms as forms
from service.web.render import WebRoute, redirect, render
from service.web.security import CSRF_FIELD, ViewerDep, check_csrf

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 25
_NOTICE = "advisory_notice"  # the session key of the one-time notice after a form succeeds
_FILTERS = ("q", "country", "risk", "tier", "category", "origin", "status")
_FilterText = Annotated[str | None, Query(max_length=200)]

# What the templates use to show values; the forms' choices come from the domain's schemas.
_HELPERS: dict[str, Any] = {
    "label": forms.label,
    "safe_href": forms.safe_href,
    "choices": forms.CHOICES,
    "form_level": forms.FORM_LEVEL,
}


def _page(
    request: Request, template: str, context: Mapping[str, Any], *, status: int = 200
) -> Response:
    return render(request, template, {**_HELPERS, **context}, status=status)


def _flash(request: Request, message: str) -> None:
    request.scope["session"][_NOTICE] = message


def _take_notice(request: Request) -> str | None:
    notice = request.scope.get("session", {}).pop(_NOTICE, None)
    return notice if isinstance(notice, str) else None


def _writable_tier(principal: Principal) -> str:
    """The tier the viewer writes; the policy's refusal (sign in, 403) for anyone else."""
    tier = WRITE_ROLES.get(principal.role or "", "")
    check_can_write(principal, tier=tier, contributor_org_id=principal.org_id)
    return tier


def _check_may_change(principal: Principal, document: Mapping[str, Any], node_id: str) -> None:
    """Refuse the edit and withdraw forms to whoever could not send them.

    Only spares a writer a form the domain would refuse: the post is decided by the domain,
    which also checks that the viewer's org contributed the advisory.
    """
    check_can_write(principal, tier=document["tier"], contributor_org_id=principal.org_id)
    if document["contributor_org"] != principal.org_name:
        raise NotPermitted("Only the contributing organisation may revise or withdraw this.")
    if document["origin"] != node_id:
        raise Conflict("Only the origin node may revise or withdraw this advisory.")
    if document["status"] == "withdrawn":
        raise Conflict("The advisory is withdrawn; a withdrawn advisory cannot be changed.")


def _offers_changes(principal: Principal, document: Mapping[str, Any], node_id: str) -> bool:
    """Whether to show the edit and withdraw links (the domain decides on the post)."""
    return (
        not principal.read_only
        and WRITE_ROLES.get(principal.role or "") == document["tier"]
        and document["contributor_org"] == principal.org_name
        and document["origin"] == node_id
        and document["status"] != "withdrawn"
    )


# --- the list --------------------------------------------------------------------------------


@router.get("/advisories")
def advisory_list(
    request: Request,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    now: NowDep,
    q: _FilterText = None,
    country: _FilterText = None,
    risk: _FilterText = None,
    tier: _FilterText = None,
    category: _FilterText = None,
    origin: _FilterText = None,
    status: _FilterText = None,
    cursor: _FilterText = None,
) -> Response:
    raw = dict(zip(_FILTERS, (q, country, risk, tier, category, origin, status), strict=True))
    given = {name: value.strip() for name, value in raw.items() if value and value.strip()}
    if "country" in given:
        given["country"] = given["country"].upper()
    try:
        filters = ListFilters.model_validate(given)
    except ValidationError as exc:
        refused = {"filters": given, "errors": forms.model_errors(exc), "items": []}
        return _page(request, "advisories.html", refused, status=400)
    # A transaction, as on the API: showing restricted advisories is audited.
    with transaction(factory) as session:
        texts, next_cursor = service.list_advisories(
            session, principal=viewer, filters=filters, limit=PAGE_SIZE, cursor=cursor, now=now
        )
    next_url = "/advisories?" + urlencode({**given, "cursor": next_cursor}) if next_cursor else None
    first_url = ("/advisories?" + urlencode(given)) if cursor else None
    context: dict[str, Any] = {
        "filters": given,
        "errors": {},
        "items": [json.loads(text) for text in texts],
        "next_url": next_url,
        "first_url": first_url,
    }
    return _page(request, "advisories.html", context)


# --- one advisory ----------------------------------------------------------------------------


@router.get("/advisories/new")
def new_advisory_form(request: Request, viewer: ViewerDep) -> Response:
    tier = _writable_tier(viewer)
    return _form_page(request, forms.blank_form(tier), {}, tier=tier)


@router.get("/advisories/{advisory_id}")
def advisory_page(
    request: Request,
    advisory_id: str,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    # The same two reads as GET /v1/advisories/{id} and .../revisions, audited alike.
    with transaction(factory) as session:
        text = service.get_advisory(session, principal=viewer, advisory_id=advisory_id, now=now)
        revisions = service.list_revisions(
            session, principal=viewer, advisory_id=advisory_id, now=now
        )
    document = json.loads(text)
    context = {
        "advisory": document,
        "history": forms.history([json.loads(r) for r in revisions]),
        "notice": _take_notice(request),
        "may_change": _offers_changes(viewer, document, settings.node_id),
    }
    return _page(request, "advisory.html", context)


# --- writing ---------------------------------------------------------------------------------


def _form_page(
    request: Request,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    *,
    tier: str,
    current: Mapping[str, Any] | None = None,
    base_revision: str = "",
    conflict: bool = False,
    status: int = 200,
) -> Response:
    statuses = ["published"] if current and current["status"] == "published" else None
    context = {
        "values": values,
        "errors": errors,
        "tiers": [tier],
        "statuses": statuses or list(forms.CHOICES["status"]),
        "source_rows": forms.source_rows(values),
        "current": current,
        "base_revision": base_revision,
        "conflict": conflict,
    }
    return _page(request, "advisory_form.html", context, status=status)


def _form_errors(exc: InvalidInput, values: Mapping[str, str]) -> dict[str, str]:
    return forms.domain_errors(exc.errors, values) or {forms.FORM_LEVEL: exc.detail}


def _create(
    factory: sessionmaker[Session],
    viewer: Principal,
    settings: Settings,
    nodes: NodeKeys,
    advisory_in: AdvisoryCreate,
    now: datetime,
) -> dict[str, Any]:
    with transaction(factory) as session:
        return service.create_advisory(
            session,
            principal=viewer,
            node_id=settings.node_id,
            key=nodes.ring().current,
            advisory_in=advisory_in,
            now=now,
        )


@router.post("/advisories/new")
async def create_advisory(
    request: Request,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    nodes: NodeKeysDep,
    now: NowDep,
) -> Response:
    form = await request.form()
    check_csrf(request, form.get(CSRF_FIELD))
    tier = _writable_tier(viewer)
    values = forms.read_form(form)
    try:
        advisory_in = forms.parse_create(values)
        document = await run_in_threadpool(
            _create, factory, viewer, settings, nodes, advisory_in, now
        )
    except forms.FormInvalid as exc:
        return _form_page(request, values, exc.errors, tier=tier, status=422)
    except InvalidInput as exc:
        return _form_page(request, values, _form_errors(exc, values), tier=tier, status=422)
    published = document["status"] == "published"
    _flash(request, "Advisory published." if published else "Draft saved.")
    return redirect(f"/advisories/{document['id']}")


def _read(
    factory: sessionmaker[Session], viewer: Principal, advisory_id: str, now: datetime
) -> dict[str, Any]:
    with transaction(factory) as session:
        text = service.get_advisory(session, principal=viewer, advisory_id=advisory_id, now=now)
    document: dict[str, Any] = json.loads(text)
    return document


@router.get("/advisories/{advisory_id}/edit")
def edit_advisory_form(
    request: Request,
    advisory_id: str,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    current = _read(factory, viewer, advisory_id, now)
    _check_may_change(viewer, current, settings.node_id)
    return _form_page(
        request,
        forms.form_from_document(current),
        {},
        tier=current["tier"],
        current=current,
        base_revision=str(current["revision"]),
    )


def _update(
    factory: sessionmaker[Session],
    viewer: Principal,
    settings: Settings,
    nodes: NodeKeys,
    now: datetime,
    advisory_id: str,
    values: Mapping[str, str],
    base_revision: str,
) -> dict[str, Any]:
    with transaction(factory) as session:
        text = service.get_advisory(session, principal=viewer, advisory_id=advisory_id, now=now)
        current = json.loads(text)
        _check_may_change(viewer, current, settings.node_id)
        return service.update_advisory(
            session,
            principal=viewer,
            node_id=settings.node_id,
            key=nodes.ring().current,
            advisory_id=advisory_id,
            changes_in=forms.parse_update(values, current, base_revision),
            now=now,
        )


@router.post("/advisories/{advisory_id}/edit")
async def edit_advisory(
    request: Request,
    advisory_id: str,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    nodes: NodeKeysDep,
    now: NowDep,
) -> Response:
    form = await request.form()
    check_csrf(request, form.get(CSRF_FIELD))
    _writable_tier(viewer)
    values = forms.read_form(form)
    base = form.get("base_revision")
    base_revision = base if isinstance(base, str) else ""
    conflict = False
    try:
        await run_in_threadpool(
            _update, factory, viewer, settings, nodes, now, advisory_id, values, base_revision
        )
    except forms.FormInvalid as exc:
        errors = exc.errors
    except InvalidInput as exc:
        errors = _form_errors(exc, values)
    except Conflict as exc:
        # A stale base: the form keeps its old revision, so sending it again cannot overwrite
        # the change made in between unseen.
        errors, conflict = {forms.FORM_LEVEL: exc.detail}, True
    else:
        _flash(request, "Advisory updated: a new revision is in its history.")
        return redirect(f"/advisories/{advisory_id}")
    current = await run_in_threadpool(_read, factory, viewer, advisory_id, now)
    return _form_page(
        request,
        values,
        errors,
        tier=current["tier"],
        current=current,
        base_revision=base_revision,
        conflict=conflict,
        status=409 if conflict else 422,
    )


@router.get("/advisories/{advisory_id}/withdraw")
def withdraw_advisory_form(
    request: Request,
    advisory_id: str,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    current = _read(factory, viewer, advisory_id, now)
    _check_may_change(viewer, current, settings.node_id)
    context = {
        "advisory": current,
        "reason": "",
        "base_revision": str(current["revision"]),
        "errors": {},
    }
    return _page(request, "advisory_withdraw.html", context)


def _withdraw(
    factory: sessionmaker[Session],
    viewer: Principal,
    settings: Settings,
    nodes: NodeKeys,
    now: datetime,
    advisory_id: str,
    withdraw_in: AdvisoryWithdraw,
) -> dict[str, Any]:
    with transaction(factory) as session:
        return service.withdraw_advisory(
            session,
            principal=viewer,
            node_id=settings.node_id,
            key=nodes.ring().current,
            advisory_id=advisory_id,
            withdraw_in=withdraw_in,
            now=now,
        )


@router.post("/advisories/{advisory_id}/withdraw")
async def withdraw_advisory(
    request: Request,
    advisory_id: str,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    nodes: NodeKeysDep,
    now: NowDep,
) -> Response:
    form = await request.form()
    check_csrf(request, form.get(CSRF_FIELD))
    _writable_tier(viewer)
    reason = form.get("reason")
    base = form.get("base_revision")
    entered = reason.replace("\r\n", "\n") if isinstance(reason, str) else ""
    base_revision = base if isinstance(base, str) else ""
    try:
        withdraw_in = AdvisoryWithdraw.model_validate(
            {"base_revision": base_revision, "reason": entered}
        )
        await run_in_threadpool(
            _withdraw, factory, viewer, settings, nodes, now, advisory_id, withdraw_in
        )
    except ValidationError as exc:
        errors = forms.model_errors(exc)
        if errors.pop("base_revision", None):
            errors[forms.FORM_LEVEL] = "The form lost its revision number: reload the page."
    except (InvalidInput, Conflict) as exc:
        errors = {forms.FORM_LEVEL: exc.detail}
    else:
        _flash(request, "Advisory withdrawn.")
        return redirect(f"/advisories/{advisory_id}")
    current = await run_in_threadpool(_read, factory, viewer, advisory_id, now)
    context = {
        "advisory": current,
        "reason": entered,
        "base_revision": base_revision,
        "errors": errors,
    }
    return _page(request, "advisory_withdraw.html", context, status=422)
