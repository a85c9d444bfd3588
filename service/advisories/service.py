"""Advisory use cases: create, change, withdraw, read, history and list.

Each function takes the session and the principal as keyword arguments and only flushes: the
caller (one HTTP request, one CLI command) owns the transaction.

Writes, and reads of what ``read_is_audited`` names, are recorded in the audit log in that same
transaction: what was written or shown and its record commit together or not at all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Select, delete, insert, select
from sqlalchemy.orm import Session

from federation.canonical import canonical_text
from federation.keys import NodeKey
from federation.signing import SignedRecord, sign_payload
from service.access.models import Org
from service.access.policy import (
    AdvisoryFacts,
    can_read,
    check_can_write,
    require_authenticated,
    visible_clause,
)
from service.access.principal import Principal
from service.advisories.cursor import decode_cursor, encode_cursor
from service.advisories.models import (
    Advisory,
    AdvisoryAudience,
    AdvisoryCategory,
    AdvisoryRevision,
)
from service.advisories.schemas import (
    TLP_NEEDING_AUDIENCE,
    AdvisoryContent,
    AdvisoryCreate,
    AdvisoryUpdate,
    AdvisoryWithdraw,
    ListFilters,
)
from service.audit.service import record_by
from service.db import table_of
from service.errors import Conflict, FieldError, InvalidInput, NotFound
from service.peering.models import RevisionScope
from service.sequence import allocate

CHANGE_SEQUENCE = "revisions"
MAX_PAGE = 500
# Reads the audit log records: who saw what only matters, and stays readable, for content whose
# circulation is restricted. Clear and green academia advisories are left out.
AUDITED_TLP = frozenset({"amber", "amber+strict", "red"})


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as every timestamp in a document is written."""
    return moment.isoformat().replace("+00:00", "Z")


def allocate_sequence(session: Session, count: int = 1) -> int:
    """Reserve ``count`` change-sequence numbers and return the highest.

    Writers call this first: the row lock it takes serialises writers on PostgreSQL and
    takes SQLite's write lock before anything is read, so no two writes interleave. It also
    comes before the audit counter (``service.sequence`` explains the lock order).
    """
    return allocate(session, CHANGE_SEQUENCE, count)


def read_is_audited(tier: str, tlp: str) -> bool:
    """Whether showing a revision of this tier and TLP is recorded in the audit log."""
    return tier == "government" or tlp in AUDITED_TLP


