"""``/v1/advisories``: thin routes over ``service.advisories.service``."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from service.advisories import service
from service.advisories.schemas import (
    AdvisoryCreate,
    AdvisoryPage,
    AdvisoryRead,
    AdvisoryUpdate,
    AdvisoryWithdraw,
    ListFilters,
    RevisionPage,
)
from service.api.deps import NodeKeysDep, NowDep, PrincipalDep, SessionFactoryDep, SettingsDep
from service.api.problems import PROBLEM_CONTENT
from service.db import audited_read, transaction

router = APIRouter(prefix="/v1/advisories", tags=["advisories"])

_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Bad credentials", **PROBLEM_CONTENT},
    404: {"description": "No such advisory, or not visible to the caller", **PROBLEM_CONTENT},
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_READ_ERRORS,
    400: {"description": "Malformed body: not JSON, or not decodable", **PROBLEM_CONTENT},
    403: {"description": "The caller's role or org may not write this", **PROBLEM_CONTENT},
    409: {
        "description": "Based on a stale revision, or not allowed in this state",
        **PROBLEM_CONTENT,
    },
    413: {"description": "Body too large", **PROBLEM_CONTENT},
    422: {"description": "Invalid input; the problem names each field", **PROBLEM_CONTENT},
}


class ListQuery(ListFilters):
    limit: int = Query(default=50, ge=1, le=service.MAX_PAGE)
    cursor: str | None = Query(default=None, max_length=200)


def _json(text: str, status_code: int = 200) -> Response:
    return Response(text.encode(), status_code=status_code, media_type="application/json")


@router.get(
    "",
    responses={
        200: {"model": AdvisoryPage},
        401: _READ_ERRORS[401],
        422: {"description": "Bad filter", **PROBLEM_CONTENT},
    },
    response_class=Response,
)
def list_advisories(
    params: Annotated[ListQuery, Query()],
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    now: NowDep,
) -> Response:
    """Visible advisories, newest first, one page at a time (``next_cursor`` is opaque)."""
    filters = ListFilters.model_validate(params.model_dump(exclude={"limit", "cursor"}))
    # Not a read-only session: reading restricted advisories is audited.
    with audited_read(factory) as session:
        documents, next_cursor = service.list_advisories(
            session,
            principal=principal,
            filters=filters,
            limit=params.limit,
            cursor=params.cursor,
            now=now,
        )
    # Stored documents are already JSON text: splice them rather than parse and re-serialise.
    body = '{"items":[' + ",".join(documents) + '],"next_cursor":' + json.dumps(next_cursor) + "}"
    return _json(body)


@router.post(
    "",
    status_code=201,
    responses={201: {"model": AdvisoryRead}, **_WRITE_ERRORS},
    response_class=JSONResponse,
)
def create_advisory(
    advisory_in: AdvisoryCreate,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    nodes: NodeKeysDep,
    now: NowDep,
) -> JSONResponse:
    """A new advisory (draft or published) contributed by the caller's org."""
    with transaction(factory) as session:
        document = service.create_advisory(
            session,
            principal=principal,
            node_id=settings.node_id,
            key=nodes.ring().current,
            advisory_in=advisory_in,
            now=now,
        )
    return JSONResponse(
        document, status_code=201, headers={"Location": f"/v1/advisories/{document['id']}"}
    )


@router.get(
    "/{advisory_id}",
    responses={200: {"model": AdvisoryRead}, **_READ_ERRORS},
    response_class=Response,
)
def get_advisory(
    advisory_id: str, principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> Response:
    """The latest revision the caller may see."""
    with audited_read(factory) as session:
        text = service.get_advisory(session, principal=principal, advisory_id=advisory_id, now=now)
    return _json(text)


@router.get(
    "/{advisory_id}/revisions",
    responses={200: {"model": RevisionPage}, **_READ_ERRORS},
    response_class=Response,
)
def list_revisions(
    advisory_id: str, principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> Response:
    """Every revision of the advisory the caller may see, oldest first."""
    with transaction(factory) as session:
        texts = service.list_revisions(
            session, principal=principal, advisory_id=advisory_id, now=now
        )
    return _json('{"items":[' + ",".join(texts) + "]}")


@router.patch(
    "/{advisory_id}",
    responses={200: {"model": AdvisoryRead}, **_WRITE_ERRORS},
    response_class=JSONResponse,
)
def update_advisory(
    advisory_id: str,
    changes_in: AdvisoryUpdate,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    nodes: NodeKeysDep,
    now: NowDep,
) -> JSONResponse:
    """A new revision with the given fields changed; ``base_revision`` must be the latest."""
    with transaction(factory) as session:
        document = service.update_advisory(
            session,
            principal=principal,
            node_id=settings.node_id,
            key=nodes.ring().current,
            advisory_id=advisory_id,
            changes_in=changes_in,
            now=now,
        )
    return JSONResponse(document)


@router.post(
    "/{advisory_id}/withdraw",
    responses={200: {"model": AdvisoryRead}, **_WRITE_ERRORS},
    response_class=JSONResponse,
)
def withdraw_advisory(
    advisory_id: str,
    withdraw_in: AdvisoryWithdraw,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    nodes: NodeKeysDep,
    now: NowDep,
) -> JSONResponse:
    """Withdraw with a reason: a new revision with status ``withdrawn``."""
    with transaction(factory) as session:
        document = service.withdraw_advisory(
            session,
            principal=principal,
            node_id=settings.node_id,
            key=nodes.ring().current,
            advisory_id=advisory_id,
            withdraw_in=withdraw_in,
            now=now,
        )
    return JSONResponse(document)
