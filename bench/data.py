"""Realistic, varied advisories for benchmarks, the same on every run (fixed random seed).

The mix is loosely shaped like a real node's: most advisories are about a few countries, most
are published, a tenth are drafts and a tenth withdrawn (a withdrawal is a second revision), some
were revised once, and every TLP level and both tiers appear, with audiences for the restricted
levels. Documents are checked against the API's own content model (the first 200 and one in 50
after), so they are valid and have exactly the shape the node stores.
"""

from __future__ import annotations

import bisect
import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from service.advisories.schemas import AdvisoryContent

SEED = 20261128
NODE_ID = "bench"
# Timestamps inside documents count back from this fixed moment, so documents do not depend on
# the day the benchmark runs.
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class OrgSpec:
    name: str
    kind: str
    vetted: bool
    users: tuple[tuple[str, str], ...]  # (email, role)


ORGS: tuple[OrgSpec, ...] = (
    OrgSpec(
        "University of Example",
        "university",
        True,
        (("reader@example.edu", "reader"), ("analyst@example.edu", "analyst")),
    ),
    OrgSpec(
        "Example Polytechnic",
        "university",
        False,
        (("analyst@poly.example", "analyst"), ("reader@poly.example", "reader")),
    ),
    OrgSpec(
        "Northern Institute of Science", "university", True, (("analyst@nis.example", "analyst"),)
    ),
    OrgSpec("Coastal University", "university", True, (("analyst@coastal.example", "analyst"),)),
    OrgSpec("Lakeside College", "university", False, (("analyst@lakeside.example", "analyst"),)),
    OrgSpec(
        "Office of Research Security", "government", True, (("publisher@gov.example", "publisher"),)
    ),
    OrgSpec(
        "Defence Research Agency", "government", True, (("publisher@agency.example", "publisher"),)
    ),
    OrgSpec("Export Control Unit", "government", True, (("publisher@ecu.example", "publisher"),)),
    OrgSpec("Node operations", "other", False, (("operator@node.example", "operator"),)),
)
READER_EMAIL = "reader@example.edu"  # a reader of a vetted university
UNVETTED_READER_EMAIL = "reader@poly.example"  # a reader of a university not (yet) vetted
CONTRIBUTORS = {
    "academia": [o for o in ORGS if o.kind == "university"],
    "government": [o for o in ORGS if o.kind == "government"],
}

