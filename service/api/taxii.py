"""``/taxii2/``: the TAXII 2.1 read view, thin routes over ``service.taxii.service``.

Every TAXII route answers ``application/taxii+json;version=2.1``, errors included (the TAXII
``error`` resource, not a problem document: TAXII clients read that), and refuses with 406 an
``Accept`` header that excludes it. Callers authenticate as on ``/v1``: no credentials is
anonymous (TLP:CLEAR only), a bad token is 401 with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.routing import Match

from service.api.deps import NowDep, PrincipalDep, SessionFactoryDep, SettingsDep
from service.db import read_only, transaction
from service.errors import TrexError, to_problem
from service.settings import Settings
from service.taxii import service
from service.taxii.service import ObjectFilters, Page
from service.taxii.stix import EXTENSION_SCHEMA, EXTENSION_SCHEMA_PATH, StixNode, stix_timestamp

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
PREFIX = "/taxii2"
API_ROOT_PATH = "/api/"
_READ_ONLY = "The collection is read-only (can_write is false): TAXII here is a read view."


def taxii_error(
    status: int,
    title: str,
    description: str,
    *,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A TAXII 2.1 ``error`` resource (``http_status`` is a string, as TAXII defines it)."""
    body: dict[str, Any] = {"title": title, "description": description, "http_status": str(status)}
    if details:
        body["details"] = details
    return _taxii(body, status_code=status, headers=headers)


def _taxii(
    body: dict[str, Any], *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        status_code=status_code,
        media_type=TAXII_MEDIA_TYPE,
        headers=headers,
    )


def _from_domain(error: TrexError) -> Response:
    problem = to_problem(error)
    # TAXII reports a bad parameter as 400 (the node's API says 422 for a refused value).
    status = 400 if problem.status == 422 else problem.status
    details = (
        {"errors": [{"field": e.field, "detail": e.detail} for e in problem.errors]}
        if problem.errors
        else None
    )
    headers = {"WWW-Authenticate": 'Bearer realm="trex"'} if status == 401 else None
    return taxii_error(status, problem.title, problem.detail, details=details, headers=headers)


def _from_validation(error: RequestValidationError) -> Response:
    fields = []
    for e in error.errors():
        loc = [str(p) for p in e["loc"]]
        fields.append({"field": ".".join(loc[1:] if len(loc) > 1 else loc), "detail": e["msg"]})
    named = ", ".join(dict.fromkeys(f["field"] for f in fields))
    return taxii_error(
        400, "Invalid input", f"Invalid value for: {named}.", details={"errors": fields}
    )


def _media_range_accepts(media_range: str) -> bool:
    kind, *params = (p.strip() for p in media_range.split(";"))
    values = {}
    for param in params:
        name, _, value = param.partition("=")
        values[name.strip().lower()] = value.strip().strip('"')
    try:
        if float(values.get("q", "1")) <= 0:
            return False
    except ValueError:
        return False
    kind = kind.lower()
    if kind in ("*/*", "application/*"):
        return True
    return kind == "application/taxii+json" and values.get("version", "2.1") == "2.1"


def accepts_taxii(accept: str | None) -> bool:
    """Whether an ``Accept`` header admits ``application/taxii+json;version=2.1``."""
    if accept is None or not accept.strip():
        return True
    return any(_media_range_accepts(r) for r in accept.split(",") if r.strip())


