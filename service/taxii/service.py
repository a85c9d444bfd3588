"""TAXII 2.1 use cases: collections of STIX objects, paged, filtered, only what the caller may see.

Every collection is a view of the advisories the access policy lets the caller see
(``visible_clause`` for the current revisions, ``can_read`` for each older one) that are
published or withdrawn and TLP:CLEAR or TLP:GREEN (``SERVED_TLP``). Each advisory revision is
one version of two STIX objects (``service.taxii.stix``); each collection starts with the fixed
objects they refer to (the node's identity, the extension definition, the TLP markings).

Objects page in a stable order, the node's change sequence: an object version's position is
(the revision's sequence number, its slot in the revision), the fixed objects sitting at
sequence 0. ``next`` is that position, opaque to the client. ``date_added`` is when the node
stored the revision. Like every use case, these take the session and principal as keyword
arguments and only flush: reads of government-tier advisories are recorded in the audit log, as
``/v1/advisories`` records them, and the caller commits.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from service.access.policy import AdvisoryFacts, can_read, visible_clause
from service.access.principal import Principal
from service.advisories.models import Advisory, AdvisoryRevision
from service.advisories.service import read_is_audited
from service.audit.service import record_by
from service.errors import InvalidInput, NotFound
from service.taxii.stix import (
    FIXED_OBJECTS_CREATED,
    SERVED_TLP,
    STIX_MEDIA_TYPE,
    StixNode,
    advisory_objects,
    fixed_objects,
    parse_timestamp,
    stix_timestamp,
)

__all__ = [
    "COLLECTIONS",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Collection",
    "Entry",
    "ObjectFilters",
    "Page",
    "get_collection",
    "get_manifest",
    "get_object",
    "get_objects",
    "get_versions",
    "parse_filters",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
RELEASED = ("published", "withdrawn")
_VERSION_WORDS = frozenset({"first", "last", "all"})
_MAX_FILTER_VALUES = 100
_NEXT_PREFIX = "x1:"
_MAX_POSITION = 2**63 - 1
# The two objects of an advisory revision, in their order within it.
_SLOTS = ("identity", "report")
_MAX_SLOT = 99


@dataclass(frozen=True)
class Collection:
    """A TAXII collection: the caller's visible advisories, all of them or one tier's."""

    id: str
    alias: str
    title: str
    description: str
    tier: str | None = None

    def resource(self) -> dict[str, Any]:
        """The TAXII collection resource."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "alias": self.alias,
            "can_read": True,
            "can_write": False,
            "media_types": [STIX_MEDIA_TYPE],
        }


_SEEN = (
    "published and withdrawn advisories marked TLP:CLEAR or TLP:GREEN that the caller may see "
    "(anonymous callers: TLP:CLEAR only). Amber and above are never served over TAXII."
)
COLLECTIONS: tuple[Collection, ...] = (
    Collection(
        "dea497bf-5fce-4b90-9d3b-5e660164a05b",
        "advisories",
        "Partner-risk advisories",
        f"Every tier: {_SEEN}",
    ),
    Collection(
        "5354ed73-3092-42bd-85f3-d7f2a0e0054e",
        "academia",
        "Academia-led advisories",
        f"Academia tier only: {_SEEN}",
        "academia",
    ),
    Collection(
        "f336bc14-e0ae-4202-ba3c-6a1fce6efa6e",
        "government",
        "Government-contributed advisories",
        f"Government tier only: {_SEEN}",
        "government",
    ),
)


def get_collection(collection_id: str) -> Collection:
    """The collection with this id, or ``NotFound``."""
    for collection in COLLECTIONS:
        if collection.id == collection_id:
            return collection
    raise NotFound(f"No collection {collection_id}.")


@dataclass(frozen=True)
class ObjectFilters:
    """The TAXII filters: ``match[id|type|version|spec_version]`` and ``added_after``."""

    ids: frozenset[str] | None = None
    types: frozenset[str] | None = None
    versions: frozenset[str] = frozenset({"last"})
    timestamps: frozenset[datetime] = frozenset()
    spec_versions: frozenset[str] | None = None
    added_after: datetime | None = None

    @property
    def only_last(self) -> bool:
        return self.versions == {"last"} and not self.timestamps


def _values(name: str, text: str | None) -> frozenset[str] | None:
    if text is None:
        return None
    values = [v.strip() for v in text.split(",")]
    if not all(values):
        raise InvalidInput.for_field(name, "has an empty value in its comma-separated list")
    if len(values) > _MAX_FILTER_VALUES:
        raise InvalidInput.for_field(name, f"takes at most {_MAX_FILTER_VALUES} values")
    return frozenset(values)