def _write_detail(document: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What a write's audit entry says: the revision it made, never its content."""
    return {
        "revision": document["revision"],
        "status": document["status"],
        "tier": document["tier"],
        "tlp": document["tlp"],
        **extra,
    }


@dataclass(frozen=True)
class NewRevision:
    """A revision ready to store: its document and where it comes from.

    A revision received from a peer brings its ``signed`` record: stored as it arrived, the
    payload byte for byte, so it can be relayed and re-verified. This node's own revisions are
    signed as they are stored when a key is given.
    """

    document: dict[str, Any]
    contributor_org_id: str | None
    author_user_id: str | None
    signed: SignedRecord | None = None

    def signed_with(self, key: NodeKey | None) -> tuple[str, SignedRecord | None]:
        """The stored text and its signature (``None`` when unsigned)."""
        if self.signed is not None:
            return self.signed.payload, self.signed
        text = canonical_text(self.document)
        return text, sign_payload(text, key) if key is not None else None


def _search_text(document: dict[str, Any]) -> str:
    subject = document["subject"]
    parts = [subject["name"], *(n["value"] for n in subject.get("names", []))]
    parts.extend(str(v) for v in subject.get("identifiers", {}).values())
    return "\n".join(parts).casefold()


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _head_values(new: NewRevision, *, seq: int, now: datetime) -> dict[str, Any]:
    """The current-state columns an advisory takes from its latest revision."""
    doc = new.document
    return {
        "revision": doc["revision"],
        "status": doc["status"],
        "tier": doc["tier"],
        "tlp": doc["tlp"],
        "country": doc["subject"]["country"],
        "risk": doc["risk"],
        "subject_name": doc["subject"]["name"],
        "search_text": _search_text(doc),
        "contributor_org": doc["contributor_org"],
        "contributor_org_id": new.contributor_org_id,
        "current_seq": seq,
        "updated_at": _parse_time(doc["updated_at"]) or now,
        "published_at": _parse_time(doc.get("published_at")),
    }


def store_revisions(
    session: Session,
    batch: Sequence[NewRevision],
    *,
    first_seq: int,
    now: datetime,
    key: NodeKey | None = None,
) -> None:
    """Write revisions numbered ``first_seq`` onwards and bring each advisory's row up to date.

    The batch may hold new advisories, changes to stored ones, and several revisions of one
    advisory (in order). Rows go in as a few multi-row statements, whatever the batch size.
    """
    if not batch:
        return
    latest: dict[str, tuple[NewRevision, int]] = {}
    for offset, new in enumerate(batch):
        latest[new.document["id"]] = (new, first_seq + offset)
    existing = {
        head.id: head
        for head in session.scalars(select(Advisory).where(Advisory.id.in_(list(latest))))
    }
    pks: dict[str, int] = {}
    for advisory_id, head in existing.items():
        new, seq = latest[advisory_id]
        for column, value in _head_values(new, seq=seq, now=now).items():
            setattr(head, column, value)
        pks[advisory_id] = head.pk
    fresh = [
        {
            "id": i,
            "origin": new.document["origin"],
            "created_at": now,
            **_head_values(new, seq=seq, now=now),
        }
        for i, (new, seq) in latest.items()
        if i not in existing
    ]
    if fresh:
        # Reading the keys back by id avoids RETURNING, which SQLite would do row by row.
        session.execute(insert(table_of(Advisory)), fresh)
        new_ids = [row["id"] for row in fresh]
        rows = session.execute(select(Advisory.id, Advisory.pk).where(Advisory.id.in_(new_ids)))
        pks.update({advisory_id: pk for advisory_id, pk in rows})
    session.flush()
    revisions: list[dict[str, Any]] = []
    scopes: list[dict[str, Any]] = []
    for offset, new in enumerate(batch):
        text, signed = new.signed_with(key)
        seq = first_seq + offset
        revisions.append(
            {
                "seq": seq,
                "advisory_pk": pks[new.document["id"]],
                "revision": new.document["revision"],
                "status": new.document["status"],
                "tier": new.document["tier"],
                "tlp": new.document["tlp"],
                "document": text,
                "origin": new.document["origin"],
                "kid": signed.kid if signed else None,
                "sig": signed.sig if signed else None,
                "author_user_id": new.author_user_id,
                "created_at": now,
            }
        )
        scopes.extend(
            {"group_name": group, "seq": seq} for group in sorted(set(new.document["scope"]))
        )
    session.execute(insert(table_of(AdvisoryRevision)), revisions)
    if scopes:
        session.execute(insert(table_of(RevisionScope)), scopes)
    if existing:
        changed = [head.pk for head in existing.values()]
        session.execute(delete(AdvisoryAudience).where(AdvisoryAudience.advisory_pk.in_(changed)))
        session.execute(delete(AdvisoryCategory).where(AdvisoryCategory.advisory_pk.in_(changed)))
    audience = [
        {"advisory_pk": pks[i], "org_id": org}
        for i, (new, _) in latest.items()
        for org in sorted(set(new.document["audience"]))
    ]
    categories = [
        {"advisory_pk": pks[i], "category": category}
        for i, (new, _) in latest.items()
        for category in sorted(set(new.document["categories"]))
    ]
    if audience:
        session.execute(insert(table_of(AdvisoryAudience)), audience)
    if categories:
        session.execute(insert(table_of(AdvisoryCategory)), categories)


def _check_coherent(session: Session, content: AdvisoryContent) -> None:
    """Rules across fields, checked on the full content after a change is merged."""
    if content.tlp in TLP_NEEDING_AUDIENCE and not content.audience:
        raise InvalidInput.for_field("audience", f"TLP {content.tlp} needs at least one org id")
    if content.valid_from and content.review_by and content.review_by < content.valid_from:
        raise InvalidInput.for_field("review_by", "must not be before valid_from")
    if content.audience:
        known = set(session.scalars(select(Org.id).where(Org.id.in_(content.audience))))
        unknown = [org for org in content.audience if org not in known]
        if unknown:
            raise InvalidInput.for_field("audience", f"unknown org id(s): {', '.join(unknown)}")


def _content_document(content: AdvisoryContent, status: str) -> dict[str, Any]:
    document = content.model_dump(mode="json")
    document["status"] = status
    return document


def create_advisory(
    session: Session,
    *,
    principal: Principal,
    node_id: str,
    advisory_in: AdvisoryCreate,
    now: datetime,
    key: NodeKey | None = None,
) -> dict[str, Any]:
    """A new advisory at revision 1, contributed by the principal's org."""
    seq = allocate_sequence(session)
    check_can_write(principal, tier=advisory_in.tier, contributor_org_id=principal.org_id)
    _check_coherent(session, advisory_in)
    stamp = format_timestamp(now)
    document = _content_document(advisory_in, advisory_in.status)
    document.update(
        id=str(uuid.uuid4()),
        origin=node_id,
        revision=1,
        contributor_org=principal.org_name,
        published_at=stamp if advisory_in.status == "published" else None,
        updated_at=stamp,
    )
    new = NewRevision(document, principal.org_id, principal.user_id)
    store_revisions(session, [new], first_seq=seq, now=now, key=key)
    record_by(
        session,
        principal,
        action="advisory.create",
        target=document["id"],
        detail=_write_detail(document),
        now=now,
    )
    return document


def _head_for_change(
    session: Session,
    *,
    principal: Principal,
    node_id: str,
    advisory_id: str,
    base_revision: int,
    today: date,
) -> tuple[Advisory, dict[str, Any]]:
    """The advisory a change applies to, once every rule shared by all changes holds."""
    # Writing needs credentials whatever the advisory: an anonymous caller learns nothing more.
    require_authenticated(principal)
    head = _visible_head(session, principal=principal, advisory_id=advisory_id, today=today)
    document = json.loads(_current_document(session, head))
    check_can_write(principal, tier=head.tier, contributor_org_id=head.contributor_org_id)
    if head.origin != node_id:
        raise Conflict("Only the origin node may revise or withdraw this advisory.")
    if head.status == "withdrawn":
        raise Conflict("The advisory is withdrawn; a withdrawn advisory cannot be changed.")
    if base_revision != head.revision:
        raise Conflict(
            f"The advisory is at revision {head.revision}; the change was based on "
            f"revision {base_revision}. Reload it and apply the change again.",
            errors=(FieldError("base_revision", f"stale: current revision is {head.revision}"),),
        )
    return head, document


def update_advisory(
    session: Session,
    *,
    principal: Principal,
    node_id: str,
    advisory_id: str,
    changes_in: AdvisoryUpdate,
    now: datetime,
    key: NodeKey | None = None,
) -> dict[str, Any]:
    """A new revision with the given fields changed; refused if based on a stale revision."""
    seq = allocate_sequence(session)
    head, current = _head_for_change(
        session,
        principal=principal,
        node_id=node_id,
        advisory_id=advisory_id,
        base_revision=changes_in.base_revision,
        today=now.date(),
    )
    changes = changes_in.changes()
    changed_fields = sorted(changes)
    status = changes.pop("status", None) or head.status
    if head.status == "published" and status == "draft":
        raise InvalidInput.for_field("status", "a published advisory cannot return to draft")
    merged = {k: v for k, v in current.items() if k in AdvisoryContent.model_fields}
    merged.update(changes)
    try:
        content = AdvisoryContent.model_validate(merged)
    except ValidationError as exc:
        raise InvalidInput(
            "The change leaves the advisory invalid.",
            errors=tuple(
                FieldError(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()
            ),
        ) from exc
    check_can_write(principal, tier=content.tier, contributor_org_id=head.contributor_org_id)
    _check_coherent(session, content)
    stamp = format_timestamp(now)
    document = _content_document(content, status)
    document.update(
        id=head.id,
        origin=head.origin,
        revision=head.revision + 1,
        contributor_org=current["contributor_org"],
        published_at=current.get("published_at") or (stamp if status == "published" else None),
        updated_at=stamp,
    )
    new = NewRevision(document, head.contributor_org_id, principal.user_id)
    store_revisions(session, [new], first_seq=seq, now=now, key=key)
    record_by(
        session,
        principal,
        action="advisory.update",
        target=head.id,
        detail=_write_detail(document, changed=changed_fields),
        now=now,
    )
    return document


def withdraw_advisory(
    session: Session,
    *,
    principal: Principal,
    node_id: str,
    advisory_id: str,
    withdraw_in: AdvisoryWithdraw,
    now: datetime,
    key: NodeKey | None = None,
) -> dict[str, Any]:
    """A new revision with status ``withdrawn`` and the reason; the history stays readable."""
    seq = allocate_sequence(session)
    head, current = _head_for_change(
        session,
        principal=principal,
        node_id=node_id,
        advisory_id=advisory_id,
        base_revision=withdraw_in.base_revision,
        today=now.date(),
    )
    if head.status == "draft":
        # A withdrawn revision is visible beyond the org (and travels to peers): withdrawing a
        # draft would publish the content it was meant to retract.
        raise Conflict("A draft has never been published and cannot be withdrawn.")
    document = dict(current)
    document.update(
        revision=head.revision + 1,
        status="withdrawn",
        withdrawal_reason=withdraw_in.reason,
        updated_at=format_timestamp(now),
    )
    new = NewRevision(document, head.contributor_org_id, principal.user_id)
    store_revisions(session, [new], first_seq=seq, now=now, key=key)
    record_by(
        session,
        principal,
        action="advisory.withdraw",
        target=head.id,
        detail=_write_detail(document),
        now=now,
    )
    return document


def _visible_head(
    session: Session, *, principal: Principal, advisory_id: str, today: date
) -> Advisory:
    """The advisory's current-state row, or ``NotFound`` when absent or invisible."""
    # No stored id holds NUL, and PostgreSQL refuses a query that does.
    head = (
        None
        if "\x00" in advisory_id
        else session.scalars(select(Advisory).where(Advisory.id == advisory_id)).one_or_none()
    )
    if head is None or not can_read(principal, _head_facts(session, head), today=today):
        raise NotFound(f"No advisory {advisory_id}.")
    return head


def _head_facts(session: Session, head: Advisory) -> AdvisoryFacts:
    audience = frozenset(
        session.scalars(
            select(AdvisoryAudience.org_id).where(AdvisoryAudience.advisory_pk == head.pk)
        )
    )
    return AdvisoryFacts(head.status, head.tier, head.tlp, head.contributor_org_id, audience)


def _current_document(session: Session, head: Advisory) -> str:
    return session.scalars(
        select(AdvisoryRevision.document).where(AdvisoryRevision.seq == head.current_seq)
    ).one()


def get_advisory(session: Session, *, principal: Principal, advisory_id: str, now: datetime) -> str:
    """The latest revision's JSON text, or ``NotFound`` when absent or invisible.

    Records the read in the audit log when ``read_is_audited``: the caller must commit.
    """
    head = _visible_head(session, principal=principal, advisory_id=advisory_id, today=now.date())
    document = _current_document(session, head)
    if read_is_audited(head.tier, head.tlp):
        record_by(
            session,
            principal,
            action="advisory.read",
            target=head.id,
            detail={"revision": head.revision},
            now=now,
        )
    return document


def list_revisions(
    session: Session, *, principal: Principal, advisory_id: str, now: datetime
) -> list[str]:
    """Every revision the principal may see, oldest first; ``NotFound`` when it sees none.

    Records the read in the audit log, naming the revisions that ``read_is_audited``, when it
    shows any: the caller must commit.
    """
    today = now.date()
    head = _visible_head(session, principal=principal, advisory_id=advisory_id, today=today)
    documents = session.scalars(
        select(AdvisoryRevision.document)
        .where(AdvisoryRevision.advisory_pk == head.pk)
        .order_by(AdvisoryRevision.revision)
    ).all()
    visible = []
    audited = []
    for text in documents:
        doc = json.loads(text)
        facts = AdvisoryFacts(
            doc["status"],
            doc["tier"],
            doc["tlp"],
            head.contributor_org_id,
            frozenset(doc.get("audience", [])),
        )
        if can_read(principal, facts, today=today):
            visible.append(text)
            if read_is_audited(doc["tier"], doc["tlp"]):
                audited.append(doc["revision"])
    if audited:
        record_by(
            session,
            principal,
            action="advisory.history",
            target=head.id,
            detail={"revisions": audited},
            now=now,
        )
    return visible


def _filter_clauses(filters: ListFilters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if filters.status != "all":
        clauses.append(Advisory.status == filters.status)
    if filters.country:
        clauses.append(Advisory.country == filters.country)
    if filters.risk:
        clauses.append(Advisory.risk == filters.risk)
    if filters.tier:
        clauses.append(Advisory.tier == filters.tier)
    if filters.origin:
        clauses.append(Advisory.origin == filters.origin)
    if filters.category:
        clauses.append(
            Advisory.pk.in_(
                select(AdvisoryCategory.advisory_pk).where(
                    AdvisoryCategory.category == filters.category
                )
            )
        )
    if filters.q:
        pattern = filters.q.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(Advisory.search_text.like(f"%{pattern}%", escape="\\"))
    if filters.updated_after:
        clauses.append(Advisory.updated_at > filters.updated_after)
    return clauses


def list_query(*, principal: Principal, filters: ListFilters, today: date) -> Select[int, str]:
    """Visible advisories matching ``filters``, newest first, as (position, document) rows."""
    return (
        select(Advisory.pk, AdvisoryRevision.document)
        .join(AdvisoryRevision, AdvisoryRevision.seq == Advisory.current_seq)
        .where(visible_clause(principal, today=today), *_filter_clauses(filters))
        .order_by(Advisory.pk.desc())
    )


def list_advisories(
    session: Session,
    *,
    principal: Principal,
    filters: ListFilters,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> tuple[Sequence[str], str | None]:
    """One page of visible advisories and the cursor for the next page (None at the end).

    Pages follow the local insertion order, which writes never change, so paging while others
    write neither skips nor repeats an advisory. A page that shows advisories that
    ``read_is_audited`` is recorded in the audit log, naming their ids (never the filters, which
    may hold what the caller searched for): the caller must commit.
    """
    query = list_query(principal=principal, filters=filters, today=now.date()).add_columns(
        Advisory.id, Advisory.tier, Advisory.tlp
    )
    if cursor is not None:
        query = query.where(Advisory.pk < decode_cursor(cursor))
    rows = session.execute(query.limit(min(limit, MAX_PAGE) + 1)).all()
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1][0]) if len(rows) > limit else None
    audited = [row.id for row in page if read_is_audited(row.tier, row.tlp)]
    if audited:
        record_by(
            session,
            principal,
            action="advisory.list",
            target=None,
            detail={"ids": audited},
            now=now,
        )
    return [row.document for row in page], next_cursor