# (value, weight) tables.
COUNTRIES = (
    ("CN", 36),
    ("RU", 14),
    ("IR", 9),
    ("KP", 3),
    ("BY", 3),
    ("PK", 3),
    ("SY", 1),
    ("VE", 1),
    ("CU", 1),
    ("MM", 1),
    ("IN", 4),
    ("TR", 3),
    ("SA", 2),
    ("AE", 3),
    ("SG", 2),
    ("MY", 2),
    ("HK", 3),
    ("US", 2),
    ("GB", 1),
    ("DE", 1),
    ("FR", 1),
    ("IL", 1),
    ("BR", 1),
    ("KZ", 1),
)
RISKS = (("very_high", 15), ("high", 30), ("medium", 35), ("low", 20))
TIERS = (("academia", 75), ("government", 25))
TLPS = (("clear", 20), ("green", 40), ("amber", 25), ("amber+strict", 10), ("red", 5))
STATUSES = (("published", 80), ("draft", 10), ("withdrawn", 10))
CONFIDENCE = (("high", 30), ("moderate", 50), ("low", 20))
KINDS = (
    ("university", 40),
    ("research_institute", 20),
    ("lab", 10),
    ("company", 20),
    ("state_body", 5),
    ("military_body", 3),
    ("other", 2),
)
ACTION_BY_RISK = {
    "very_high": ("avoid_in_sensitive_areas", "legally_restricted", "enhanced_due_diligence"),
    "high": ("enhanced_due_diligence", "avoid_in_sensitive_areas"),
    "medium": ("due_diligence", "enhanced_due_diligence"),
    "low": ("awareness", "due_diligence"),
}
CATEGORIES = (
    "seven_sons",
    "defence_industry",
    "defence_lab",
    "military_civil_fusion",
    "talent_programme",
    "state_owned",
    "surveillance",
    "nuclear",
    "missile",
    "cyber",
    "sanctioned",
    "export_controlled",
    "dual_use",
    "intelligence_links",
)
TECHNOLOGIES = (
    "aerospace",
    "ai",
    "quantum",
    "semiconductors",
    "biotech",
    "materials",
    "robotics",
    "hypersonics",
    "cryptography",
    "photonics",
    "nuclear_engineering",
    "space",
)
LISTS = ("us_entity_list", "us_meu_list", "eu_sanctions", "uk_sanctions", "ca_named_entities")
PLACES = (
    "Harbin",
    "Nanjing",
    "Xi'an",
    "Chengdu",
    "Wuhan",
    "Beijing",
    "Shanghai",
    "Changsha",
    "Tomsk",
    "Novosibirsk",
    "Kazan",
    "Tehran",
    "Isfahan",
    "Minsk",
    "Lahore",
    "Karachi",
    "Ankara",
    "Riyadh",
    "Dubai",
    "Kuala Lumpur",
    "Northern",
    "Eastern",
    "Central",
    "Pacific",
)
KIND_WORDS = {
    "university": ("University", "Institute of Technology", "Polytechnic University"),
    "research_institute": ("Research Institute", "Academy", "Institute"),
    "lab": ("Key Laboratory", "National Laboratory", "Research Centre"),
    "company": ("Industries Group", "Electronics Corporation", "Technologies Ltd"),
    "state_body": ("Administration", "State Committee", "Ministry Bureau"),
    "military_body": ("Military Academy", "Engineering Academy", "Armament Institute"),
    "other": ("Foundation", "Association", "Centre"),
}
FIELDS = (
    "Aeronautics",
    "Astronautics",
    "Engineering Physics",
    "Electronic Science",
    "Materials",
    "Applied Mathematics",
    "Optics",
    "Information Engineering",
    "Marine Engineering",
    "Automation",
    "Nuclear Physics",
    "Computing",
)


_CUMULATIVE: dict[int, tuple[tuple[str, ...], list[int]]] = {}


