"""Collaboration reviews: SPEC section 1's three questions, answered from what the node knows.

A member describes a proposed collaboration (partners, research area, the non-public resources
the partners would get, the likely applications). The review screens every partner and funder
with ``service.screening`` (so the caller learns only of advisories it may see), answers each
question with a plain-language finding and a concern level, combines them by the table
``CONCERN_RULES`` and suggests next steps. It informs; it never decides.

Reviews are stored for the caller's org only. The audit log records that a review was made
(``review.create``, naming the review) but never what it was about: a review reveals a
partnership. Each function only flushes: the caller owns the transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from service.access.models import User
from service.access.policy import check_can_review, visible_clause
from service.access.principal import Principal
from service.advisories.models import Advisory, AdvisoryRevision
from service.advisories.service import format_timestamp, read_is_audited
from service.audit.service import record_by
from service.errors import FieldError, InvalidInput, NotFound
from service.reviews.concern import (
    CONCERN_ORDER,
    QUESTIONS,
    RISK_ORDER,
    OrgStanding,
    ReviewFacts,
    assess,
    project_technologies,
    sensitive_terms,
)
from service.reviews.models import Review
from service.reviews.schemas import (
    Answer,
    Concern,
    Finding,
    OrgRole,
    ReviewAdvisory,
    ReviewCreate,
    ReviewMatch,
    ReviewOrganisation,
    ReviewPage,
    ReviewRead,
    ReviewResult,
    ReviewSummary,
)
from service.screening.index import ScreeningIndex
from service.screening.schemas import ScreenResult
from service.screening.service import ScreenRow, check_country, check_name, screen_rows

__all__ = ["MAX_PAGE", "create_review", "get_review", "list_reviews"]

MAX_PAGE = 100
MATCHES_PER_NAME = 5

_RISK_WORDS = {"very_high": "very high", "high": "high", "medium": "medium", "low": "low"}
_RESOURCE_WORDS = {
    "data": "non-public data",
    "compute": "compute",
    "know_how": "engineering or experimental know-how",
    "equipment": "equipment or facilities",
    "funding": "funding",
}


NOTICE = (
    "This review informs your decision; it does not make it. It rests only on the advisories "
    "your organisation could see on this node when it ran: an organisation without an advisory "
    "is not thereby cleared."
)
WITHHELD = (
    "Some advisories this review cited are no longer visible to your organisation, so its "
    "answers are withheld. Run the review again to answer from what you can see now."
)

# --- running a review --------------------------------------------------------------------------


def _check_names(review_in: ReviewCreate) -> list[tuple[OrgRole, ScreenRow]]:
    """Every organisation to screen, checked as screening checks names, errors naming our fields."""
    errors: list[FieldError] = []
    rows: list[tuple[OrgRole, ScreenRow]] = []
    named: list[tuple[OrgRole, str, Any]] = [
        ("partner", f"partners.{i}", org) for i, org in enumerate(review_in.partners)
    ] + [("funder", f"funding_sources.{i}", org) for i, org in enumerate(review_in.funding_sources)]
    for role, path, org in named:
        try:
            rows.append(
                (
                    role,
                    ScreenRow(
                        name=check_name(org.name, f"{path}.name"),
                        country=check_country(org.country, f"{path}.country"),
                    ),
                )
            )
        except InvalidInput as exc:
            errors.extend(exc.errors)
    if errors:
        named_fields = ", ".join(dict.fromkeys(e.field for e in errors))
        raise InvalidInput(f"Invalid value for: {named_fields}.", errors=tuple(errors))
    return rows


def _visible_documents(
    session: Session, principal: Principal, ids: Iterable[str], today: date
) -> dict[str, dict[str, Any]]:
    """The current documents of those advisories that the caller may see, by id.

    Screening already kept only visible advisories; the policy is applied again here because
    this query reads whole documents (technologies, listings) that screening does not return.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(Advisory.id, AdvisoryRevision.document)
        .join(AdvisoryRevision, AdvisoryRevision.seq == Advisory.current_seq)
        .where(Advisory.id.in_(wanted), visible_clause(principal, today=today))
    ).all()
    return {row.id: json.loads(row.document) for row in rows}


