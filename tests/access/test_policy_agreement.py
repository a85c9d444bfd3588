"""``visible_clause`` (the SQL filter) and ``can_read`` (the predicate) agree: one policy.

Hypothesis draws a principal (anonymous, or a user of any role in an org that is vetted, never
vetted, vetted until yesterday or until today), a handful of advisories (any status, tier and
TLP, any audience, contributed by any of those orgs or by none, as a peer's advisory is) and the
day the question is asked, a few days either side of the vetting dates.
Each example stores the advisories with ``store_revisions``, the write path every writer
shares, asks the real database which of them ``visible_clause`` lets through, and compares
that with ``can_read`` on the same facts, read back from the database as single reads do.
The example's transaction is rolled back, so examples never see each other's rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.access.policy import AdvisoryFacts, can_read, visible_clause
from service.access.principal import ANONYMOUS, Principal, principal_for
from service.access.service import add_org, add_user
from service.advisories.models import Advisory, AdvisoryAudience
from service.advisories.service import NewRevision, allocate_sequence, store_revisions
from service.db import transaction, utcnow

STATUSES = ("draft", "published", "withdrawn")
TIERS = ("academia", "government")
TLPS = ("clear", "green", "amber", "amber+strict", "red")

# name: (kind, vetted_until relative to today in days, or None for never vetted)
ORGS: dict[str, tuple[str, int | None]] = {
    "vetted university": ("university", 365),
    "unvetted university": ("university", None),
    "expired government": ("government", -1),
    "vetted government": ("government", 30),
    "ends-today company": ("company", 0),
}


@dataclass(frozen=True)
class Drawn:
    """One advisory as drawn: ``contributor`` and ``audience`` are org names."""

    status: str
    tier: str
    tlp: str
    audience: frozenset[str]
    contributor: str | None


def _members(factory: sessionmaker[Session], today: date) -> tuple[dict[str, str], list[Principal]]:
    """Org ids by name, and one principal per (org, role) the org may have."""
    org_ids: dict[str, str] = {}
    principals: list[Principal] = []
    with transaction(factory) as session:
        for name, (kind, days) in ORGS.items():
            vetted_until = None if days is None else today + timedelta(days=days)
            org = add_org(session, name=name, kind=kind, vetted_until=vetted_until)
            org_ids[name] = org.id
            roles = ["reader", "analyst", "operator"]
            if kind == "government":
                roles.append("publisher")
            for role in roles:
                user = add_user(
                    session, email=f"{role}@{kind}-{len(org_ids)}.example", org=org, role=role
                )
                principals.append(principal_for(user))
    return org_ids, principals


def _document(drawn: Drawn, org_ids: dict[str, str], stamp: str) -> dict[str, Any]:
    advisory_id = str(uuid.uuid4())
    return {
        "id": advisory_id,
        "origin": "test",
        "revision": 1,
        "status": drawn.status,
        "tier": drawn.tier,
        "tlp": drawn.tlp,
        "audience": sorted(org_ids[name] for name in drawn.audience),
        "scope": [],
        "subject": {"name": f"Subject {advisory_id}", "country": "CN", "kind": "university"},
        "risk": "high",
        "confidence": "moderate",
        "categories": [],
        "recommended_action": "due_diligence",
        "summary": "Drawn by hypothesis.",
        "contributor_org": drawn.contributor or "a peer's member",
        "published_at": None if drawn.status == "draft" else stamp,
        "updated_at": stamp,
    }


def _stored_facts(session: Session, advisory_ids: list[str]) -> dict[str, AdvisoryFacts]:
    """The facts single reads judge by, as stored (head row and audience rows)."""
    heads = session.scalars(select(Advisory).where(Advisory.id.in_(advisory_ids))).all()
    facts = {}
    for head in heads:
        audience = frozenset(
            session.scalars(
                select(AdvisoryAudience.org_id).where(AdvisoryAudience.advisory_pk == head.pk)
            )
        )
        facts[head.id] = AdvisoryFacts(
            head.status, head.tier, head.tlp, head.contributor_org_id, audience
        )
    return facts


def _describe(principal: Principal, drawn: Drawn, org_names: dict[str | None, str]) -> str:
    who = (
        "anonymous"
        if not principal.is_authenticated
        else f"{principal.role} of {org_names[principal.org_id]}"
    )
    audience = sorted(drawn.audience)
    return (
        f"{who} on {drawn.status} {drawn.tier} {drawn.tlp} advisory, audience {audience}, "
        f"contributed by {drawn.contributor or 'a peer (no local org)'}"
    )


def test_visible_clause_and_can_read_agree(session_factory: sessionmaker[Session]) -> None:
    now = utcnow()
    org_ids, principals = _members(session_factory, now.date())
    org_names: dict[str | None, str] = {org_id: name for name, org_id in org_ids.items()}
    names = sorted(org_ids)
    drawn_advisory = st.builds(
        Drawn,
        status=st.sampled_from(STATUSES),
        tier=st.sampled_from(TIERS),
        tlp=st.sampled_from(TLPS),
        audience=st.frozensets(st.sampled_from(names), max_size=3),
        contributor=st.sampled_from([None, *names]),
    )

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        principal=st.sampled_from([ANONYMOUS, *principals]),
        batch=st.lists(drawn_advisory, min_size=1, max_size=8),
        # The day the question is asked, around the orgs' vetting dates.
        days_later=st.integers(min_value=-2, max_value=2),
    )
    def agree(principal: Principal, batch: list[Drawn], days_later: int) -> None:
        today = now.date() + timedelta(days=days_later)
        stamp = now.isoformat().replace("+00:00", "Z")
        documents = [_document(drawn, org_ids, stamp) for drawn in batch]
        drawn_by_id = {doc["id"]: drawn for doc, drawn in zip(documents, batch, strict=True)}
        with session_factory() as session:
            try:
                last_seq = allocate_sequence(session, len(documents))
                store_revisions(
                    session,
                    [
                        NewRevision(
                            doc, None if d.contributor is None else org_ids[d.contributor], None
                        )
                        for doc, d in zip(documents, batch, strict=True)
                    ],
                    first_seq=last_seq - len(documents) + 1,
                    now=now,
                )
                ids = list(drawn_by_id)
                by_sql = set(
                    session.scalars(
                        select(Advisory.id).where(
                            Advisory.id.in_(ids), visible_clause(principal, today=today)
                        )
                    )
                )
                facts = _stored_facts(session, ids)
            finally:
                session.rollback()

        expected_facts = {
            i: AdvisoryFacts(
                d.status,
                d.tier,
                d.tlp,
                None if d.contributor is None else org_ids[d.contributor],
                frozenset(org_ids[name] for name in d.audience),
            )
            for i, d in drawn_by_id.items()
        }
        assert facts == expected_facts, "the stored facts are not the ones written"
        disagreements = [
            f"{_describe(principal, drawn_by_id[i], org_names)}, {days_later:+d} days on: "
            f"visible_clause says {i in by_sql}, can_read says {i not in by_sql}"
            for i in ids
            if can_read(principal, facts[i], today=today) != (i in by_sql)
        ]
        assert not disagreements, "\n".join(disagreements)

    agree()