def _pick(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    """A value of ``table`` drawn with its weight."""
    cached = _CUMULATIVE.get(id(table))
    if cached is None:
        values, weights = zip(*table, strict=True)
        cached = _CUMULATIVE[id(table)] = (values, list(itertools.accumulate(weights)))
    values, cumulative = cached
    return values[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _subject(rng: random.Random, number: int, country: str) -> dict[str, Any]:
    kind = _pick(rng, KINDS)
    name = f"{rng.choice(PLACES)} {rng.choice(KIND_WORDS[kind])} of {rng.choice(FIELDS)} {number}"
    names: list[dict[str, Any]] = []
    if rng.random() < 0.6:
        acronym = "".join(word[0] for word in name.split() if word[0].isupper())
        names.append({"value": acronym, "lang": None, "type": "acronym"})
    if rng.random() < 0.4:
        names.append({"value": f"{name} (former)", "lang": None, "type": "former"})
    if country == "CN" and rng.random() < 0.7:
        names.append({"value": f"研究所{number}", "lang": "zh", "type": "official"})
    identifiers: dict[str, str] = {}
    if kind in ("university", "research_institute") and rng.random() < 0.8:
        identifiers["ror"] = f"https://ror.org/0{rng.getrandbits(32):08x}"
    if rng.random() < 0.5:
        identifiers["wikidata"] = f"Q{rng.randrange(10_000, 99_999_999)}"
    parent = f"{rng.choice(PLACES)} Academy of Sciences" if rng.random() < 0.2 else None
    return {
        "name": name,
        "names": names,
        "country": country,
        "kind": kind,
        "identifiers": identifiers,
        "parent": parent,
    }


def _content(
    rng: random.Random, number: int, tier: str, tlp: str, org_ids: list[str]
) -> dict[str, Any]:
    country = _pick(rng, COUNTRIES)
    risk = _pick(rng, RISKS)
    audience = (
        sorted(rng.sample(org_ids, rng.randint(1, 3))) if tlp in ("amber+strict", "red") else []
    )
    listed_on = EPOCH.date() - timedelta(days=rng.randrange(30, 3000))
    listings = [
        {
            "list": rng.choice(LISTS),
            "citation": f"{rng.randrange(70, 90)} FR {rng.randrange(1000, 99999)}",
            "listed_on": listed_on.isoformat(),
            "url": None,
        }
        for _ in range(rng.choice((0, 0, 1, 1, 2)))
    ]
    sources = [
        {
            "title": f"Report on {rng.choice(FIELDS).lower()} cooperation, part {k + 1}",
            "url": f"https://example.org/reports/{number}/{k}",
            "publisher": rng.choice(("ASPI", "CSIS", "Government Gazette", "Press")),
            "published": (listed_on - timedelta(days=rng.randrange(0, 400))).isoformat(),
        }
        for k in range(rng.randint(1, 3))
    ]
    valid_from = EPOCH.date() - timedelta(days=rng.randrange(0, 700))
    subject = _subject(rng, number, country)
    return {
        "tier": tier,
        "tlp": tlp,
        "audience": audience,
        "scope": rng.choice(([], ["five-eyes"], ["five-eyes", "eu-partners"], ["nordic"])),
        "subject": subject,
        "risk": risk,
        "confidence": _pick(rng, CONFIDENCE),
        "categories": rng.sample(CATEGORIES, rng.randint(0, 4)),
        "technologies": rng.sample(TECHNOLOGIES, rng.randint(0, 3)),
        "listings": listings,
        "recommended_action": rng.choice(ACTION_BY_RISK[risk]),
        "summary": (
            f"{subject['name']}: {risk.replace('_', ' ')} risk; see sources."
            + " Links to defence research reported publicly." * rng.randint(1, 4)
        ),
        "detail": "Detail paragraph on programmes, partners and funding. " * rng.randint(0, 12),
        "sources": sources,
        "valid_from": valid_from.isoformat(),
        "review_by": date(valid_from.year + 2, valid_from.month, 1).isoformat(),
    }


def _check_shape(content: dict[str, Any]) -> None:
    """Raise unless ``content`` is valid and already in the shape the API stores."""
    stored = AdvisoryContent.model_validate(content).model_dump(mode="json")
    if stored != content:
        raise ValueError(f"generated content is not in stored form: {content} != {stored}")


@dataclass(frozen=True)
class GeneratedAdvisory:
    """One advisory's revisions, oldest first (each a full document), and who wrote them."""

    revisions: tuple[dict[str, Any], ...]
    contributor_org: str
    author_email: str


def generate(
    count: int, org_ids: dict[str, str], *, seed: int = SEED
) -> Iterator[GeneratedAdvisory]:
    """``count`` advisories, oldest first; ``org_ids`` maps org names to their ids."""
    rng = random.Random(seed)
    all_org_ids = sorted(org_ids.values())
    # Spread updates over the three years before EPOCH, in insertion order.
    span = timedelta(days=3 * 365)
    for number in range(count):
        tier = _pick(rng, TIERS)
        tlp = _pick(rng, TLPS)
        status = _pick(rng, STATUSES)
        contributor = rng.choice(CONTRIBUTORS[tier])
        author = next(email for email, role in contributor.users if role != "reader")
        document = _content(rng, number, tier, tlp, all_org_ids)
        if number < 200 or number % 50 == 0:
            _check_shape(document)
        written = EPOCH - span + span * (number / max(count, 1))
        first_status = "published" if status == "withdrawn" else status
        document.update(
            id=_uuid(rng),
            origin=NODE_ID,
            revision=1,
            status=first_status,
            contributor_org=contributor.name,
            published_at=_stamp(written) if first_status == "published" else None,
            updated_at=_stamp(written),
        )
        revisions = [document]
        later = written + timedelta(hours=rng.randrange(1, 2000))
        if status == "withdrawn":
            revisions.append(
                {
                    **document,
                    "revision": 2,
                    "status": "withdrawn",
                    "withdrawal_reason": "Superseded by a consolidated advisory.",
                    "updated_at": _stamp(later),
                }
            )
        elif rng.random() < 0.1:  # a later correction, as a second revision
            revisions.append(
                {
                    **document,
                    "revision": 2,
                    "confidence": _pick(rng, CONFIDENCE),
                    "updated_at": _stamp(later),
                }
            )
        yield GeneratedAdvisory(tuple(revisions), contributor.name, author)