class TaxiiRoute(APIRoute):
    """A route that negotiates the TAXII media type and answers errors as TAXII errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def taxii_handler(request: Request) -> Response:
            if not accepts_taxii(request.headers.get("accept")):
                return taxii_error(
                    406,
                    "Not acceptable",
                    f"This TAXII server answers {TAXII_MEDIA_TYPE} only.",
                    details={"errors": [{"field": "accept", "detail": "excludes TAXII 2.1"}]},
                )
            try:
                return await handle(request)
            except TrexError as error:
                return _from_domain(error)
            except RequestValidationError as error:
                return _from_validation(error)

        return taxii_handler


router = APIRouter(prefix=PREFIX, tags=["taxii"], route_class=TaxiiRoute)

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad parameter (a TAXII error)"},
    401: {"description": "Bad credentials (a TAXII error)"},
    404: {"description": "No such collection or object, or not visible to the caller"},
    406: {"description": "The Accept header excludes application/taxii+json;version=2.1"},
}


def _node(settings: Settings) -> StixNode:
    return StixNode(
        settings.node_id, settings.node_name, settings.node_country, settings.public_url
    )


def _root_url(settings: Settings) -> str:
    return settings.public_url + PREFIX + API_ROOT_PATH


@router.get("/", response_class=Response, responses=_ERRORS)
def discovery(settings: SettingsDep, principal: PrincipalDep) -> Response:
    """TAXII server discovery: the one API root."""
    return _taxii(
        {
            "title": settings.node_name or f"trex node {settings.node_id}",
            "description": (
                "TAXII 2.1 read view of this trex node's partner-risk advisories (TLP:CLEAR "
                "and TLP:GREEN) as STIX 2.1, filtered by what the caller may see."
            ),
            "contact": settings.public_url,
            "default": _root_url(settings),
            "api_roots": [_root_url(settings)],
        }
    )


@router.get(API_ROOT_PATH, response_class=Response, responses=_ERRORS)
def api_root(settings: SettingsDep, principal: PrincipalDep) -> Response:
    """The API root: its TAXII version and largest accepted request."""
    return _taxii(
        {
            "title": "trex advisories",
            "description": "Partner-risk advisories as STIX 2.1 reports about identities.",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": settings.max_body_bytes,
        }
    )


_COLLECTIONS = API_ROOT_PATH + "collections/"
_COLLECTION = _COLLECTIONS + "{collection_id}/"
_OBJECTS = _COLLECTION + "objects/"
_OBJECT = _OBJECTS + "{object_id}/"


@router.get(_COLLECTIONS, response_class=Response, responses=_ERRORS)
def collections(principal: PrincipalDep) -> Response:
    """Every collection (each shows only what the caller may see)."""
    return _taxii({"collections": [c.resource() for c in service.COLLECTIONS]})


@router.get(_COLLECTION, response_class=Response, responses=_ERRORS)
def collection(collection_id: str, principal: PrincipalDep) -> Response:
    """One collection."""
    return _taxii(service.get_collection(collection_id).resource())


def _filters(
    added_after: Annotated[str | None, Query(max_length=64)] = None,
    match_id: Annotated[str | None, Query(alias="match[id]", max_length=10_000)] = None,
    match_type: Annotated[str | None, Query(alias="match[type]", max_length=2_000)] = None,
    match_version: Annotated[str | None, Query(alias="match[version]", max_length=4_000)] = None,
    match_spec_version: Annotated[
        str | None, Query(alias="match[spec_version]", max_length=200)
    ] = None,
) -> ObjectFilters:
    return service.parse_filters(
        match_id=match_id,
        match_type=match_type,
        match_version=match_version,
        match_spec_version=match_spec_version,
        added_after=added_after,
    )


FiltersDep = Annotated[ObjectFilters, Depends(_filters)]
LimitQuery = Annotated[int, Query(ge=1, description=f"At most {service.MAX_LIMIT} are served.")]
NextQuery = Annotated[str | None, Query(alias="next", max_length=200)]


def _page_headers(page: Page) -> dict[str, str]:
    if page.date_added_first is None or page.date_added_last is None:
        return {}
    return {
        "X-TAXII-Date-Added-First": stix_timestamp(page.date_added_first),
        "X-TAXII-Date-Added-Last": stix_timestamp(page.date_added_last),
    }


def _envelope(page: Page, key: str, items: list[Any]) -> Response:
    body: dict[str, Any] = {"more": page.more}
    if page.next is not None:
        body["next"] = page.next
    if items:
        body[key] = items
    return _taxii(body, headers=_page_headers(page))


@router.get(_OBJECTS, response_class=Response, responses=_ERRORS)
def objects(
    collection_id: str,
    filters: FiltersDep,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    now: NowDep,
    limit: LimitQuery = service.DEFAULT_LIMIT,
    next_token: NextQuery = None,
) -> Response:
    """A page of the collection's objects: by default the latest version of each."""
    # A transaction: showing government-tier advisories is audited, as on /v1.
    with transaction(factory) as session:
        page = service.get_objects(
            session,
            principal=principal,
            node=_node(settings),
            collection_id=collection_id,
            filters=filters,
            limit=limit,
            next_token=next_token,
            now=now,
        )
    return _envelope(page, "objects", [e.object for e in page.entries])


