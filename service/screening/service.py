"""Screening use cases: which advisories the caller may see about the organisations a text names.

The index (``service.screening.index``) finds subjects whatever their visibility; here the
access policy (``service.access.policy.visible_clause``, the same clause every list uses) decides
which of their advisories the caller may see, and a subject with none is dropped before
anything is ranked or counted, so a screen leaves no trace of what the caller may not see.
Only advisories in force (``published``) are screening hits: drafts are not yet advice and
withdrawn ones no longer are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pycountry
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.policy import visible_clause
from service.access.principal import Principal
from service.advisories.models import Advisory, AdvisoryRevision
from service.advisories.schemas import CONTROL_CHARACTERS
from service.advisories.service import read_is_audited
from service.audit.service import record_by
from service.errors import InvalidInput
from service.screening.index import Hit, ScreeningIndex
from service.screening.schemas import ScreenAdvisory, ScreenMatch, ScreenResult, ScreenSubject

MAX_NAME_CHARS = 1000
MAX_BATCH_ROWS = 10_000
MAX_MATCHES = 50
# Subjects asked of the index per name: the policy may drop some, and the caller asked for
# ``limit`` visible ones.
_CANDIDATES = 100
_RISK_ORDER = {"very_high": 0, "high": 1, "medium": 2, "low": 3}


@dataclass(frozen=True)
class ScreenRow:
    """One name to screen, with the country it is in when the caller knows it."""

    name: str
    country: str | None = None


def check_name(value: str, field: str) -> str:
    """``value`` without surrounding space, or ``InvalidInput`` naming ``field``."""
    name = value.strip()
    if not name:
        raise InvalidInput.for_field(field, "must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput.for_field(field, f"must be at most {MAX_NAME_CHARS} characters")
    if CONTROL_CHARACTERS.search(name):
        raise InvalidInput.for_field(field, "must not contain control characters")
    return name


def check_country(value: str | None, field: str) -> str | None:
    """An ISO 3166-1 alpha-2 code (upper-cased), None when absent, or ``InvalidInput``."""
    if value is None or not value.strip():
        return None
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha() or pycountry.countries.get(alpha_2=code) is None:
        raise InvalidInput.for_field(field, f"{value!r} is not an ISO 3166-1 alpha-2 code")
    return code


def screen(
    session: Session,
    *,
    principal: Principal,
    index: ScreeningIndex,
    query: str,
    country: str | None,
    now: datetime,
    limit: int = 10,
) -> ScreenResult:
    """The subjects ``query`` names that the caller has advisories about, best first.

    Records the screen in the audit log when it shows advisories that ``read_is_audited``
    (their ids, never the query, which reveals a partnership): the caller must commit.
    """
    row = ScreenRow(check_name(query, "q"), check_country(country, "country"))
    return screen_rows(session, principal=principal, index=index, rows=[row], now=now, limit=limit)[
        0
    ]


def screen_rows(
    session: Session,
    *,
    principal: Principal,
    index: ScreeningIndex,
    rows: Sequence[ScreenRow],
    now: datetime,
    limit: int = 10,
) -> list[ScreenResult]:
    """``screen`` for many names: one result per row, in order, and one audit entry."""
    if len(rows) > MAX_BATCH_ROWS:
        raise InvalidInput.for_field("rows", f"at most {MAX_BATCH_ROWS} rows per batch")
    limit = max(1, min(limit, MAX_MATCHES))
    index.refresh(session)
    found = [index.search(row.name, country=row.country, limit=_CANDIDATES) for row in rows]
    pks = {pk for hits in found for hit in hits for pk in hit.advisory_pks}
    visible = _visible_advisories(session, principal=principal, pks=pks, now=now)
    results = []
    shown: set[str] = set()
    for row, hits in zip(rows, found, strict=True):
        matches = []
        for hit in hits:
            advisories = [visible[pk] for pk in hit.advisory_pks if pk in visible]
            if not advisories:
                continue
            advisories.sort(key=lambda a: (_RISK_ORDER.get(a.risk, 9), a.id))
            matches.append(_match(hit, advisories))
            if len(matches) == limit:
                break
        shown.update(a.id for m in matches for a in m.advisories if read_is_audited(a.tier, a.tlp))
        results.append(ScreenResult(query=row.name, country=row.country, matches=matches))
    if shown:
        record_by(
            session,
            principal,
            action="advisory.screen",
            target=None,
            detail={"ids": sorted(shown), "names": len(rows)},
            now=now,
        )
    return results


def _visible_advisories(
    session: Session, *, principal: Principal, pks: set[int], now: datetime
) -> dict[int, ScreenAdvisory]:
    """The published advisories among ``pks`` that the caller may see, by primary key."""
    visible: dict[int, ScreenAdvisory] = {}
    ordered = sorted(pks)
    # Bounded IN lists: SQLite allows some tens of thousands of parameters, PostgreSQL more.
    for start in range(0, len(ordered), 5000):
        chunk = ordered[start : start + 5000]
        rows = session.execute(
            select(Advisory.pk, AdvisoryRevision.document)
            .join(AdvisoryRevision, AdvisoryRevision.seq == Advisory.current_seq)
            .where(
                Advisory.pk.in_(chunk),
                Advisory.status == "published",
                visible_clause(principal, today=now.date()),
            )
        ).all()
        for pk, document in rows:
            visible[pk] = _advisory(json.loads(document))
    return visible


def _advisory(document: dict[str, Any]) -> ScreenAdvisory:
    return ScreenAdvisory(
        id=document["id"],
        origin=document.get("origin", ""),
        revision=document["revision"],
        status=document["status"],
        tier=document["tier"],
        tlp=document["tlp"],
        risk=document["risk"],
        confidence=document.get("confidence", ""),
        categories=list(document.get("categories", [])),
        recommended_action=document.get("recommended_action", ""),
        summary=document.get("summary", ""),
        updated_at=document.get("updated_at"),
    )


def _match(hit: Hit, advisories: list[ScreenAdvisory]) -> ScreenMatch:
    subject = hit.subject
    identifiers = subject.get("identifiers") or {}
    return ScreenMatch(
        subject=ScreenSubject(
            name=str(subject.get("name", "")),
            country=str(subject.get("country", "")),
            kind=subject.get("kind"),
            identifiers={str(k): str(v) for k, v in identifiers.items()},
        ),
        score=hit.score,
        matched_on=hit.matched_on,
        matched_text=hit.matched_text,
        advisories=advisories,
    )


def highest_risk(advisories: Sequence[ScreenAdvisory]) -> str | None:
    """The highest risk level among ``advisories`` (None for none)."""
    ranked = sorted((a.risk for a in advisories), key=lambda r: _RISK_ORDER.get(r, 9))
    return ranked[0] if ranked else None
