"""Typed models of what a trex node sends and receives (SPEC sections 4 and 6).

These are the client's own models, not the node's: they accept fields a newer node adds
(``extra="allow"``, kept on the instance) and keep enumerations such as ``risk`` or ``tlp`` as
plain strings, so a node that learns a new value does not break an older client. The node, not
this client, validates what is written.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Advisory",
    "AdvisoryInput",
    "AdvisoryPage",
    "Answer",
    "BatchReport",
    "BatchResult",
    "Finding",
    "Listing",
    "Me",
    "NonPublicResources",
    "Org",
    "Organisation",
    "Review",
    "ReviewAdvisory",
    "ReviewInput",
    "ReviewMatch",
    "ReviewOrganisation",
    "ReviewPage",
    "ReviewSummary",
    "RevisionPage",
    "ScreenAdvisory",
    "ScreenMatch",
    "ScreenResult",
    "ScreenSubject",
    "Source",
    "Subject",
    "SubjectName",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- advisories -------------------------------------------------------------------------------


class SubjectName(_Model):
    """Another name of the subject; ``type`` is official, alias, acronym, former or
    translation."""

    value: str
    lang: str | None = None
    type: str = "alias"


class Subject(_Model):
    """The organisation an advisory is about."""

    name: str
    names: list[SubjectName] = Field(default_factory=list)
    country: str
    """ISO 3166-1 alpha-2 code."""
    kind: str
    """university, research_institute, lab, company, state_body, military_body or other."""
    identifiers: dict[str, str] = Field(default_factory=dict)
    parent: str | None = None


class Listing(_Model):
    """A restriction list naming the subject (an entity list, a sanctions list)."""

    list: str
    citation: str = ""
    listed_on: date | None = None
    url: str | None = None


class Source(_Model):
    title: str
    url: str | None = None
    publisher: str | None = None
    published: date | None = None


class _AdvisoryContent(_Model):
    """The fields an author controls."""

    tier: str
    """academia or government."""
    tlp: str
    """clear, green, amber, amber+strict or red (TLP 2.0)."""
    audience: list[str] = Field(default_factory=list)
    scope: list[str] = Field(default_factory=list)
    subject: Subject
    risk: str
    """very_high, high, medium or low."""
    confidence: str
    """high, moderate or low."""
    categories: list[str] = Field(default_factory=list)
    technologies: list[str] = Field(default_factory=list)
    listings: list[Listing] = Field(default_factory=list)
    recommended_action: str
    """awareness, due_diligence, enhanced_due_diligence, avoid_in_sensitive_areas or
    legally_restricted."""
    summary: str
    detail: str = ""
    sources: list[Source] = Field(default_factory=list)
    valid_from: date | None = None
    review_by: date | None = None


class AdvisoryInput(_AdvisoryContent):
    """A new advisory to publish (``POST /v1/advisories``).

    Only the fields set are sent, so the node's own defaults apply to the rest; like the API,
    ``status`` is ``draft`` unless set to ``published``.
    """

    status: str = "draft"


class Advisory(_AdvisoryContent):
    """One revision of an advisory, as the node serves it."""

    id: str
    origin: str
    """The node that owns the advisory; only it may revise it."""
    revision: int
    status: str
    """draft, published or withdrawn."""
    contributor_org: str
    published_at: datetime | None = None
    updated_at: datetime
    withdrawal_reason: str | None = None


class AdvisoryPage(_Model):
    """One page of ``GET /v1/advisories``; ``next_cursor`` is ``None`` on the last page."""

    items: list[Advisory]
    next_cursor: str | None = None


class RevisionPage(_Model):
    """``GET /v1/advisories/{id}/revisions``: every revision, oldest first."""

    items: list[Advisory]


# --- screening --------------------------------------------------------------------------------


class ScreenSubject(_Model):
    name: str
    country: str | None = None
    kind: str | None = None
    identifiers: dict[str, str] = Field(default_factory=dict)


class ScreenAdvisory(_Model):
    """What a screening result shows of one advisory the caller may see."""

    id: str
    origin: str
    revision: int
    status: str
    tier: str
    tlp: str
    risk: str
    confidence: str
    categories: list[str] = Field(default_factory=list)
    recommended_action: str
    summary: str
    updated_at: datetime | None = None


class ScreenMatch(_Model):
    """One organisation the query names, with the caller's visible advisories about it."""

    subject: ScreenSubject
    score: float
    matched_on: str
    """Which of the subject's names matched and by which rule."""
    matched_text: str
    """The part of the query that matched."""
    advisories: list[ScreenAdvisory] = Field(default_factory=list)


