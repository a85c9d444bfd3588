"""Wire models for screening (SPEC section 6): what a screen returns, one result per name."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ScreenSubject(BaseModel):
    """The organisation an advisory is about, as its current revision names it."""

    name: str
    country: str
    kind: str | None = None
    identifiers: dict[str, str] = Field(default_factory=dict)


class ScreenAdvisory(BaseModel):
    """What a screening result shows of one advisory the caller may see."""

    id: str
    origin: str
    revision: int
    status: str
    tier: str
    tlp: str
    risk: str
    confidence: str
    categories: list[str]
    recommended_action: str
    summary: str
    updated_at: str | None = None


class ScreenMatch(BaseModel):
    """One subject that the query names, with the caller's visible advisories about it."""

    subject: ScreenSubject
    score: float = Field(ge=0.0, le=1.0)
    matched_on: str = Field(
        description="Which of the subject's names matched and by which rule, "
        "e.g. `acronym (derived): HIT` or `chinese short form: 哈工大`."
    )
    matched_text: str = Field(
        description="The part of the query that matched (for an affiliation line, the "
        "institution part)."
    )
    advisories: list[ScreenAdvisory]


class ScreenResult(BaseModel):
    """The answer for one name: best match first; ``matches`` is empty when nothing matched."""

    query: str
    country: str | None = None
    matches: list[ScreenMatch]


class BatchResult(ScreenResult):
    """One input row's result, in input order, with the row's own fields."""

    row: int = Field(description="1-based position of the row in the input")
    fields: dict[str, Any] = Field(default_factory=dict)


class BatchReport(BaseModel):
    """The JSON report of ``POST /v1/screen/batch``: one result per input row, in input order."""

    count: int
    results: list[BatchResult]
