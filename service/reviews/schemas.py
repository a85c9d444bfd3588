"""Wire models for collaboration reviews (SPEC sections 1 and 6): what a member describes, and
what the node answers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from service.advisories.schemas import CountryCode, Paragraph, Printable, Slug, Text

ResourceKind = Literal["data", "compute", "know_how", "equipment", "funding", "none"]
Concern = Literal["low", "elevated", "high", "severe"]
QuestionKey = Literal["resources", "partner", "applications"]
OrgRole = Literal["partner", "funder"]

MAX_PARTNERS = 50
MAX_FUNDERS = 20
# The same bound as a screened name (``service.screening.service.MAX_NAME_CHARS``): an
# affiliation line may be long, but not a document.
MAX_ORG_NAME_CHARS = 1000

OrgName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ORG_NAME_CHARS),
    Printable,
]
ResourceText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), Printable]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def _name_only(value: Any) -> Any:
    # A bare string is the common case (a pasted name or affiliation line); it becomes the
    # object form, so that every error still names ``partners.<i>.name``.
    return {"name": value} if isinstance(value, str) else value


class Organisation(_Strict):
    """An organisation named in a review: a name or a whole affiliation line."""

    name: OrgName = Field(
        description="An organisation's name, or an affiliation line such as "
        "`School of Computer Science, Harbin Institute of Technology, Shenzhen 518055, China`."
    )
    country: CountryCode | None = Field(
        default=None, description="ISO 3166-1 alpha-2 code, when known: narrows the screening."
    )


OrganisationIn = Annotated[Organisation, BeforeValidator(_name_only)]


class NonPublicResources(_Strict):
    """SPEC section 1, question 1: what the partner would get that the published paper does not
    give it. ``["none"]`` when everything shared will be public."""

    kinds: list[ResourceKind] = Field(
        min_length=1,
        max_length=6,
        description="`data` (non-public datasets), `compute`, `know_how` (engineering or "
        "experimental know-how), `equipment`, `funding`; or `none` alone.",
    )
    description: ResourceText = Field(
        default="", description="What exactly is shared, in the researcher's words."
    )

    @field_validator("kinds")
    @classmethod
    def _none_alone(cls, kinds: list[ResourceKind]) -> list[ResourceKind]:
        if "none" in kinds and len(set(kinds)) > 1:
            raise ValueError("'none' cannot be combined with resources that are shared")
        return kinds

    @property
    def shared(self) -> list[ResourceKind]:
        """The kinds actually shared (``none`` left out)."""
        return [kind for kind in dict.fromkeys(self.kinds) if kind != "none"]


class ReviewCreate(_Strict):
    """``POST /v1/reviews``: the proposed collaboration, as the research security officer
    describes it."""

    title: Text | None = None
    partners: list[OrganisationIn] = Field(
        min_length=1,
        max_length=MAX_PARTNERS,
        description='Each partner organisation: `{"name", "country"}` or just the name.',
    )
    research_area: Paragraph
    technologies: list[Slug] = Field(
        default_factory=list,
        max_length=30,
        description="Technology tags as advisories use them, e.g. `ai`, `aerospace`, `uav`.",
    )
    non_public_resources: NonPublicResources
    applications: Paragraph = Field(description="The research's likely applications.")
    funding_sources: list[OrganisationIn] = Field(
        default_factory=list,
        max_length=MAX_FUNDERS,
        description="Organisations funding the work, screened like the partners.",
    )


class ReviewAdvisory(BaseModel):
    """What a review shows of one advisory the caller could see when it ran."""

    id: str
    origin: str
    revision: int
    tier: str
    tlp: str
    risk: str
    confidence: str
    categories: list[str]
    technologies: list[str]
    listings: list[str] = Field(description="The restriction lists naming the subject.")
    recommended_action: str
    summary: str


class ReviewMatch(BaseModel):
    """A subject the name matched, with the advisories about it."""

    subject: dict[str, Any]
    score: float
    matched_on: str
    matched_text: str
    advisories: list[ReviewAdvisory]


class ReviewOrganisation(BaseModel):
    """A partner or funder as screened: ``matches`` is empty when no visible advisory names it."""

    role: OrgRole
    name: str
    country: str | None = None
    matches: list[ReviewMatch]
    highest_risk: str | None = None


class Finding(BaseModel):
    """One fact behind an answer."""

    kind: str = Field(
        description="e.g. `resources_shared`, `partner_risk`, `listing`, "
        "`technology_overlap`, `sensitive_terms`, `no_match`."
    )
    detail: str
    organisation: str | None = None
    advisories: list[str] = Field(default_factory=list, description="ids of the advisories")


class Answer(BaseModel):
    """The answer to one of SPEC section 1's three questions."""

    key: QuestionKey
    question: str
    answer: str
    findings: list[Finding]
    concern: Concern
    reasons: list[str] = Field(description="The rules of the concern table that held.")


class ReviewResult(BaseModel):
    """What the node answered; stored with the review and shown again on every read."""

    concern_level: Concern
    questions: list[Answer]
    organisations: list[ReviewOrganisation]
    guidance: list[str]
    notice: str


class ReviewRead(BaseModel):
    """A stored review: what was described and what the node answered.

    When an advisory the answers cite is no longer visible to the reader (the org's vetting
    lapsed, the advisory's TLP was tightened), the answers are withheld and ``withheld`` says
    why: invisible means absent, in a stored review too.
    """

    id: str
    title: str | None
    created_at: str
    created_by: str | None = Field(description="Email of the member who ran the review")
    input: ReviewCreate
    concern_level: Concern | None = Field(description="null when the answers are withheld")
    questions: list[Answer]
    organisations: list[ReviewOrganisation]
    guidance: list[str]
    notice: str
    withheld: str | None = None


class ReviewSummary(BaseModel):
    """One review in a list."""

    id: str
    title: str | None
    created_at: str
    created_by: str | None
    partners: list[str]
    concern_level: Concern | None = Field(description="null when the answers are withheld")


class ReviewPage(BaseModel):
    items: list[ReviewSummary]
    next_cursor: str | None