def _review_advisory(document: Mapping[str, Any]) -> ReviewAdvisory:
    return ReviewAdvisory(
        id=document["id"],
        origin=document["origin"],
        revision=document["revision"],
        tier=document["tier"],
        tlp=document["tlp"],
        risk=document["risk"],
        confidence=document["confidence"],
        categories=list(document.get("categories", [])),
        technologies=list(document.get("technologies", [])),
        listings=[listing["list"] for listing in document.get("listings", [])],
        recommended_action=document["recommended_action"],
        summary=document["summary"],
    )


def _organisation(
    role: OrgRole, row: ScreenRow, result: ScreenResult, documents: Mapping[str, dict[str, Any]]
) -> ReviewOrganisation:
    matches: list[ReviewMatch] = []
    for match in result.matches:
        # Only published advisories speak about a partner now; a withdrawn one no longer does.
        advisories = [
            _review_advisory(documents[a.id])
            for a in match.advisories
            if a.id in documents and documents[a.id]["status"] == "published"
        ]
        if not advisories:
            continue
        matches.append(
            ReviewMatch(
                subject=match.subject.model_dump(mode="json"),
                score=match.score,
                matched_on=match.matched_on,
                matched_text=match.matched_text,
                advisories=advisories,
            )
        )
    risks = [a.risk for m in matches for a in m.advisories]
    return ReviewOrganisation(
        role=role,
        name=row.name,
        country=row.country,
        matches=matches,
        highest_risk=max(risks, key=RISK_ORDER.__getitem__) if risks else None,
    )


def _standing(org: ReviewOrganisation) -> OrgStanding:
    advisories = [a for m in org.matches for a in m.advisories]
    return OrgStanding(
        role=org.role,
        name=org.name,
        label=_words(dict.fromkeys(m.subject["name"] for m in org.matches)) or org.name,
        risk=org.highest_risk,
        categories=frozenset(c for a in advisories for c in a.categories),
        technologies=frozenset(t for a in advisories for t in a.technologies),
        listings=frozenset(entry for a in advisories for entry in a.listings),
        actions=frozenset(a.recommended_action for a in advisories),
        advisory_ids=tuple(dict.fromkeys(a.id for a in advisories)),
    )