class ScreenResult(_Model):
    """The answer for one name, best match first; ``matches`` is empty when nothing matched."""

    query: str
    country: str | None = None
    matches: list[ScreenMatch] = Field(default_factory=list)


class BatchResult(ScreenResult):
    """One input row's result, with the row's own extra fields echoed back."""

    row: int
    """1-based position of the row in the input."""
    fields: dict[str, Any] = Field(default_factory=dict)


class BatchReport(_Model):
    """The JSON report of a batch screen: one result per input row, in input order."""

    count: int
    results: list[BatchResult]


# --- reviews ----------------------------------------------------------------------------------


class Organisation(_Model):
    """A partner or funder named in a review: a name or a whole affiliation line."""

    name: str
    country: str | None = None


class NonPublicResources(_Model):
    """What the partner would get that the published paper would not give it.

    ``kinds`` holds data, compute, know_how, equipment or funding; or ``["none"]`` alone.
    """

    kinds: list[str]
    description: str = ""


class ReviewInput(_Model):
    """A proposed collaboration to review (``POST /v1/reviews``)."""

    title: str | None = None
    partners: list[Organisation | str]
    research_area: str
    technologies: list[str] = Field(default_factory=list)
    non_public_resources: NonPublicResources
    applications: str
    funding_sources: list[Organisation | str] = Field(default_factory=list)


class ReviewAdvisory(_Model):
    id: str
    origin: str
    revision: int
    tier: str
    tlp: str
    risk: str
    confidence: str
    categories: list[str] = Field(default_factory=list)
    technologies: list[str] = Field(default_factory=list)
    listings: list[str] = Field(default_factory=list)
    recommended_action: str
    summary: str


class ReviewMatch(_Model):
    subject: dict[str, Any]
    score: float
    matched_on: str
    matched_text: str
    advisories: list[ReviewAdvisory] = Field(default_factory=list)


class ReviewOrganisation(_Model):
    """A partner or funder as screened: ``matches`` is empty when no visible advisory names
    it."""

    role: str
    name: str
    country: str | None = None
    matches: list[ReviewMatch] = Field(default_factory=list)
    highest_risk: str | None = None


class Finding(_Model):
    kind: str
    detail: str
    organisation: str | None = None
    advisories: list[str] = Field(default_factory=list)


class Answer(_Model):
    """The answer to one of the three questions (``key``: resources, partner, applications)."""

    key: str
    question: str
    answer: str
    findings: list[Finding] = Field(default_factory=list)
    concern: str
    """low, elevated, high or severe."""
    reasons: list[str] = Field(default_factory=list)


class Review(_Model):
    """A stored review: what was described, and what the node answered.

    ``concern_level`` is ``None`` and ``withheld`` says why when an advisory the answers cited
    is no longer visible to the reader.
    """

    id: str
    title: str | None = None
    created_at: datetime
    created_by: str | None = None
    input: ReviewInput
    concern_level: str | None
    questions: list[Answer] = Field(default_factory=list)
    organisations: list[ReviewOrganisation] = Field(default_factory=list)
    guidance: list[str] = Field(default_factory=list)
    notice: str = ""
    withheld: str | None = None


class ReviewSummary(_Model):
    """One review in ``GET /v1/reviews``."""

    id: str
    title: str | None = None
    created_at: datetime
    created_by: str | None = None
    partners: list[str] = Field(default_factory=list)
    concern_level: str | None = None


class ReviewPage(_Model):
    items: list[ReviewSummary]
    next_cursor: str | None = None


# --- members ----------------------------------------------------------------------------------


class Org(_Model):
    id: str
    name: str
    kind: str
    vetted: bool
    vetted_until: date | None = None


class Me(_Model):
    """``GET /v1/me``: the caller."""

    user_id: str
    email: str
    role: str
    """reader, analyst, publisher or operator."""
    org: Org
    vetted: bool
    read_only: bool = False
