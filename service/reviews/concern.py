"""The concern rules of a collaboration review, and how the project's own words are read.

``CONCERN_RULES`` is the table that turns what the node knows (``ReviewFacts``) into each
question's concern level; ``project_technologies`` and ``sensitive_terms`` read the research
area and applications for technology tags and dual-use terms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from service.reviews.schemas import Concern, OrgRole, QuestionKey, ReviewCreate

QUESTIONS: dict[QuestionKey, str] = {
    "resources": "Does the project give the foreign partner access to new resources (non-public "
    "data, compute, engineering know-how) that it could not get from the published paper?",
    "partner": "Do you know who the partner is, and whether it or its institution has ties to "
    "the military or security apparatus (the Seven Sons of National Defence are the minimum "
    "baseline)?",
    "applications": "What are the likely applications of the research, and are you comfortable "
    "contributing to them?",
}
RISK_ORDER = {"low": 0, "medium": 1, "high": 2, "very_high": 3}
CONCERN_ORDER: dict[Concern, int] = {"low": 0, "elevated": 1, "high": 2, "severe": 3}
# --- what the review knows ---------------------------------------------------------------------


@dataclass(frozen=True)
class OrgStanding:
    """What the visible advisories say about one partner or funder (nothing when unmatched)."""

    role: OrgRole
    name: str
    label: str  # how answers call it: the matched subjects' names, else the name given
    risk: str | None = None
    categories: frozenset[str] = frozenset()
    technologies: frozenset[str] = frozenset()
    listings: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()
    advisory_ids: tuple[str, ...] = ()

    @property
    def matched(self) -> bool:
        return self.risk is not None

    def risk_at_least(self, level: str) -> bool:
        return self.risk is not None and RISK_ORDER[self.risk] >= RISK_ORDER[level]

    @property
    def grave(self) -> bool:
        """Very high risk, or an advisory saying the partnership is legally restricted."""
        return self.risk == "very_high" or "legally_restricted" in self.actions

    @property
    def listed(self) -> bool:
        """On a restriction list (an entity list, a sanctions list) or legally restricted."""
        return bool(self.listings) or "legally_restricted" in self.actions


@dataclass(frozen=True)
class ReviewFacts:
    """Everything the concern rules look at."""

    shared: tuple[str, ...]
    organisations: tuple[OrgStanding, ...]
    technologies: frozenset[str]
    sensitive_terms: tuple[str, ...]

    @property
    def partners(self) -> tuple[OrgStanding, ...]:
        """The organisations that would receive what the project shares (not funders)."""
        return tuple(o for o in self.organisations if o.role == "partner")

    def overlap(self, org: OrgStanding) -> frozenset[str]:
        """The project's technologies that the organisation's advisories are concerned with."""
        return self.technologies & org.technologies


# --- the concern rules -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    question: QuestionKey
    concern: Concern
    when: str
    holds: Callable[[ReviewFacts], bool]


def _any(orgs: Iterable[OrgStanding], test: Callable[[OrgStanding], bool]) -> bool:
    return any(test(o) for o in orgs)


CONCERN_RULES: tuple[Rule, ...] = (
    # Question 1: what the partners would get. Sharing is not wrong in itself; who gets it is.
    Rule(
        "resources",
        "severe",
        "non-public resources go to a partner assessed very high risk or legally restricted",
        lambda f: bool(f.shared) and _any(f.partners, lambda o: o.grave),
    ),
    Rule(
        "resources",
        "high",
        "non-public resources go to a partner assessed high risk or on a restriction list",
        lambda f: (
            bool(f.shared) and _any(f.partners, lambda o: o.risk_at_least("high") or o.listed)
        ),
    ),
    Rule(
        "resources",
        "elevated",
        "non-public resources are shared with the partners",
        lambda f: bool(f.shared),
    ),
    # Question 2: who the partners and funders are.
    Rule(
        "partner",
        "high",
        "a partner or funder is assessed very high or high risk",
        lambda f: _any(f.organisations, lambda o: o.risk_at_least("high")),
    ),
    Rule(
        "partner",
        "elevated",
        "a partner or funder is assessed medium risk or is on a restriction list",
        lambda f: _any(f.organisations, lambda o: o.risk_at_least("medium") or o.listed),
    ),
    # Question 3: what the work could be used for, by whom.
    Rule(
        "applications",
        "severe",
        "the project's technologies are among those of concern at an organisation assessed "
        "very high risk or legally restricted",
        lambda f: _any(f.organisations, lambda o: o.grave and bool(f.overlap(o))),
    ),
    Rule(
        "applications",
        "severe",
        "the applications name dual-use terms and an organisation's advisories recommend "
        "avoiding it in sensitive areas",
        lambda f: (
            bool(f.sensitive_terms)
            and _any(f.organisations, lambda o: "avoid_in_sensitive_areas" in o.actions)
        ),
    ),
    Rule(
        "applications",
        "high",
        "the project's technologies are among those of concern at an organisation assessed "
        "high risk or on a restriction list",
        lambda f: _any(
            f.organisations, lambda o: (o.risk_at_least("high") or o.listed) and bool(f.overlap(o))
        ),
    ),
    Rule(
        "applications",
        "elevated",
        "the research area or applications name dual-use terms",
        lambda f: bool(f.sensitive_terms),
    ),
    Rule(
        "applications",
        "elevated",
        "the project's technologies are among those of concern at a matched organisation",
        lambda f: _any(f.organisations, lambda o: o.matched and bool(f.overlap(o))),
    ),
)
"""The concern table: each question's concern is the highest level among its rules that hold
(``low`` when none does), and the review's ``concern_level`` is the highest of the three.

So, for the review as a whole:

- **severe**: an organisation assessed very high risk or legally restricted gets non-public
  resources, or works in the technologies its advisories are concerned with; or an organisation
  whose advisories say "avoid in sensitive areas" joins work with dual-use applications;
- **high**: any partner or funder assessed very high or high risk; or a high-risk or listed
  one gets non-public resources or shares the project's technologies of concern;
- **elevated**: a medium-risk or listed organisation; dual-use terms in the research area or
  applications; non-public resources shared with partners the node knows nothing about;
- **low**: none of these.

Only advisories the caller may see enter the facts, so hidden advisories never raise a level.
"""


def _highest(levels: Iterable[Concern]) -> Concern:
    return max(levels, key=lambda level: CONCERN_ORDER[level], default="low")


def assess(facts: ReviewFacts) -> tuple[dict[QuestionKey, tuple[Concern, list[str]]], Concern]:
    """Each question's concern with the rules that held, and the review's overall concern."""
    per_question: dict[QuestionKey, tuple[Concern, list[str]]] = {}
    for question in QUESTIONS:
        held = [r for r in CONCERN_RULES if r.question == question and r.holds(facts)]
        per_question[question] = (_highest(r.concern for r in held), [r.when for r in held])
    return per_question, _highest(level for level, _ in per_question.values())


# --- reading the project's own words -----------------------------------------------------------


def _terms(table: Mapping[str, str]) -> dict[str, re.Pattern[str]]:
    return {key: re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE) for key, pattern in table.items()}


# Dual-use terms in the research area or applications (question 3). Narrow on purpose: "nuclear
# magnetic resonance" or "adversarial defence" is not weapons work.
SENSITIVE_TERMS = _terms(
    {
        "surveillance": r"surveil\w*|mass monitoring|predictive policing|public security",
        "weapons": r"weapon\w*|munitions?|armaments?|explosives?",
        "military": r"militar\w*|armed forces|battlefield|warfare|combat|"
        r"national defen[cs]e|defen[cs]e (?:industry|sector|applications?|research)",
        "hypersonic": r"hypersonic\w*",
        "nuclear": r"nuclear(?! magnetic| medicine)",
        "missiles": r"missiles?|ballistic",
        "facial recognition": r"fac(?:e|ial) recognition|person re-?identification",
        "biometric identification": r"biometric\w*",
        "targeting": r"target (?:recognition|tracking|acquisition|identification)",
        "stealth": r"stealth",
        "offensive cyber": r"cyber[- ]?(?:attacks?|offen[cs]e|weapons?)",
        "cryptanalysis": r"cryptanaly\w*",
        "unmanned systems": r"drones?|uavs?|unmanned (?:aerial|underwater|surface) vehicles?",
        "submarines": r"submarines?|torpedo\w*",
    }
)
# Technology tags as advisories use them, recognised in the project's text (question 3).
TECHNOLOGY_TERMS = _terms(
    {
        "ai": r"artificial intelligence|machine learning|deep learning|neural networks?|"
        r"large language models?|reinforcement learning",
        "aerospace": r"aerospace|aeronautic\w*|aircraft|avionics|hypersonic\w*|propulsion|"
        r"airframes?|flight control",
        "space": r"spacecraft|satellites?|orbital|launch vehicles?|space (?:technology|systems)",
        "missiles": r"missiles?|ballistic",
        "weapons": r"weapons?|munitions?|explosives?",
        "robotics": r"robot\w*",
        "uav": r"uavs?|drones?|unmanned aerial",
        "naval": r"naval|maritime|ships?|submarines?|underwater vehicles?",
        "acoustics": r"acoustic\w*|sonar",
        "materials": r"materials? science|alloys?|composites?|metamaterials?|advanced materials",
        "supercomputing": r"supercomput\w*|high[- ]performance computing|hpc|exascale",
        "nuclear": r"nuclear(?! magnetic| medicine)|fission",
        "lasers": r"lasers?",
        "electronics": r"electronics?|integrated circuits?|microwave",
        "radar": r"radars?|synthetic aperture",
        "telecommunications": r"telecom\w*|5g|6g|wireless networks?",
        "semiconductors": r"semiconductors?|chips?|lithography|wafers?|microelectronics",
        "computer_vision": r"computer vision|image recognition|fac(?:e|ial) recognition|"
        r"object detection|video analytics",
        "speech_recognition": r"speech recognition|voice recognition|speaker identification",
        "security_screening": r"security screening|x-ray (?:scanning|inspection)",
    }
)
# "AI" only as the capitalised acronym: "ai" is a word in too many languages.
_AI_ACRONYM = re.compile(r"\bA\.?I\b")
# Tags that name the same thing: a project tagged with one overlaps an advisory with the other.
_SAME_TECHNOLOGY = ({"hpc", "supercomputing"}, {"uav", "drones"})


def _found(patterns: Mapping[str, re.Pattern[str]], texts: Sequence[str]) -> list[str]:
    return [key for key, pattern in patterns.items() if any(pattern.search(t) for t in texts)]


def project_technologies(review_in: ReviewCreate) -> frozenset[str]:
    """The tags given, with those recognised in the research area and applications."""
    texts = [review_in.research_area, review_in.applications]
    tags = set(review_in.technologies) | set(_found(TECHNOLOGY_TERMS, texts))
    if any(_AI_ACRONYM.search(t) for t in texts):
        tags.add("ai")
    for group in _SAME_TECHNOLOGY:
        if tags & group:
            tags |= group
    return frozenset(tags)


def sensitive_terms(review_in: ReviewCreate) -> tuple[str, ...]:
    """The dual-use terms named in the research area or the applications."""
    return tuple(_found(SENSITIVE_TERMS, [review_in.research_area, review_in.applications]))