def _words(items: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    words = [i.replace("_", " ") for i in items]
    if len(words) < 2:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _resources_answer(review_in: ReviewCreate, facts: ReviewFacts) -> tuple[str, list[Finding]]:
    shared = list(facts.shared)
    if not shared:
        return (
            "No. As described, the partners get nothing beyond what the published research "
            "will contain.",
            [Finding(kind="no_resources", detail="No non-public resources are shared.")],
        )
    what = _words(_RESOURCE_WORDS[kind] for kind in shared)
    description = review_in.non_public_resources.description
    findings = [
        Finding(
            kind="resources_shared",
            detail=f"The partners would get {what}" + (f": {description}" if description else "."),
        )
    ]
    answer = (
        f"Yes: the partners would get {what}. That is not by itself a reason to decline, but "
        "it makes who the partners are, and what the work could serve, matter more."
    )
    concerning = [o for o in facts.partners if o.grave or o.risk_at_least("high") or o.listed]
    if concerning:
        answer += f" It would go to {_words(o.label for o in concerning)}, of concern below."
        findings.extend(
            Finding(
                kind="resources_to_partner_of_concern",
                detail=f"{what[0].upper() + what[1:]} would go to {o.label}.",
                organisation=o.name,
                advisories=list(o.advisory_ids),
            )
            for o in concerning
        )
    return answer, findings


def _standing_words(org: OrgStanding) -> str:
    """``very high risk; seven sons and defence lab; listed on us entity list; …``."""
    parts = [f"{_RISK_WORDS[org.risk or 'low']} risk"]
    if org.categories:
        parts.append(_words(sorted(org.categories)))
    if org.listings:
        parts.append(f"listed on {_words(sorted(org.listings))}")
    if org.actions:
        parts.append(f"advisories recommend {_words(sorted(org.actions))}")
    return "; ".join(parts)


def _partner_answer(
    organisations: Sequence[ReviewOrganisation], facts: ReviewFacts
) -> tuple[str, list[Finding]]:
    findings: list[Finding] = []
    for org, standing in zip(organisations, facts.organisations, strict=True):
        if not standing.matched:
            findings.append(
                Finding(
                    kind="no_match",
                    detail=f"No advisory you can see names {org.name}.",
                    organisation=org.name,
                )
            )
            continue
        names = _words(dict.fromkeys(m.subject["name"] for m in org.matches))
        tiers = _words(sorted({a.tier for m in org.matches for a in m.advisories}))
        findings.append(
            Finding(
                kind="partner_risk",
                detail=f"{org.name} matched {names}: {_standing_words(standing)}; "
                f"evidence from {tiers} tier advisories.",
                organisation=org.name,
                advisories=list(standing.advisory_ids),
            )
        )
        if standing.listings:
            findings.append(
                Finding(
                    kind="listing",
                    detail=f"{standing.label} is on {_words(sorted(standing.listings))}.",
                    organisation=org.name,
                    advisories=list(standing.advisory_ids),
                )
            )
    matched = [s for s in facts.organisations if s.matched]
    if not matched:
        answer = (
            "No advisory you can see names any of the partners or funders. That is not a "
            "clearance: the node may not know them. Confirm who they are and how they are tied "
            "to the state, the military and the security apparatus."
        )
    else:
        answer = f"{len(matched)} of {len(facts.organisations)} organisations match advisories: "
        answer += "; ".join(f"{s.label} ({_standing_words(s)})" for s in matched) + "."
    return answer, findings


def _applications_answer(facts: ReviewFacts) -> tuple[str, list[Finding]]:
    findings: list[Finding] = []
    sentences: list[str] = []
    for org in facts.organisations:
        overlap = sorted(facts.overlap(org))
        if org.matched and overlap:
            findings.append(
                Finding(
                    kind="technology_overlap",
                    detail=f"The project's {_words(overlap)} work is among the technologies of "
                    f"concern at {org.label}.",
                    organisation=org.name,
                    advisories=list(org.advisory_ids),
                )
            )
            sentences.append(f"its {_words(overlap)} work is of concern at {org.label}")
    if facts.sensitive_terms:
        findings.append(
            Finding(
                kind="sensitive_terms",
                detail=f"The research area or applications name {_words(facts.sensitive_terms)}.",
            )
        )
        sentences.append(f"it names dual-use applications ({_words(facts.sensitive_terms)})")
    if not sentences:
        return (
            "Nothing in the technologies or applications is among what the advisories you can "
            "see are concerned with, and no dual-use terms were found. Still think through how "
            "the results could be used, in the partner's country too.",
            findings,
        )
    answer = "Consider the applications carefully: " + "; ".join(sentences) + "."
    return answer, findings


def _guidance(facts: ReviewFacts, concern: Concern) -> list[str]:
    steps: list[str] = []
    listed = [o for o in facts.organisations if o.listed]
    risky = [o for o in facts.organisations if o.risk_at_least("high")]
    medium = [o for o in facts.organisations if o.risk == "medium"]
    unmatched = [o for o in facts.organisations if not o.matched]
    if listed:
        steps.append(
            "Consult your export-control office before sharing anything: restriction lists or "
            f"legal restrictions apply to {_words(o.label for o in listed)}; sharing data, "
            "software or know-how may need a licence."
        )
    if risky:
        steps.append(
            f"Carry out enhanced due diligence on {_words(o.label for o in risky)}: who the "
            "researchers are, their lab's funding and ties to defence or security bodies."
        )
    if medium:
        steps.append(f"Carry out due diligence on {_words(o.label for o in medium)}.")
    if facts.shared and (listed or risky):
        steps.append(
            "Limit the partners' access to non-public resources: share only what the published "
            "paper will contain, or keep data and compute in a controlled environment you run."
        )
    if any(o.matched and facts.overlap(o) for o in facts.organisations):
        steps.append(
            "Scope the work away from the technologies the partners' advisories are concerned "
            "with, or document why the contribution to them is acceptable."
        )
    if facts.sensitive_terms:
        steps.append(
            "Discuss the likely applications with your research security and ethics advisers, "
            "and record the reasoning behind your decision."
        )
    if facts.shared and unmatched:
        steps.append(
            f"Verify the identity and affiliations of {_words(o.name for o in unmatched)} "
            "(company registry, ROR, annual reports) before sharing non-public resources: the "
            "node has no advisory on them."
        )
    if CONCERN_ORDER[concern] >= CONCERN_ORDER["high"]:
        steps.append("Bring the review to your research security office before committing.")
    if not steps:
        steps.append(
            "Nothing of concern was found in what this node knows. That is not a clearance: "
            "apply your usual due diligence, and run the review again if the partners or the "
            "work change."
        )
    return steps


def _result(
    review_in: ReviewCreate,
    organisations: Sequence[ReviewOrganisation],
) -> ReviewResult:
    facts = ReviewFacts(
        shared=tuple(review_in.non_public_resources.shared),
        organisations=tuple(_standing(o) for o in organisations),
        technologies=project_technologies(review_in),
        sensitive_terms=sensitive_terms(review_in),
    )
    per_question, overall = assess(facts)
    answers = {
        "resources": _resources_answer(review_in, facts),
        "partner": _partner_answer(organisations, facts),
        "applications": _applications_answer(facts),
    }
    questions = [
        Answer(
            key=key,
            question=QUESTIONS[key],
            answer=answers[key][0],
            findings=answers[key][1],
            concern=per_question[key][0],
            reasons=per_question[key][1],
        )
        for key in QUESTIONS
    ]
    return ReviewResult(
        concern_level=overall,
        questions=questions,
        organisations=list(organisations),
        guidance=_guidance(facts, overall),
        notice=NOTICE,
    )


def create_review(
    session: Session,
    *,
    principal: Principal,
    index: ScreeningIndex,
    review_in: ReviewCreate,
    now: datetime,
) -> ReviewRead:
    """Run and store a review for the caller's org; the caller must commit.

    The audit log gets ``review.create`` naming the review, and whatever screening records
    about the advisories it showed; never the partners, the research or the answers.
    """
    check_can_review(principal, writes=True)
    assert principal.user_id is not None
    assert principal.org_id is not None
    rows = _check_names(review_in)
    results = screen_rows(
        session,
        principal=principal,
        index=index,
        rows=[row for _, row in rows],
        now=now,
        limit=MATCHES_PER_NAME,
    )
    cited = (a.id for result in results for m in result.matches for a in m.advisories)
    documents = _visible_documents(session, principal, cited, now.date())
    organisations = [
        _organisation(role, row, result, documents)
        for (role, row), result in zip(rows, results, strict=True)
    ]
    result = _result(review_in, organisations)
    review = Review(
        id=str(uuid.uuid4()),
        org_id=principal.org_id,
        user_id=principal.user_id,
        created_at=now,
        input=review_in.model_dump(mode="json"),
        result=result.model_dump(mode="json"),
    )
    session.add(review)
    session.flush()
    record_by(session, principal, action="review.create", target=review.id, detail={}, now=now)
    return _read(review, principal.email, result)


# --- reading reviews ---------------------------------------------------------------------------


def _read(review: Review, email: str | None, result: ReviewResult | None) -> ReviewRead:
    review_in = ReviewCreate.model_validate(review.input)
    return ReviewRead(
        id=review.id,
        title=review_in.title,
        created_at=format_timestamp(review.created_at),
        created_by=email,
        input=review_in,
        concern_level=result.concern_level if result else None,
        questions=result.questions if result else [],
        organisations=result.organisations if result else [],
        guidance=result.guidance if result else [],
        notice=NOTICE,
        withheld=None if result else WITHHELD,
    )


def _cited(result: ReviewResult) -> list[ReviewAdvisory]:
    return [a for o in result.organisations for m in o.matches for a in m.advisories]


def _still_visible(
    session: Session, principal: Principal, results: Iterable[ReviewResult], today: date
) -> dict[str, tuple[str, str]]:
    """Of the advisories the results cite, those the caller may see today: (tier, tlp) by id."""
    ids = sorted({a.id for result in results for a in _cited(result)})
    if not ids:
        return {}
    rows = session.execute(
        select(Advisory.id, Advisory.tier, Advisory.tlp).where(
            Advisory.id.in_(ids), visible_clause(principal, today=today)
        )
    )
    return {row.id: (row.tier, row.tlp) for row in rows}


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _own_reviews(principal: Principal) -> Select[Review, str]:
    return (
        select(Review, User.email)
        .join(User, User.id == Review.user_id)
        .where(Review.org_id == principal.org_id)
    )


def get_review(
    session: Session, *, principal: Principal, review_id: str, now: datetime
) -> ReviewRead:
    """One of the caller's org's reviews; ``NotFound`` for any other (or none).

    Its answers are withheld when an advisory they cite is no longer visible to the caller.
    Showing advisories that ``read_is_audited`` is recorded (``review.read``, naming the review
    and those advisories): the caller must commit.
    """
    check_can_review(principal, writes=False)
    # Ids are UUIDs this node minted; anything else (NUL included, which PostgreSQL refuses in
    # a query) names no review.
    row = (
        session.execute(_own_reviews(principal).where(Review.id == review_id)).first()
        if _is_uuid(review_id)
        else None
    )
    if row is None:
        raise NotFound("No such review, or it belongs to another organisation.")
    review, email = row
    result = ReviewResult.model_validate(review.result)
    cited = _cited(result)
    visible = _still_visible(session, principal, [result], now.date())
    if any(a.id not in visible for a in cited):
        return _read(review, email, None)
    # Audited if it was restricted when the review ran or is now (its TLP may have changed).
    audited = sorted(
        {a.id for a in cited if read_is_audited(a.tier, a.tlp) or read_is_audited(*visible[a.id])}
    )
    if audited:
        record_by(
            session,
            principal,
            action="review.read",
            target=review.id,
            detail={"advisories": audited},
            now=now,
        )
    return _read(review, email, result)


_CURSOR_PREFIX = "r1:"


def _encode_cursor(review: Review) -> str:
    text = f"{_CURSOR_PREFIX}{review.created_at.isoformat()}|{review.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    refused = InvalidInput.for_field("cursor", "is not a cursor this node issued")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        if not text.startswith(_CURSOR_PREFIX):
            raise refused
        stamp, _, review_id = text[len(_CURSOR_PREFIX) :].partition("|")
        created_at = datetime.fromisoformat(stamp)
    except (ValueError, binascii.Error, UnicodeError):
        raise refused from None
    if created_at.tzinfo is None or not _is_uuid(review_id):
        raise refused
    return created_at, review_id


def list_reviews(
    session: Session, *, principal: Principal, limit: int, cursor: str | None, now: datetime
) -> ReviewPage:
    """One page of the caller's org's reviews, newest first, and the cursor for the next.

    Items carry the partners' names and the concern level, never the advisories, so listing is
    not audited; a review whose cited advisories are no longer all visible lists no level.
    """
    check_can_review(principal, writes=False)
    query = _own_reviews(principal).order_by(Review.created_at.desc(), Review.id.desc())
    if cursor is not None:
        created_at, review_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                Review.created_at < created_at,
                and_(Review.created_at == created_at, Review.id < review_id),
            )
        )
    rows = session.execute(query.limit(min(limit, MAX_PAGE) + 1)).all()
    page = rows[:limit]
    results = [ReviewResult.model_validate(row.Review.result) for row in page]
    visible = _still_visible(session, principal, results, now.date())
    items = []
    for row, result in zip(page, results, strict=True):
        review: Review = row.Review
        whole = all(a.id in visible for a in _cited(result))
        items.append(
            ReviewSummary(
                id=review.id,
                title=review.input.get("title"),
                created_at=format_timestamp(review.created_at),
                created_by=row.email,
                partners=[p["name"] for p in review.input["partners"]],
                concern_level=result.concern_level if whole else None,
            )
        )
    next_cursor = _encode_cursor(page[-1].Review) if len(rows) > limit else None
    return ReviewPage(items=items, next_cursor=next_cursor)
