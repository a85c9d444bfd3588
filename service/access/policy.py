"""The access policy of SPEC section 5, in one place.

``visible_clause`` (the SQL filter every list, count and search uses) and ``can_read`` (the
predicate single reads use) are written side by side from the same rules, and a test checks that
they agree. Write rules live here too, so routes never make their own ``if`` checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from service.access.principal import Principal
from service.advisories.models import Advisory, AdvisoryAudience
from service.errors import NotAuthenticated, NotPermitted

OPEN_TLP = ("clear", "green")
RESTRICTED_TLP = ("amber+strict", "red")
WRITE_ROLES = {"analyst": "academia", "publisher": "government"}


@dataclass(frozen=True)
class AdvisoryFacts:
    """What the policy needs to know about one advisory revision."""

    status: str
    tier: str
    tlp: str
    contributor_org_id: str | None
    audience: frozenset[str]


def can_read(principal: Principal, facts: AdvisoryFacts, *, today: date) -> bool:
    """Whether ``principal`` may see this revision; the predicate twin of ``visible_clause``."""
    own = principal.org_id is not None and facts.contributor_org_id == principal.org_id
    if facts.status == "draft":
        return own
    if not principal.is_authenticated:
        return facts.tlp == "clear"
    vetted = principal.is_vetted(today)
    if facts.tlp in OPEN_TLP:
        tlp_ok = True
    elif facts.tlp == "amber":
        tlp_ok = vetted
    else:
        tlp_ok = own or (principal.org_id in facts.audience)
    tier_ok = facts.tier != "government" or facts.tlp == "clear" or vetted
    return tlp_ok and tier_ok


def visible_clause(principal: Principal, *, today: date) -> ColumnElement[bool]:
    """The SQL condition on ``Advisory`` rows that ``principal`` may see."""
    if not principal.is_authenticated:
        return and_(Advisory.status != "draft", Advisory.tlp == "clear")
    vetted = principal.is_vetted(today)
    own = Advisory.contributor_org_id == principal.org_id
    # One primary-key probe per restricted row a query reaches: the org's audience row, or NULL.
    # Not EXISTS: under OR, PostgreSQL turns it into a hash of every audience row naming the org,
    # built on each query and growing with the data (6-7 ms of a 9 ms list page at 100,000
    # advisories, see bench/); a scalar subquery is never hashed.
    in_audience = (
        select(AdvisoryAudience.org_id)
        .where(
            AdvisoryAudience.advisory_pk == Advisory.pk,
            AdvisoryAudience.org_id == principal.org_id,
        )
        .scalar_subquery()
        .is_not(None)
    )
    tlp_ok = or_(
        Advisory.tlp.in_(OPEN_TLP),
        and_(Advisory.tlp == "amber", true() if vetted else false()),
        and_(Advisory.tlp.in_(RESTRICTED_TLP), or_(own, in_audience)),
    )
    tier_ok = true() if vetted else or_(Advisory.tier != "government", Advisory.tlp == "clear")
    released = and_(Advisory.status != "draft", tlp_ok, tier_ok)
    return or_(and_(Advisory.status == "draft", own), released)


def require_authenticated(principal: Principal) -> None:
    if not principal.is_authenticated:
        raise NotAuthenticated("Sign in with a bearer token to do this.")


def require_operator(principal: Principal, *, changes: bool) -> None:
    """Raise unless the caller is an operator; one who ``changes`` anything must be able to write.

    A read-only operator token (or a web session) may look at members, never change them.
    """
    require_authenticated(principal)
    if principal.role != "operator":
        raise NotPermitted("Only operators administer the node.")
    if changes and principal.read_only:
        raise NotPermitted("This token is read-only.")


def check_can_write(principal: Principal, *, tier: str, contributor_org_id: str | None) -> None:
    """Raise unless ``principal`` may write a ``tier`` advisory contributed by that org.

    Analysts write academia-tier advisories, publishers of government orgs government-tier
    ones, and each only for their own org.
    """
    require_authenticated(principal)
    if principal.read_only:
        raise NotPermitted("This token is read-only.")
    allowed_tier = WRITE_ROLES.get(principal.role or "")
    if allowed_tier is None:
        raise NotPermitted(f"The {principal.role} role cannot write advisories.")
    if allowed_tier == "government" and principal.org_kind != "government":
        raise NotPermitted("Only publishers of government organisations write government tier.")
    if tier != allowed_tier:
        raise NotPermitted(f"The {principal.role} role writes {allowed_tier}-tier advisories only.")
    if contributor_org_id != principal.org_id:
        raise NotPermitted("Only the contributing organisation may change this advisory.")


REVIEW_ROLES = frozenset({"reader", "analyst", "publisher"})


def check_can_review(principal: Principal, *, writes: bool) -> None:
    """Raise unless ``principal`` may run (``writes``) or read its org's reviews.

    A review is a member's act: readers, analysts and publishers run and read their org's
    reviews. Operators run the node and have no extra read access, so they neither run nor read
    reviews. Running one stores it, so a read-only token may read reviews but not run one.
    """
    require_authenticated(principal)
    if principal.role not in REVIEW_ROLES or principal.org_id is None:
        raise NotPermitted(
            "Collaboration reviews are run by members (readers, analysts, publishers); "
            "the operator role does not run or read them."
        )
    if writes and principal.read_only:
        raise NotPermitted(
            "This token is read-only: a review is stored for your organisation, "
            "so running one needs a token that may write."
        )
