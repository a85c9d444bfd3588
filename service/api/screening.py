"""``/v1/screen``: screen one name, or a batch of them, against the caller's visible advisories.

Thin routes over ``service.screening.service`` and ``service.screening.batch``: the batch body
(a JSON list or a CSV file, SPEC section 6) is validated row by row before the first byte of the
report is sent, then screened and streamed a chunk of rows at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from service.api.deps import (
    NowDep,
    PrincipalDep,
    ScreeningIndexDep,
    SessionFactoryDep,
)
from service.api.problems import PROBLEM_CONTENT
from service.db import audited_read
from service.screening import service
from service.screening.batch import (
    CSV_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    csv_report,
    json_report,
    parse_upload,
    screen_batch_results,
)
from service.screening.schemas import BatchReport, ScreenResult
from service.screening.service import MAX_BATCH_ROWS

router = APIRouter(prefix="/v1/screen", tags=["screening"])

BATCH_PATH = "/v1/screen/batch"
"""The one route ``BodySizeLimit`` allows the larger ``max_batch_body_bytes`` body."""
MAX_LIMIT = 50
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Bad credentials", **PROBLEM_CONTENT},
    422: {"description": "Invalid input; the problem names each field", **PROBLEM_CONTENT},
}


_BATCH_ROW_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "description": "A name (or an affiliation line)."},
        {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "country": {
                    "type": ["string", "null"],
                    "description": "ISO 3166-1 alpha-2 code",
                },
            },
            "additionalProperties": {
                "type": ["string", "number", "boolean", "null"],
                "description": "Echoed back in the row's `fields`.",
            },
        },
    ]
}
_BATCH_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        JSON_MEDIA_TYPE: {
            "schema": {
                "oneOf": [
                    {"type": "array", "items": _BATCH_ROW_SCHEMA, "maxItems": MAX_BATCH_ROWS},
                    {
                        "type": "object",
                        "required": ["rows"],
                        "additionalProperties": False,
                        "properties": {
                            "rows": {
                                "type": "array",
                                "items": _BATCH_ROW_SCHEMA,
                                "maxItems": MAX_BATCH_ROWS,
                            }
                        },
                    },
                ]
            }
        },
        CSV_MEDIA_TYPE: {
            "schema": {
                "type": "string",
                "description": "UTF-8 (a BOM is allowed), a header row with a `name` column "
                "and optionally `country`; other columns are echoed back.",
            }
        },
    },
}


# --- GET /v1/screen ---------------------------------------------------------------------------


@router.get(
    "",
    responses={200: {"model": ScreenResult}, **_ERRORS},
    response_class=Response,
)
def screen_name(
    q: Annotated[
        str, Query(description="A name, acronym or affiliation line (at most 1000 characters)")
    ],
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    index: ScreeningIndexDep,
    now: NowDep,
    country: Annotated[
        str | None, Query(description="ISO 3166-1 alpha-2 code of the subject's country")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
) -> Response:
    """Subjects the name designates, best first, each with the caller's visible advisories.

    Anyone may screen, anonymous callers included; the access policy decides which advisories
    each caller sees, and a subject none of whose advisories the caller may see is left out
    entirely. Only published advisories count: drafts are not in force yet, and withdrawn
    advisories no longer are, so neither is ever a screening hit (the advisory list still
    shows withdrawn ones on request).
    """
    # Not a read-only session: showing restricted advisories is audited.
    with audited_read(factory) as session:
        result = service.screen(
            session,
            principal=principal,
            index=index,
            query=q,
            country=country,
            now=now,
            limit=limit,
        )
    return Response(result.model_dump_json(), media_type=JSON_MEDIA_TYPE)


# --- POST /v1/screen/batch: reading the upload ------------------------------------------------


@dataclass(frozen=True)
class _Upload:
    body: bytes
    content_type: str | None
    accept: str | None


async def _read_upload(request: Request) -> _Upload:
    # The body is already buffered (and size-checked) by BodySizeLimit.
    return _Upload(
        await request.body(),
        request.headers.get("content-type"),
        request.headers.get("accept"),
    )


def _wants_csv(format_: str | None, accept: str | None) -> bool:
    """``?format=`` decides; otherwise CSV when ``Accept`` prefers ``text/csv`` to JSON."""
    if format_ is not None:
        return format_ == "csv"
    weights = {CSV_MEDIA_TYPE: 0.0, JSON_MEDIA_TYPE: 0.0}
    for media_range in (accept or "").split(","):
        media, _, parameters = media_range.partition(";")
        media = media.strip().lower()
        if media not in weights:
            continue
        weight = 1.0
        for parameter in parameters.split(";"):
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media] = max(weights[media], weight)
    return weights[CSV_MEDIA_TYPE] > weights[JSON_MEDIA_TYPE]


@router.post(
    "/batch",
    openapi_extra={"requestBody": _BATCH_REQUEST_BODY},
    responses={
        200: {
            "model": BatchReport,
            "description": "One result per row, in input order (JSON), or one CSV line per "
            "match and one per row without a match",
            "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        **_ERRORS,
        400: {"description": "The body is not valid JSON", **PROBLEM_CONTENT},
        413: {"description": "Body larger than the batch limit", **PROBLEM_CONTENT},
        415: {"description": "Neither JSON nor CSV in UTF-8", **PROBLEM_CONTENT},
        422: {
            "description": "Invalid input: the problem names each bad row's field "
            "(`rows[17].name`, rows counted from 1), `rows` for too many, `name` for a CSV "
            "without a name column, `body` for a body that is not UTF-8 JSON or CSV",
            **PROBLEM_CONTENT,
        },
    },
    response_class=Response,
)
def screen_batch(
    upload: Annotated[_Upload, Depends(_read_upload)],
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    index: ScreeningIndexDep,
    now: NowDep,
    format_: Annotated[
        Literal["json", "csv"] | None,
        Query(alias="format", description="Report format; otherwise from Accept, JSON default"),
    ] = None,
) -> Response:
    """Screen up to 10,000 names: a JSON list (of names or ``{"name", "country", …}``
    objects, bare or as ``{"rows": […]}``), or a CSV file with a ``name`` column.

    Rows count from 1 in input order (in a CSV, the first row under the header is row 1; blank
    lines are skipped). Every row is validated before the report starts, so a bad row anywhere
    gets a 422 naming it. Results follow the same rules as ``GET /v1/screen``: only what the
    caller may see, withdrawn advisories never listed.

    The CSV report has one line per match (``match_rank`` 1, 2, …) and one line with empty
    match columns for a row without a match; ``advisory_ids``, ``tiers`` and ``tlps`` list
    each advisory in the same order, space separated. Cells a spreadsheet would run as a
    formula start with ``'``.
    """
    batch = parse_upload(upload.body, upload.content_type)
    results = screen_batch_results(factory, principal=principal, index=index, batch=batch, now=now)
    if _wants_csv(format_, upload.accept):
        return StreamingResponse(
            csv_report(batch.columns, results),
            media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="screening-report.csv"'},
        )
    return StreamingResponse(json_report(len(batch.rows), results), media_type=JSON_MEDIA_TYPE)