@router.get(_OBJECT, response_class=Response, responses=_ERRORS)
def stix_object(
    collection_id: str,
    object_id: str,
    filters: FiltersDep,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    now: NowDep,
    limit: LimitQuery = service.DEFAULT_LIMIT,
    next_token: NextQuery = None,
) -> Response:
    """One object: by default its latest version; ``match[version]`` selects others."""
    with transaction(factory) as session:
        page = service.get_object(
            session,
            principal=principal,
            node=_node(settings),
            collection_id=collection_id,
            object_id=object_id,
            filters=filters,
            limit=limit,
            next_token=next_token,
            now=now,
        )
    return _envelope(page, "objects", [e.object for e in page.entries])


@router.get(_OBJECT + "versions/", response_class=Response, responses=_ERRORS)
def versions(
    collection_id: str,
    object_id: str,
    filters: FiltersDep,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    now: NowDep,
    limit: LimitQuery = service.DEFAULT_LIMIT,
    next_token: NextQuery = None,
) -> Response:
    """Every version (``modified``) of one object, oldest first."""
    with read_only(factory) as session:
        page = service.get_versions(
            session,
            principal=principal,
            node=_node(settings),
            collection_id=collection_id,
            object_id=object_id,
            filters=filters,
            limit=limit,
            next_token=next_token,
            now=now,
        )
    return _envelope(page, "versions", [e.version for e in page.entries])


@router.get(_COLLECTION + "manifest/", response_class=Response, responses=_ERRORS)
def manifest(
    collection_id: str,
    filters: FiltersDep,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    now: NowDep,
    limit: LimitQuery = service.DEFAULT_LIMIT,
    next_token: NextQuery = None,
) -> Response:
    """A page of the collection's manifest: id, version and date added of each object."""
    with read_only(factory) as session:
        page = service.get_manifest(
            session,
            principal=principal,
            node=_node(settings),
            collection_id=collection_id,
            filters=filters,
            limit=limit,
            next_token=next_token,
            now=now,
        )
    return _envelope(page, "objects", [e.manifest_record() for e in page.entries])


def _refuse_writes(collection_id: str, principal: PrincipalDep) -> Response:
    """Adding or deleting objects: the collection exists, but it is read-only."""
    service.get_collection(collection_id)
    return taxii_error(403, "Forbidden", _READ_ONLY)


router.add_api_route(_OBJECTS, _refuse_writes, methods=["POST"], include_in_schema=False)
router.add_api_route(_OBJECT, _refuse_writes, methods=["DELETE"], include_in_schema=False)


def extension_schema() -> Response:
    """The JSON Schema of the node's trex advisory STIX extension (public, like the docs)."""
    return Response(
        json.dumps(EXTENSION_SCHEMA, indent=2).encode(), media_type="application/schema+json"
    )


# An ordinary route: a JSON Schema document for anyone, no TAXII negotiation, no credentials.
router.add_api_route(
    EXTENSION_SCHEMA_PATH.removeprefix(PREFIX),
    extension_schema,
    methods=["GET"],
    response_class=Response,
    route_class_override=APIRoute,
)


async def _no_such_resource(request: Request) -> Response:
    """Anything else under ``/taxii2/``: 405 for a known path, else 404, as TAXII errors."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.path != _CATCH_ALL:
            match, _ = route.matches(request.scope)
            if match == Match.PARTIAL:
                allowed = sorted(route.methods or ())
                return taxii_error(
                    405,
                    "Method not allowed",
                    f"{request.method} is not allowed here; TAXII here is a read view.",
                    headers={"Allow": ", ".join(allowed)},
                )
    hint = "" if request.url.path.endswith("/") else " (TAXII URLs end with '/')"
    return taxii_error(404, "Not found", f"No TAXII resource at {request.url.path}{hint}.")


_CATCH_ALL = PREFIX + "/{rest:path}"
router.add_api_route(
    "/{rest:path}",
    _no_such_resource,
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    include_in_schema=False,
)
