"""Pages: collaboration reviews, over ``service.reviews`` as ``/v1/reviews`` is.

``/reviews`` lists the viewer's org's reviews; ``/reviews/new`` is a guided form through what a
review asks (the partners, the research, the non-public resources, the applications); a review's
summary ``/reviews/{id}`` is a printable document. Who may run or read reviews is the domain's
``check_can_review``; another org's review is the same 404 page as a missing one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, get_args

import pycountry
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import FormData

from service.access.policy import check_can_review
from service.access.principal import Principal
from service.advisories.schemas import Tlp
from service.api.deps import NowDep, ScreeningIndexDep, SessionFactoryDep
from service.db import transaction
from service.errors import InvalidInput
from service.reviews import service
from service.reviews.concern import QUESTIONS
from service.reviews.schemas import MAX_FUNDERS, MAX_PARTNERS, ReviewCreate, ReviewRead
from service.screening.index import ScreeningIndex
from service.web.render import WebRoute, country_name, redirect, render
from service.web.security import CSRF_FIELD, MemberDep, check_csrf

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 20
BLANK_ROWS = 3
"""Partner rows the form offers without JavaScript (which adds and removes rows)."""
MAX_ROWS = MAX_PARTNERS + MAX_FUNDERS

RESOURCE_CHOICES: tuple[tuple[str, str], ...] = (
    ("data", "Non-public data: datasets, samples, unpublished results"),
    ("compute", "Compute: clusters, GPUs, accounts on your systems"),
    ("know_how", "Engineering or experimental know-how"),
    ("equipment", "Equipment or facilities"),
    ("funding", "Funding"),
    ("none", "Nothing beyond what will be published"),
)
ROLE_CHOICES: tuple[tuple[str, str], ...] = (
    ("partner", "Partner: takes part in the work"),
    ("funder", "Funder: pays for the work"),
)
COUNTRIES: tuple[tuple[str, str], ...] = tuple(
    sorted(
        ((c.alpha_2, country_name(c.alpha_2)) for c in pycountry.countries),
        key=lambda pair: pair[1],
    )
)
_TLP_ORDER: tuple[str, ...] = get_args(Tlp)  # least to most restricted
_ROW_FIELD = re.compile(r"^partners\.(\d{1,3})\.(name|country|role)$")
# Where each field is on the page, so that the error summary lists problems in reading order.
_PAGE_ORDER = (
    "partners",
    "title",
    "research_area",
    "technologies",
    "non_public_resources.kinds",
    "non_public_resources.description",
    "applications",
)
_ROW_ORDER = ("name", "country", "role")
_REQUIRED = {
    "partners": "Name at least one partner organisation.",
    "research_area": "Describe the research area.",
    "applications": "Describe the foreseeable applications of the research.",
    "non_public_resources.kinds": "Choose what the partners would get, or "
    "“Nothing beyond what will be published”.",
    "name": "Enter the organisation's name, or clear this row.",
}


# --- the form -----------------------------------------------------------------------------------


@dataclass
class PartnerRow:
    name: str = ""
    country: str = ""
    role: str = "partner"


@dataclass
class ReviewForm:
    """What the member typed, kept as typed so that a refused form comes back unchanged."""

    title: str = ""
    partners: list[PartnerRow] = field(default_factory=list)
    research_area: str = ""
    technologies: str = ""
    kinds: list[str] = field(default_factory=list)
    resources_description: str = ""
    applications: str = ""

    @classmethod
    def from_form(cls, form: FormData) -> ReviewForm:
        cells: dict[int, dict[str, str]] = {}
        for key, value in form.multi_items():
            match = _ROW_FIELD.match(key)
            if match and isinstance(value, str):
                cells.setdefault(int(match[1]), {})[match[2]] = value
        rows = [
            PartnerRow(
                name=cell.get("name", "").strip(),
                country=cell.get("country", "").strip(),
                role=cell.get("role", "partner"),
            )
            for _, cell in sorted(cells.items())
        ]
        return cls(
            title=_text(form, "title"),
            # A row with neither a name nor a country is one the member did not need.
            partners=[row for row in rows if row.name or row.country],
            research_area=_text(form, "research_area"),
            technologies=_text(form, "technologies"),
            kinds=[k for k in form.getlist("non_public_resources.kinds") if isinstance(k, str)],
            resources_description=_text(form, "non_public_resources.description"),
            applications=_text(form, "applications"),
        )

    def rows_to_show(self) -> list[PartnerRow]:
        """The rows given, then blank ones up to ``BLANK_ROWS``."""
        blanks = max(BLANK_ROWS - len(self.partners), 0)
        return self.partners + [PartnerRow() for _ in range(blanks)]

    def technology_tags(self) -> list[str]:
        # People write "Computer vision, UAV"; advisories tag computer_vision, uav.
        tags = (re.sub(r"[\s-]+", "_", t.strip().lower()) for t in self.technologies.split(","))
        return list(dict.fromkeys(t for t in tags if t))


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class _Layout:
    """Which form row each listed partner and funder came from."""

    rows: Mapping[str, Sequence[int]]

    def field_key(self, loc: Sequence[str | int]) -> str:
        """The form field a schema error location names (``funding_sources.0.name`` is a row)."""
        head = str(loc[0]) if loc else ""
        if head in self.rows:
            if len(loc) >= 3 and isinstance(loc[1], int) and loc[1] < len(self.rows[head]):
                return f"partners.{self.rows[head][loc[1]]}.{loc[2]}"
            return "partners"
        if head == "non_public_resources" and len(loc) > 1:
            return "non_public_resources.kinds" if loc[1] == "kinds" else f"{head}.description"
        return head if head in _PAGE_ORDER else "partners"


def _message(key: str, kind: str, ctx: Mapping[str, Any], fallback: str) -> str:
    attr = key.rsplit(".", 1)[-1]
    if kind in ("missing", "string_too_short", "too_short"):
        return _REQUIRED.get(key) or _REQUIRED.get(attr) or "This is required."
    if kind == "string_too_long":
        return f"Shorten this to at most {ctx.get('max_length')} characters."
    if kind == "too_long" and key == "partners":
        return f"A review names at most {MAX_PARTNERS} partners and {MAX_FUNDERS} funders."
    if kind == "too_long":
        return f"Give at most {ctx.get('max_length')} of these."
    if attr == "country":
        return "Choose a country from the list."
    if key == "technologies":
        return (
            "Write technologies as tags of letters, digits and underscores, separated by commas, "
            "for example: ai, computer_vision."
        )
    if key == "non_public_resources.kinds" and kind == "value_error":
        return (
            "“Nothing beyond what will be published” cannot be chosen together with resources "
            "that are shared."
        )
    if kind == "value_error":
        detail = str(ctx.get("error", fallback))
        return detail[:1].upper() + detail[1:] + "."
    return fallback


def _in_page_order(errors: Mapping[str, str]) -> dict[str, str]:
    def position(key: str) -> tuple[int, int, int]:
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "partners":
            return (0, int(parts[1]), _ROW_ORDER.index(parts[2]))
        return (_PAGE_ORDER.index(key), 0, 0)

    return {key: errors[key] for key in sorted(errors, key=position)}


def check_form(form: ReviewForm) -> tuple[ReviewCreate | None, dict[str, str]]:
    """The form as ``ReviewCreate``, or the message for each field it refuses, by field name."""
    errors: dict[str, str] = {}
    rows: dict[str, list[int]] = {"partners": [], "funding_sources": []}
    for i, row in enumerate(form.partners):
        if row.role == "partner":
            rows["partners"].append(i)
        elif row.role == "funder":
            rows["funding_sources"].append(i)
        else:
            errors[f"partners.{i}.role"] = "Choose partner or funder."
            rows["partners"].append(i)
    payload = {
        "title": form.title.strip() or None,
        "research_area": form.research_area,
        "technologies": form.technology_tags(),
        "non_public_resources": {
            "kinds": form.kinds,
            "description": form.resources_description,
        },
        "applications": form.applications,
        **{
            key: [
                {"name": form.partners[i].name, "country": form.partners[i].country or None}
                for i in positions
            ]
            for key, positions in rows.items()
        },
    }
    layout = _Layout(rows)
    try:
        review_in = ReviewCreate.model_validate(payload)
    except ValidationError as exc:
        for error in exc.errors():
            key = layout.field_key(error["loc"])
            message = _message(key, error["type"], error.get("ctx") or {}, error["msg"])
            errors.setdefault(key, message)
        if not rows["partners"] and rows["funding_sources"]:
            errors["partners"] = "Name at least one partner as well: funders alone are not enough."
        return None, _in_page_order(errors)
    if errors:
        return None, _in_page_order(errors)
    return review_in, {}


def _refused_fields(exc: InvalidInput, form: ReviewForm) -> dict[str, str]:
    """The domain's own refusals (as screening checks names), on the form's fields."""
    rows: dict[str, list[int]] = {"partners": [], "funding_sources": []}
    for i, row in enumerate(form.partners):
        rows["funding_sources" if row.role == "funder" else "partners"].append(i)
    layout = _Layout(rows)
    errors: dict[str, str] = {}
    for error in exc.errors:
        loc = [int(part) if part.isdigit() else part for part in error.field.split(".")]
        detail = error.detail[:1].upper() + error.detail[1:]
        errors.setdefault(layout.field_key(loc), detail.rstrip(".") + ".")
    return _in_page_order(errors or {"partners": exc.detail})


def _form_page(
    request: Request, form: ReviewForm, errors: Mapping[str, str], *, status: int = 200
) -> Response:
    context = {
        "form": form,
        "rows": form.rows_to_show(),
        "errors": errors,
        "questions": QUESTIONS,
        "resource_choices": RESOURCE_CHOICES,
        "role_choices": ROLE_CHOICES,
        "countries": COUNTRIES,
        "max_rows": MAX_ROWS,
    }
    return render(request, "review_form.html", context, status=status)


# --- the summary --------------------------------------------------------------------------------


def strictest_tlp(review: ReviewRead) -> str | None:
    """The most restricted marking among the advisories a review shows: the printed copy's."""
    tlps = {a.tlp for o in review.organisations for m in o.matches for a in m.advisories}
    return max(tlps, key=_TLP_ORDER.index) if tlps else None