def _timestamp(name: str, text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except (ValueError, OverflowError):
        raise InvalidInput.for_field(name, f"{text!r} is not an RFC 3339 timestamp") from None


def parse_filters(
    *,
    match_id: str | None = None,
    match_type: str | None = None,
    match_version: str | None = None,
    match_spec_version: str | None = None,
    added_after: str | None = None,
) -> ObjectFilters:
    """The filters of one request; ``InvalidInput`` naming the parameter for a bad value.

    ``match[version]`` takes ``first``, ``last``, ``all`` and ``modified`` timestamps, any
    mix, comma-separated; it defaults to ``last``.
    """
    versions = _values("match[version]", match_version) or frozenset({"last"})
    words = versions & _VERSION_WORDS
    timestamps = frozenset(
        _timestamp("match[version]", value) for value in versions - _VERSION_WORDS
    )
    return ObjectFilters(
        ids=_values("match[id]", match_id),
        types=_values("match[type]", match_type),
        versions=words,
        timestamps=timestamps,
        spec_versions=_values("match[spec_version]", match_spec_version),
        added_after=None if added_after is None else _timestamp("added_after", added_after),
    )


Position = tuple[int, int]


def encode_next(position: Position) -> str:
    """The opaque ``next`` token for the page after ``position``."""
    text = f"{_NEXT_PREFIX}{position[0]}.{position[1]}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_next(token: str) -> Position:
    """The position inside ``token``; ``InvalidInput`` naming ``next`` for anything else."""
    refused = InvalidInput.for_field("next", "is not a next token this node issued")
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (ValueError, binascii.Error, UnicodeError):
        raise refused from None
    seq, dot, slot = text.removeprefix(_NEXT_PREFIX).partition(".")
    if not text.startswith(_NEXT_PREFIX) or not dot or not seq.isdigit() or not slot.isdigit():
        raise refused
    if int(seq) > _MAX_POSITION or int(slot) > _MAX_SLOT:
        raise refused
    return int(seq), int(slot)


@dataclass(frozen=True)
class Entry:
    """One version of one STIX object in a collection, where it sits and when it was added."""

    position: Position
    date_added: datetime
    object: dict[str, Any]
    advisory_id: str | None = None
    audited: bool = False

    @property
    def version(self) -> str:
        """The version's ``modified`` (``created`` for objects that are never revised)."""
        return str(self.object.get("modified") or self.object["created"])

    def manifest_record(self) -> dict[str, Any]:
        """The TAXII manifest record of this version."""
        return {
            "id": self.object["id"],
            "date_added": stix_timestamp(self.date_added),
            "version": self.version,
            "media_type": STIX_MEDIA_TYPE,
        }


@dataclass(frozen=True)
class Page:
    """One page of entries, and the token for the next one when ``more``."""

    entries: list[Entry] = field(default_factory=list)
    more: bool = False
    next: str | None = None

    @property
    def date_added_first(self) -> datetime | None:
        return self.entries[0].date_added if self.entries else None

    @property
    def date_added_last(self) -> datetime | None:
        return self.entries[-1].date_added if self.entries else None


def _visible_heads(
    principal: Principal, collection: Collection, today: date
) -> list[ColumnElement[bool]]:
    """Advisories whose current revision the caller may see and TAXII may serve."""
    clauses = [
        visible_clause(principal, today=today),
        Advisory.status.in_(RELEASED),
        Advisory.tlp.in_(SERVED_TLP),
    ]
    if collection.tier is not None:
        clauses.append(Advisory.tier == collection.tier)
    return clauses


def _revision_visible(
    principal: Principal, facts: tuple[str, str, str, str | None], today: date
) -> bool:
    """Whether one revision may be served: released, open TLP, and readable by the caller.

    ``facts`` are the revision's status, tier and TLP, and the advisory's contributing org.
    """
    status, tier, tlp, contributor_org_id = facts
    if status not in RELEASED or tlp not in SERVED_TLP:
        return False
    # Audience never matters for clear and green, the only levels that get this far.
    advisory = AdvisoryFacts(status, tier, tlp, contributor_org_id, frozenset())
    return can_read(principal, advisory, today=today)


@dataclass(frozen=True)
class _Scope:
    """Everything a scan needs besides where it starts."""

    principal: Principal
    node: StixNode
    collection: Collection
    filters: ObjectFilters
    today: date


def _fixed_entries(scope: _Scope) -> list[Entry]:
    filters = scope.filters
    if filters.added_after is not None and filters.added_after >= FIXED_OBJECTS_CREATED:
        return []
    entries = []
    for slot, obj in enumerate(fixed_objects(scope.node)):
        if filters.ids is not None and obj["id"] not in filters.ids:
            continue
        if filters.types is not None and obj["type"] not in filters.types:
            continue
        # Never revised: its one version is the first, the last and all of them.
        version = parse_timestamp(obj.get("modified") or obj["created"])
        if not (filters.versions or version in filters.timestamps):
            continue
        entries.append(Entry((0, slot), FIXED_OBJECTS_CREATED, obj))
    return entries


def _advisory_pks(session: Session, scope: _Scope, ids: Iterable[str]) -> set[int]:
    """The visible advisories that the STIX ``ids`` belong to."""
    wanted = {i for i in ids if i.startswith(tuple(f"{t}--" for t in _SLOTS))}
    if not wanted:
        return set()
    node = scope.node
    rows = session.execute(
        select(Advisory.pk, Advisory.id).where(
            *_visible_heads(scope.principal, scope.collection, scope.today)
        )
    )
    return {
        pk
        for pk, advisory_id in rows
        if node.subject_id(advisory_id) in wanted or node.report_id(advisory_id) in wanted
    }


def _first_seqs(session: Session, scope: _Scope, pks: Iterable[int]) -> dict[int, int]:
    """Per advisory, the sequence number of its first revision the caller may be served."""
    rows = session.execute(
        select(
            AdvisoryRevision.advisory_pk,
            AdvisoryRevision.seq,
            AdvisoryRevision.status,
            AdvisoryRevision.tier,
            AdvisoryRevision.tlp,
            Advisory.contributor_org_id,
        )
        .join(Advisory, Advisory.pk == AdvisoryRevision.advisory_pk)
        .where(AdvisoryRevision.advisory_pk.in_(list(set(pks))))
        .order_by(AdvisoryRevision.seq)
    )
    first: dict[int, int] = {}
    for row in rows:
        facts = (row.status, row.tier, row.tlp, row.contributor_org_id)
        if row.advisory_pk not in first and _revision_visible(scope.principal, facts, scope.today):
            first[row.advisory_pk] = row.seq
    return first


def _selected(
    filters: ObjectFilters, *, seq: int, current_seq: int, first: int | None, modified: datetime
) -> bool:
    """Whether ``match[version]`` selects the version a revision makes."""
    versions = filters.versions
    return (
        "all" in versions
        or ("last" in versions and seq == current_seq)
        or ("first" in versions and seq == first)
        or modified in filters.timestamps
    )


def _scan(session: Session, scope: _Scope, *, after: Position, want: int) -> Page:
    """Up to ``want`` entries after ``after``, in position order, and whether more follow."""
    filters = scope.filters
    found: list[Entry] = []

    def page() -> Page:
        if len(found) > want:
            kept = found[:want]
            return Page(kept, more=True, next=encode_next(kept[-1].position))
        return Page(found)

    if filters.spec_versions is not None and "2.1" not in filters.spec_versions:
        return page()
    if after[0] == 0:
        found.extend(e for e in _fixed_entries(scope) if e.position > after)
        if len(found) > want:
            return page()
    slots = [s for s in _SLOTS if filters.types is None or s in filters.types]
    if not slots:
        return page()
    clauses = _visible_heads(scope.principal, scope.collection, scope.today)
    if filters.ids is not None:
        pks = _advisory_pks(session, scope, filters.ids)
        if not pks:
            return page()
        clauses.append(Advisory.pk.in_(sorted(pks)))
    if filters.added_after is not None:
        clauses.append(AdvisoryRevision.created_at > filters.added_after)
    joined = (
        AdvisoryRevision.seq == Advisory.current_seq
        if filters.only_last
        else AdvisoryRevision.advisory_pk == Advisory.pk
    )
    query = (
        select(
            AdvisoryRevision.seq,
            AdvisoryRevision.status,
            AdvisoryRevision.tier,
            AdvisoryRevision.tlp,
            AdvisoryRevision.created_at,
            AdvisoryRevision.document,
            AdvisoryRevision.advisory_pk,
            Advisory.current_seq,
            Advisory.contributor_org_id,
        )
        .join(Advisory, joined)
        .where(*clauses)
        .order_by(AdvisoryRevision.seq)
    )
    # Two objects a revision: enough rows for the page and the one after it, in most cases.
    batch = min(want // len(slots) + 2, MAX_LIMIT + 2)
    start = max(after[0], 1)
    while True:
        rows = session.execute(query.where(AdvisoryRevision.seq >= start).limit(batch)).all()
        first = (
            _first_seqs(session, scope, (row.advisory_pk for row in rows))
            if "first" in filters.versions
            else {}
        )
        for row in rows:
            facts = (row.status, row.tier, row.tlp, row.contributor_org_id)
            if not _revision_visible(scope.principal, facts, scope.today):
                continue
            document = json.loads(row.document)
            modified = parse_timestamp(document["updated_at"])
            selected = _selected(
                filters,
                seq=row.seq,
                current_seq=row.current_seq,
                first=first.get(row.advisory_pk),
                modified=modified,
            )
            if not selected:
                continue
            objects = dict(zip(_SLOTS, advisory_objects(scope.node, document), strict=True))
            audited = read_is_audited(row.tier, row.tlp)
            for slot, name in enumerate(_SLOTS):
                obj = objects[name]
                position = (row.seq, slot)
                if position <= after or name not in slots:
                    continue
                if filters.ids is not None and obj["id"] not in filters.ids:
                    continue
                found.append(Entry(position, row.created_at, obj, document["id"], audited))
                if len(found) > want:
                    return page()
        if len(rows) < batch:
            return page()
        start = rows[-1].seq + 1


def _audit_shown(
    session: Session,
    principal: Principal,
    entries: Sequence[Entry],
    collection: Collection,
    now: datetime,
) -> None:
    ids = list(dict.fromkeys(e.advisory_id for e in entries if e.audited and e.advisory_id))
    if ids:
        record_by(
            session,
            principal,
            action="advisory.taxii",
            target=None,
            detail={"collection": collection.alias, "ids": ids},
            now=now,
        )


def _after(next_token: str | None) -> Position:
    return (0, -1) if next_token is None else decode_next(next_token)


def get_objects(
    session: Session,
    *,
    principal: Principal,
    node: StixNode,
    collection_id: str,
    filters: ObjectFilters,
    limit: int,
    next_token: str | None,
    now: datetime,
) -> Page:
    """A page of the collection's objects (by default the latest version of each)."""
    collection = get_collection(collection_id)
    after = _after(next_token)
    scope = _Scope(principal, node, collection, filters, now.date())
    page = _scan(session, scope, after=after, want=min(limit, MAX_LIMIT))
    _audit_shown(session, principal, page.entries, collection, now)
    return page


def get_manifest(
    session: Session,
    *,
    principal: Principal,
    node: StixNode,
    collection_id: str,
    filters: ObjectFilters,
    limit: int,
    next_token: str | None,
    now: datetime,
) -> Page:
    """A page of the collection's manifest: ids, versions and dates, never content."""
    collection = get_collection(collection_id)
    scope = _Scope(principal, node, collection, filters, now.date())
    return _scan(session, scope, after=_after(next_token), want=min(limit, MAX_LIMIT))


def _known_object(session: Session, scope: _Scope, object_id: str) -> None:
    """Raise ``NotFound`` unless the object is in the collection for this caller."""
    fixed = {obj["id"] for obj in fixed_objects(scope.node)}
    if object_id not in fixed and not _advisory_pks(session, scope, [object_id]):
        raise NotFound(f"No object {object_id} in this collection.")


def get_object(
    session: Session,
    *,
    principal: Principal,
    node: StixNode,
    collection_id: str,
    object_id: str,
    filters: ObjectFilters,
    limit: int,
    next_token: str | None,
    now: datetime,
) -> Page:
    """The versions of one object that the filters select (by default its latest)."""
    collection = get_collection(collection_id)
    after = _after(next_token)
    own = ObjectFilters(
        ids=frozenset({object_id}),
        versions=filters.versions,
        timestamps=filters.timestamps,
        spec_versions=filters.spec_versions,
        added_after=filters.added_after,
    )
    scope = _Scope(principal, node, collection, own, now.date())
    _known_object(session, scope, object_id)
    page = _scan(session, scope, after=after, want=min(limit, MAX_LIMIT))
    _audit_shown(session, principal, page.entries, collection, now)
    return page


def get_versions(
    session: Session,
    *,
    principal: Principal,
    node: StixNode,
    collection_id: str,
    object_id: str,
    filters: ObjectFilters,
    limit: int,
    next_token: str | None,
    now: datetime,
) -> Page:
    """Every version of one object the caller may be served, oldest first."""
    collection = get_collection(collection_id)
    own = ObjectFilters(
        ids=frozenset({object_id}),
        versions=frozenset({"all"}),
        spec_versions=filters.spec_versions,
        added_after=filters.added_after,
    )
    scope = _Scope(principal, node, collection, own, now.date())
    _known_object(session, scope, object_id)
    return _scan(session, scope, after=_after(next_token), want=min(limit, MAX_LIMIT))
