"""``service.reviews``: the concern table level by level, what the review reads in the project's
own words, and reviews run over the demo advisories with the real screening index, on both
backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.access.policy import check_can_review
from service.access.principal import Principal, principal_for
from service.access.service import get_user_by_email
from service.db import read_only, transaction, utcnow
from service.errors import NotAuthenticated, NotPermitted
from service.reviews.concern import (
    CONCERN_RULES,
    OrgStanding,
    ReviewFacts,
    assess,
    project_technologies,
    sensitive_terms,
)
from service.reviews.models import Review
from service.reviews.schemas import ReviewCreate, ReviewRead
from service.reviews.service import create_review
from service.screening.index import ScreeningIndex
from tests.audit.chain import entries
from tests.factories import Members, load_demo_advisories

READER = "reader@example.edu"  # University of Example: vetted university
ANALYST = "analyst@example.edu"
POLY_READER = "reader@poly.example"  # Example Polytechnic: not vetted
GOV_PUBLISHER = "publisher@gov.example"  # Office of Research Security: vetted government
OPERATOR = "operator@node.example"


# --- the concern table, on facts ---------------------------------------------------------------


def org(
    risk: str | None = None,
    *,
    role: str = "partner",
    technologies: tuple[str, ...] = (),
    listings: tuple[str, ...] = (),
    actions: tuple[str, ...] = (),
) -> OrgStanding:
    return OrgStanding(
        role=role,  # type: ignore[arg-type]
        name="Partner",
        label="Partner",
        risk=risk,
        technologies=frozenset(technologies),
        listings=frozenset(listings),
        actions=frozenset(actions),
        advisory_ids=("a",) if risk else (),
    )


def facts(
    *orgs: OrgStanding,
    shared: tuple[str, ...] = (),
    technologies: tuple[str, ...] = (),
    sensitive: tuple[str, ...] = (),
) -> ReviewFacts:
    return ReviewFacts(
        shared=shared,
        organisations=orgs or (org(),),
        technologies=frozenset(technologies),
        sensitive_terms=sensitive,
    )


# (facts, resources, partner, applications, overall)
LEVELS: list[tuple[str, ReviewFacts, tuple[str, str, str, str]]] = [
    ("nothing known, nothing shared", facts(), ("low", "low", "low", "low")),
    ("a low-risk partner", facts(org("low")), ("low", "low", "low", "low")),
    (
        "data shared with an unknown partner",
        facts(shared=("data",)),
        ("elevated", "low", "low", "elevated"),
    ),
    (
        "dual-use applications, unknown partner",
        facts(sensitive=("surveillance",)),
        ("low", "low", "elevated", "elevated"),
    ),
    ("a medium-risk partner", facts(org("medium")), ("low", "elevated", "low", "elevated")),
    (
        "a listed low-risk partner",
        facts(org("low", listings=("us_entity_list",))),
        ("low", "elevated", "low", "elevated"),
    ),
    (
        "a medium-risk partner in the project's technologies",
        facts(org("medium", technologies=("ai",)), technologies=("ai",)),
        ("low", "elevated", "elevated", "elevated"),
    ),
    ("a high-risk partner", facts(org("high")), ("low", "high", "low", "high")),
    ("a very-high-risk partner", facts(org("very_high")), ("low", "high", "low", "high")),
    (
        "compute shared with a listed medium-risk partner",
        facts(org("medium", listings=("us_entity_list",)), shared=("compute",)),
        ("high", "elevated", "low", "high"),
    ),
    (
        "a listed medium-risk partner in the project's technologies",
        facts(
            org("medium", technologies=("materials",), listings=("us_entity_list",)),
            technologies=("materials",),
        ),
        ("low", "elevated", "high", "high"),
    ),
    (
        "know-how shared with a very-high-risk partner",
        facts(org("very_high"), shared=("know_how",)),
        ("severe", "high", "low", "severe"),
    ),
    (
        "data shared with a legally restricted partner",
        facts(org("medium", actions=("legally_restricted",)), shared=("data",)),
        ("severe", "elevated", "low", "severe"),
    ),
    (
        "a very-high-risk partner in the project's technologies",
        facts(org("very_high", technologies=("aerospace",)), technologies=("aerospace",)),
        ("low", "high", "severe", "severe"),
    ),
    (
        "surveillance work with a partner to avoid in sensitive areas",
        facts(org("high", actions=("avoid_in_sensitive_areas",)), sensitive=("surveillance",)),
        ("low", "high", "severe", "severe"),
    ),
    (
        "a very-high-risk funder: no resources go to funders",
        facts(org(), org("very_high", role="funder"), shared=("data",)),
        ("elevated", "high", "low", "high"),
    ),
]


@pytest.mark.parametrize(("case", "given", "expected"), LEVELS, ids=[c for c, _, _ in LEVELS])
def test_the_concern_table(case: str, given: ReviewFacts, expected: tuple[str, ...]) -> None:
    per_question, overall = assess(given)
    got = (
        per_question["resources"][0],
        per_question["partner"][0],
        per_question["applications"][0],
        overall,
    )
    assert got == expected, case


def test_every_rule_is_reached_and_the_table_covers_every_level() -> None:
    reached = {rule.when for _, given, _ in LEVELS for rule in CONCERN_RULES if rule.holds(given)}
    assert reached == {rule.when for rule in CONCERN_RULES}
    assert {rule.concern for rule in CONCERN_RULES} == {"elevated", "high", "severe"}


def test_the_overall_level_is_the_highest_answer() -> None:
    for _, given, _ in LEVELS:
        per_question, overall = assess(given)
        order = ["low", "elevated", "high", "severe"]
        assert overall == max((c for c, _ in per_question.values()), key=order.index)


# --- the project's own words -------------------------------------------------------------------


def review_in(**overrides: Any) -> ReviewCreate:
    body: dict[str, Any] = {
        "partners": ["Somewhere University"],
        "research_area": "Soil microbiology",
        "non_public_resources": {"kinds": ["none"]},
        "applications": "Better crop yields",
    }
    body.update(overrides)
    return ReviewCreate.model_validate(body)


@pytest.mark.parametrize(
    ("research_area", "applications", "expected"),
    [
        ("Hypersonic flow control", "Aircraft design", {"aerospace"}),
        ("Deep learning for weather", "Forecasts", {"ai"}),
        ("AI for weather", "Forecasts", {"ai"}),
        ("Exascale HPC schedulers", "Faster science", {"supercomputing", "hpc"}),
        ("Sonar signal processing", "Submarine detection", {"acoustics", "naval"}),
        ("Face recognition at scale", "Access control", {"computer_vision"}),
        ("Soil microbiology", "Better crop yields", set()),
        ("Said the chair", "Kaikki hyvin", set()),  # 'ai' inside words and other languages
    ],
)
def test_technologies_are_recognised_in_the_text(
    research_area: str, applications: str, expected: set[str]
) -> None:
    found = project_technologies(review_in(research_area=research_area, applications=applications))
    assert found == expected


def test_given_technology_tags_count_with_their_synonyms() -> None:
    assert project_technologies(review_in(technologies=["hpc"])) == {"hpc", "supercomputing"}


@pytest.mark.parametrize(
    ("applications", "expected"),
    [
        ("Mass surveillance of city streets", ("surveillance",)),
        ("Hypersonic glide vehicles for the military", ("military", "hypersonic")),
        ("Nuclear weapons stockpile simulation", ("weapons", "nuclear")),
        ("Swarms of drones", ("unmanned systems",)),
        # Look-alikes that are not dual-use applications.
        ("Nuclear magnetic resonance spectroscopy of proteins", ()),
        ("Nuclear medicine imaging", ()),
        ("Defences against adversarial examples", ()),
        ("Early diagnosis of liver cancer", ()),
    ],
)
def test_dual_use_terms(applications: str, expected: tuple[str, ...]) -> None:
    assert sensitive_terms(review_in(applications=applications)) == expected


# --- who may review ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["reader", "analyst", "publisher"])
def test_members_run_and_read_reviews(role: str) -> None:
    member = Principal(user_id="u", email="m@x", org_id="o", role=role)
    check_can_review(member, writes=True)
    check_can_review(member, writes=False)


def test_operators_and_anonymous_callers_do_not_and_read_only_tokens_only_read() -> None:
    with pytest.raises(NotAuthenticated):
        check_can_review(Principal(), writes=False)
    operator = Principal(user_id="u", email="o@x", org_id="o", role="operator")
    for writes in (True, False):
        with pytest.raises(NotPermitted):
            check_can_review(operator, writes=writes)
    read_only_reader = Principal(
        user_id="u", email="r@x", org_id="o", role="reader", read_only=True
    )
    check_can_review(read_only_reader, writes=False)
    with pytest.raises(NotPermitted, match="read-only"):
        check_can_review(read_only_reader, writes=True)


# --- reviews over the demo advisories ----------------------------------------------------------


@pytest.fixture
def demo(session_factory: sessionmaker[Session], members: Members) -> dict[str, str]:
    """The demo advisories, each written by its demo author; advisory ids by subject name."""
    documents = load_demo_advisories(session_factory, members)
    return {name: document["id"] for name, document in documents.items()}


def run(
    factory: sessionmaker[Session], who: str, index: ScreeningIndex, **overrides: Any
) -> ReviewRead:
    with transaction(factory) as session:
        principal = principal_for(get_user_by_email(session, who))
        return create_review(
            session,
            principal=principal,
            index=index,
            review_in=review_in(**overrides),
            now=utcnow(),
        )


def concerns(review: ReviewRead) -> tuple[str | None, ...]:
    return (*(q.concern for q in review.questions), review.concern_level)


def cited(review: ReviewRead) -> set[str]:
    return {a.id for o in review.organisations for m in o.matches for a in m.advisories}


def test_hit_with_shared_compute_and_aerospace_applications_is_severe(
    session_factory: sessionmaker[Session], demo: dict[str, str]
) -> None:
    review = run(
        session_factory,
        READER,
        ScreeningIndex(),
        partners=["School of Astronautics, Harbin Institute of Technology, Harbin 150001, China"],
        research_area="Flow control for re-entry vehicles",
        non_public_resources={"kinds": ["compute"], "description": "GPU cluster time"},
        applications="Aerospace vehicle design",
    )

    assert concerns(review) == ("severe", "high", "severe", "severe")
    assert cited(review) == {demo["Harbin Institute of Technology"]}
    partner = review.questions[1]
    assert "Harbin Institute of Technology" in partner.answer
    assert {f.kind for f in partner.findings} == {"partner_risk", "listing"}
    assert any("export-control" in step for step in review.guidance)
    assert "does not make it" in review.notice


def test_sichuan_university_in_medical_imaging_is_elevated(
    session_factory: sessionmaker[Session], demo: dict[str, str]
) -> None:
    review = run(
        session_factory,
        READER,
        ScreeningIndex(),
        partners=[{"name": "West China Hospital, Sichuan University, Chengdu", "country": "CN"}],
        research_area="Medical image segmentation of liver tumours",
        applications="Earlier diagnosis of liver cancer",
    )

    assert concerns(review) == ("low", "elevated", "low", "elevated")
    assert cited(review) == {demo["Sichuan University"]}
    assert review.organisations[0].highest_risk == "medium"


def test_an_unknown_partner_with_open_data_is_low(
    session_factory: sessionmaker[Session], demo: dict[str, str]
) -> None:
    review = run(session_factory, READER, ScreeningIndex(), partners=["Université Laval"])

    assert concerns(review) == ("low", "low", "low", "low")
    assert review.organisations[0].matches == []
    assert "not a clearance" in review.questions[1].answer


def test_a_hidden_advisory_leaves_no_trace_in_a_review(
    session_factory: sessionmaker[Session], demo: dict[str, str]
) -> None:
    """NUDT's only advisory is government amber: the unvetted member's review does not know it."""
    project: dict[str, Any] = {
        "research_area": "Supercomputing for climate models",
        "non_public_resources": {"kinds": ["compute"]},
        "applications": "Regional flood forecasting",
    }
    index = ScreeningIndex()
    nudt = "National University of Defense Technology"
    before = len(entries(session_factory))

    hidden = run(session_factory, POLY_READER, index, partners=[nudt], **project)
    unknown = run(session_factory, POLY_READER, index, partners=["Qwxzv Institute"], **project)
    seen = run(session_factory, READER, index, partners=[nudt], **project)

    assert hidden.organisations[0].matches == []
    assert demo[nudt] not in hidden.model_dump_json()
    # Exactly what a partner the node knows nothing about gets: sharing compute, nothing more.
    assert concerns(hidden) == concerns(unknown) == ("elevated", "low", "low", "elevated")
    assert [q.answer.replace(nudt, "X") for q in hidden.questions] == [
        q.answer.replace("Qwxzv Institute", "X") for q in unknown.questions
    ]
    # A vetted member's review of the same project sees it.
    assert cited(seen) == {demo[nudt]}
    assert concerns(seen) == ("severe", "high", "severe", "severe")
    # Only the vetted member's screen showed a restricted advisory to be audited.
    screens = [e for e in entries(session_factory)[before:] if e.action == "advisory.screen"]
    assert [e.actor for e in screens] == [READER]


def test_funders_are_screened_too(
    session_factory: sessionmaker[Session], demo: dict[str, str]
) -> None:
    review = run(
        session_factory,
        READER,
        ScreeningIndex(),
        funding_sources=["Aviation Industry Corporation of China"],
        non_public_resources={"kinds": ["data"]},
    )

    funder = review.organisations[1]
    assert (funder.role, funder.highest_risk) == ("funder", "very_high")
    # The funder's standing raises question 2, but resources go to partners, not funders.
    assert concerns(review) == ("elevated", "high", "low", "high")


def test_a_review_is_stored_and_audited_without_its_content(
    session_factory: sessionmaker[Session], demo: dict[str, str]
) -> None:
    before = len(entries(session_factory))
    review = run(session_factory, READER, ScreeningIndex(), partners=["Beihang University"])

    with read_only(session_factory) as session:
        stored = session.get(Review, review.id)
        assert stored is not None
        assert stored.input["partners"] == [{"name": "Beihang University", "country": None}]
        assert stored.result["concern_level"] == review.concern_level == "high"
        assert session.scalar(select(func.count()).select_from(Review)) == 1
    log = entries(session_factory)[before:]
    created = [e for e in log if e.action == "review.create"]
    assert [(e.actor, e.target, e.detail) for e in created] == [(READER, review.id, {})]
    assert all("Beihang" not in str(e.detail) and "Soil" not in str(e.detail) for e in log)


def test_guidance_never_forbids(
    session_factory: sessionmaker[Session], demo: dict[str, str]
) -> None:
    review = run(
        session_factory,
        READER,
        ScreeningIndex(),
        partners=["HIT", "NWPU", "Hikvision"],
        non_public_resources={"kinds": ["data", "compute", "know_how"]},
        applications="Surveillance drones for the military",
    )

    assert review.concern_level == "severe"
    text = " ".join([*review.guidance, *(q.answer for q in review.questions)]).lower()
    for word in ("forbidden", "prohibited", "must not", "not allowed", "banned"):
        assert word not in text


def test_reviews_expire_with_the_clock_of_the_org_vetting(
    session_factory: sessionmaker[Session], demo: dict[str, str]
) -> None:
    """Visibility is decided on the review's own date, as every read path decides it."""
    with transaction(session_factory) as session:
        principal = principal_for(get_user_by_email(session, READER))
        late = utcnow() + timedelta(days=400)  # after the vetting of University of Example
        review = create_review(
            session,
            principal=principal,
            index=ScreeningIndex(),
            review_in=review_in(partners=["NUDT"]),
            now=late,
        )
    assert review.organisations[0].matches == []