# --- routes -------------------------------------------------------------------------------------


@router.get("/reviews")
def review_list(
    request: Request,
    viewer: MemberDep,
    factory: SessionFactoryDep,
    now: NowDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    with transaction(factory) as session:
        page = service.list_reviews(
            session, principal=viewer, limit=PAGE_SIZE, cursor=cursor, now=now
        )
    return render(request, "reviews.html", {"page": page, "first_page": cursor is None})


@router.get("/reviews/new")
def new_review(request: Request, viewer: MemberDep) -> Response:
    check_can_review(viewer, writes=True)
    return _form_page(request, ReviewForm(), {})


def _run(
    factory: sessionmaker[Session],
    principal: Principal,
    index: ScreeningIndex,
    review_in: ReviewCreate,
    now: datetime,
) -> ReviewRead:
    with transaction(factory) as session:
        return service.create_review(
            session, principal=principal, index=index, review_in=review_in, now=now
        )


@router.post("/reviews/new")
async def run_review(
    request: Request,
    viewer: MemberDep,
    factory: SessionFactoryDep,
    index: ScreeningIndexDep,
    now: NowDep,
) -> Response:
    form_data = await request.form()
    check_csrf(request, form_data.get(CSRF_FIELD))
    check_can_review(viewer, writes=True)
    form = ReviewForm.from_form(form_data)
    review_in, errors = check_form(form)
    if review_in is None:
        return _form_page(request, form, errors, status=400)
    try:
        review = await run_in_threadpool(_run, factory, viewer, index, review_in, now)
    except InvalidInput as exc:
        return _form_page(request, form, _refused_fields(exc, form), status=400)
    return redirect(f"/reviews/{review.id}")


@router.get("/reviews/{review_id}")
def review_summary(
    request: Request,
    viewer: MemberDep,
    factory: SessionFactoryDep,
    now: NowDep,
    review_id: str,
) -> Response:
    # A transaction: showing restricted advisories again is audited (``get_review``).
    with transaction(factory) as session:
        review = service.get_review(session, principal=viewer, review_id=review_id, now=now)
    context = {
        "review": review,
        "answers": {answer.key: answer for answer in review.questions},
        "questions": QUESTIONS,
        "tlp": strictest_tlp(review),
        "resource_words": dict(RESOURCE_CHOICES),
        "countries": dict(COUNTRIES),
    }
    return render(request, "review.html", context)
