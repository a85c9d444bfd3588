"""``/v1/reviews``: thin routes over ``service.reviews.service``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from service.api.deps import NowDep, PrincipalDep, ScreeningIndexDep, SessionFactoryDep
from service.api.problems import PROBLEM_CONTENT
from service.db import transaction
from service.reviews import service
from service.reviews.schemas import ReviewCreate, ReviewPage, ReviewRead

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])

_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in, or bad credentials", **PROBLEM_CONTENT},
    403: {"description": "The operator role does not run or read reviews", **PROBLEM_CONTENT},
}
_CREATE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _READ_ERRORS[401],
    400: {"description": "Malformed body: not JSON, or not decodable", **PROBLEM_CONTENT},
    403: {
        "description": "The operator role, or a read-only token, cannot run a review",
        **PROBLEM_CONTENT,
    },
    413: {"description": "Body too large", **PROBLEM_CONTENT},
    422: {"description": "Invalid input; the problem names each field", **PROBLEM_CONTENT},
}


@router.post(
    "",
    status_code=201,
    responses={201: {"model": ReviewRead}, **_CREATE_ERRORS},
    response_class=JSONResponse,
)
def create_review(
    review_in: ReviewCreate,
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    index: ScreeningIndexDep,
    now: NowDep,
) -> JSONResponse:
    """Review a proposed collaboration: SPEC section 1's three questions answered from the
    advisories the caller may see, a concern level and guidance. It informs; it never decides.
    The review is stored, visible to the caller's organisation only."""
    with transaction(factory) as session:
        review = service.create_review(
            session, principal=principal, index=index, review_in=review_in, now=now
        )
    return JSONResponse(
        review.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/v1/reviews/{review.id}"},
    )


@router.get(
    "",
    responses={
        200: {"model": ReviewPage},
        **_READ_ERRORS,
        422: {"description": "Bad limit or cursor", **PROBLEM_CONTENT},
    },
    response_class=JSONResponse,
)
def list_reviews(
    principal: PrincipalDep,
    factory: SessionFactoryDep,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    """The caller's organisation's reviews, newest first (``next_cursor`` is opaque)."""
    with transaction(factory) as session:
        page = service.list_reviews(
            session, principal=principal, limit=limit, cursor=cursor, now=now
        )
    return JSONResponse(page.model_dump(mode="json"))


@router.get(
    "/{review_id}",
    responses={
        200: {"model": ReviewRead},
        **_READ_ERRORS,
        404: {"description": "No such review in the caller's organisation", **PROBLEM_CONTENT},
    },
    response_class=JSONResponse,
)
def get_review(
    review_id: str, principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> JSONResponse:
    """One of the caller's organisation's reviews, as it was answered."""
    # A transaction, not a read-only session: showing restricted advisories again is audited.
    with transaction(factory) as session:
        review = service.get_review(session, principal=principal, review_id=review_id, now=now)
    return JSONResponse(review.model_dump(mode="json"))
