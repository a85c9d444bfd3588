"""Wire models for advisories (SPEC section 4): what clients send and what they read."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

Status = Literal["draft", "published", "withdrawn"]
WritableStatus = Literal["draft", "published"]
Tier = Literal["academia", "government"]
Tlp = Literal["clear", "green", "amber", "amber+strict", "red"]
Risk = Literal["very_high", "high", "medium", "low"]
Confidence = Literal["high", "moderate", "low"]
SubjectKind = Literal[
    "university", "research_institute", "lab", "company", "state_body", "military_body", "other"
]
NameType = Literal["official", "alias", "acronym", "former", "translation"]
RecommendedAction = Literal[
    "awareness",
    "due_diligence",
    "enhanced_due_diligence",
    "avoid_in_sensitive_areas",
    "legally_restricted",
]

TLP_NEEDING_AUDIENCE = frozenset({"amber+strict", "red"})


def _known_country(code: str) -> str:
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


# C0 control characters other than tab and line breaks: never meaningful in a name or a text,
# and PostgreSQL cannot store NUL at all (it would fail the write, or the query, with a 500).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_control_characters(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters")
    return value


Printable = AfterValidator(_no_control_characters)
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), Printable
]
LongText = Annotated[str, StringConstraints(max_length=4000), Printable]
Paragraph = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), Printable
]
Detail = Annotated[str, StringConstraints(max_length=20000), Printable]
OrgId = Annotated[str, StringConstraints(min_length=1, max_length=64), Printable]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2048), Printable]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")]
GroupName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
LangTag = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
CountryCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(_known_country)
]
IdentifierKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
IdentifierValue = Annotated[str, StringConstraints(min_length=1, max_length=500), Printable]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SubjectName(_Strict):
    value: Text
    lang: LangTag | None = None
    type: NameType = "alias"


class Subject(_Strict):
    name: Text
    names: list[SubjectName] = Field(default_factory=list, max_length=50)
    country: CountryCode
    kind: SubjectKind
    identifiers: dict[IdentifierKey, IdentifierValue] = Field(default_factory=dict, max_length=20)
    parent: Text | None = None


class Listing(_Strict):
    list: Slug
    citation: LongText = ""
    listed_on: date | None = None
    url: Url | None = None


class Source(_Strict):
    title: Text
    url: Url | None = None
    publisher: Text | None = None
    published: date | None = None


class AdvisoryContent(_Strict):
    """The fields an author controls; the node adds identity, revision and timestamps."""

    tier: Tier
    tlp: Tlp
    audience: list[OrgId] = Field(default_factory=list, max_length=200)
    scope: list[GroupName] = Field(default_factory=list, max_length=20)
    subject: Subject
    risk: Risk
    confidence: Confidence
    categories: list[Slug] = Field(default_factory=list, max_length=20)
    technologies: list[Slug] = Field(default_factory=list, max_length=30)
    listings: list[Listing] = Field(default_factory=list, max_length=50)
    recommended_action: RecommendedAction
    summary: Paragraph
    detail: Detail = ""
    sources: list[Source] = Field(default_factory=list, max_length=50)
    valid_from: date | None = None
    review_by: date | None = None


class AdvisoryCreate(AdvisoryContent):
    """``POST /v1/advisories``: a new advisory, as a draft or published at once."""

    status: WritableStatus = "draft"


class AdvisoryUpdate(_Strict):
    """``PATCH /v1/advisories/{id}``: the fields to change, and the revision they change."""

    base_revision: int = Field(ge=1)
    status: WritableStatus | None = None
    tier: Tier | None = None
    tlp: Tlp | None = None
    audience: list[OrgId] | None = Field(default=None, max_length=200)
    scope: list[GroupName] | None = Field(default=None, max_length=20)
    subject: Subject | None = None
    risk: Risk | None = None
    confidence: Confidence | None = None
    categories: list[Slug] | None = Field(default=None, max_length=20)
    technologies: list[Slug] | None = Field(default=None, max_length=30)
    listings: list[Listing] | None = Field(default=None, max_length=50)
    recommended_action: RecommendedAction | None = None
    summary: Paragraph | None = None
    detail: Detail | None = None
    sources: list[Source] | None = Field(default=None, max_length=50)
    valid_from: date | None = None
    review_by: date | None = None

    def changes(self) -> dict[str, Any]:
        """The content fields the client actually sent (``null`` clears the optional dates)."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"base_revision"})


class AdvisoryWithdraw(_Strict):
    """``POST /v1/advisories/{id}/withdraw``."""

    base_revision: int = Field(ge=1)
    reason: Paragraph


class AdvisoryRead(AdvisoryContent):
    """An advisory revision as stored and served."""

    model_config = ConfigDict(extra="allow")

    id: str
    origin: str
    revision: int
    status: Status
    contributor_org: str
    published_at: str | None = None
    updated_at: str
    withdrawal_reason: str | None = None


NodeId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
Timestamp = Annotated[
    str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
]


class ReceivedRevision(AdvisoryContent):
    """A revision from another node, checked before it is stored (its signature already was).

    Unknown fields are kept (a later protocol version may add some); known ones must be what
    this node could have written itself, so that nothing stored from a peer breaks a read.
    """

    model_config = ConfigDict(extra="allow")

    # What a node writes itself always carries these lists; one without them is not ours to fill.
    audience: list[OrgId] = Field(max_length=200)
    scope: list[GroupName] = Field(max_length=20)
    categories: list[Slug] = Field(max_length=20)
    technologies: list[Slug] = Field(max_length=30)
    listings: list[Listing] = Field(max_length=50)
    sources: list[Source] = Field(max_length=50)
    id: Annotated[str, StringConstraints(min_length=1, max_length=36), Printable]
    origin: NodeId
    revision: int = Field(ge=1, le=2**31 - 1)
    status: Status
    contributor_org: Annotated[str, StringConstraints(min_length=1, max_length=200), Printable]
    published_at: Timestamp | None = None
    updated_at: Timestamp
    withdrawal_reason: LongText | None = None


class AdvisoryPage(BaseModel):
    items: list[AdvisoryRead]
    next_cursor: str | None


class RevisionPage(BaseModel):
    items: list[AdvisoryRead]


class ListFilters(BaseModel):
    """The filters of ``GET /v1/advisories``; ``status=all`` spans every status."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: CountryCode | None = None
    risk: Risk | None = None
    tier: Tier | None = None
    category: Slug | None = None
    origin: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")] | None = None
    status: Literal["draft", "published", "withdrawn", "all"] = "published"
    q: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Printable
        ]
        | None
    ) = None
    updated_after: AwareDatetime | None = None

    @field_validator("updated_after")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        # Stored times are UTC; an offset that pushes the moment past year 1 or 9999 is no time.
        try:
            return None if value is None else value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is outside the range of representable times") from None
