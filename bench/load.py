"""Writing the benchmark's advisories: through the domain write path, and a bulk filler.

The load rate is measured through the real write path: per batch, one transaction that
allocates the batch's change-sequence range with ``allocate_sequence`` and writes every revision
with ``store_revision``. That path costs a few milliseconds per advisory (several ORM flushes
and statements each), so 100,000 advisories on both backends would not fit the benchmark's
five minutes: after ``real_seconds`` the rest is written by ``fill_batch``, which stores the
very same rows with one multi-row INSERT per table. ``check_filler`` proves the two write
identical rows before any load, so the data set the lists are timed on does not depend on the
path that wrote it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.data import ORGS, READER_EMAIL, GeneratedAdvisory, generate
from service.access.service import add_org, add_user, create_token
from service.advisories.models import (
    Advisory,
    AdvisoryAudience,
    AdvisoryCategory,
    AdvisoryRevision,
    ChangeCounter,
)
from service.advisories.service import (
    NewRevision,
    _parse_time,
    _search_text,
    allocate_sequence,
    store_revision,
)
from service.db import Base, transaction


@dataclass(frozen=True)
class Members:
    org_ids: dict[str, str]  # by name
    user_ids: dict[str, str]  # by email
    reader_token: str


@dataclass
class LoadStats:
    advisories: int = 0
    revisions: int = 0
    real_advisories: int = 0  # written through store_revision
    real_revisions: int = 0
    real_seconds: float = 0.0
    fill_seconds: float = 0.0
    generate_seconds: float = 0.0
    batches: list[float] = field(default_factory=list)  # seconds per real-path batch

    @property
    def real_rate(self) -> float:
        return self.real_advisories / self.real_seconds if self.real_seconds else 0.0


def make_members(factory: sessionmaker[Session], now: datetime) -> Members:
    """The orgs and users, and a token for the vetted reader."""
    org_ids: dict[str, str] = {}
    user_ids: dict[str, str] = {}
    with transaction(factory) as session:
        for spec in ORGS:
            vetted_until = (now + timedelta(days=365)).date() if spec.vetted else None
            org = add_org(session, name=spec.name, kind=spec.kind, vetted_until=vetted_until)
            org_ids[spec.name] = org.id
            for email, role in spec.users:
                user_ids[email] = add_user(session, email=email, org=org, role=role).id
        token = create_token(session, email=READER_EMAIL, now=now, ttl=timedelta(days=1))
    return Members(org_ids, user_ids, token)


def _batches(items: Iterator[GeneratedAdvisory], size: int) -> Iterator[list[GeneratedAdvisory]]:
    batch: list[GeneratedAdvisory] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_batch(
    session: Session, chunk: list[GeneratedAdvisory], members: Members, *, now: datetime
) -> None:
    """The domain write path: one sequence range for the batch, ``store_revision`` each."""
    revisions = sum(len(item.revisions) for item in chunk)
    seq = allocate_sequence(session, revisions) - revisions + 1
    for item in chunk:
        head: Advisory | None = None
        contributor_id = members.org_ids[item.contributor_org]
        author_id = members.user_ids[item.author_email]
        for document in item.revisions:
            new = NewRevision(document, contributor_id, author_id)
            head = store_revision(session, new, seq=seq, head=head, now=now)
            seq += 1


def _document_text(document: dict[str, Any]) -> str:
    """RFC 8785 text for these documents (ASCII keys, no floats), at C speed.

    ``check_filler`` compares it with ``canonical_text`` on real documents.
    """
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def fill_batch(
    session: Session, chunk: list[GeneratedAdvisory], members: Members, *, now: datetime
) -> None:
    """The rows ``write_batch`` would store, written with one multi-row INSERT per table."""
    revisions = sum(len(item.revisions) for item in chunk)
    seq = allocate_sequence(session, revisions) - revisions + 1
    heads: list[dict[str, Any]] = []
    revision_rows: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(chunk):
        contributor_id = members.org_ids[item.contributor_org]
        author_id = members.user_ids[item.author_email]
        for document in item.revisions:
            revision_rows.append(
                (
                    index,
                    {
                        "seq": seq,
                        "revision": document["revision"],
                        "status": document["status"],
                        "tier": document["tier"],
                        "tlp": document["tlp"],
                        "document": _document_text(document),
                        "author_user_id": author_id,
                        "created_at": now,
                    },
                )
            )
            seq += 1
        doc = item.revisions[-1]
        heads.append(
            {
                "id": doc["id"],
                "origin": doc["origin"],
                "created_at": now,
                "revision": doc["revision"],
                "status": doc["status"],
                "tier": doc["tier"],
                "tlp": doc["tlp"],
                "country": doc["subject"]["country"],
                "risk": doc["risk"],
                "subject_name": doc["subject"]["name"],
                "search_text": _search_text(doc),
                "contributor_org": doc["contributor_org"],
                "contributor_org_id": contributor_id,
                "current_seq": seq - 1,
                "updated_at": _parse_time(doc["updated_at"]) or now,
                "published_at": _parse_time(doc.get("published_at")),
            }
        )
    # Keys taken in order after the highest, as the table's own sequence would hand them out.
    first_pk = (session.scalar(select(func.max(Advisory.pk))) or 0) + 1
    pks = list(range(first_pk, first_pk + len(heads)))
    session.execute(
        insert(_table(Advisory)),
        [{"pk": pk, **head} for pk, head in zip(pks, heads, strict=True)],
    )
    session.execute(
        insert(_table(AdvisoryRevision)),
        [{**row, "advisory_pk": pks[index]} for index, row in revision_rows],
    )
    categories = [
        {"advisory_pk": pk, "category": c}
        for pk, item in zip(pks, chunk, strict=True)
        for c in set(item.revisions[-1]["categories"])
    ]
    audience = [
        {"advisory_pk": pk, "org_id": o}
        for pk, item in zip(pks, chunk, strict=True)
        for o in set(item.revisions[-1]["audience"])
    ]
    if categories:
        session.execute(insert(_table(AdvisoryCategory)), categories)
    if audience:
        session.execute(insert(_table(AdvisoryAudience)), audience)


def _advance_key_sequence(factory: sessionmaker[Session]) -> None:
    """After explicit keys, PostgreSQL's sequence must hand out keys above them."""
    with transaction(factory) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('advisories', 'pk'), max(pk)) "
                    "FROM advisories"
                )
            )


def load(
    factory: sessionmaker[Session],
    members: Members,
    *,
    count: int,
    batch: int,
    real_seconds: float,
    now: datetime,
) -> LoadStats:
    """Write ``count`` advisories: through ``store_revision`` for ``real_seconds``, then filled."""
    stats = LoadStats()
    chunks = _batches(generate(count, members.org_ids), batch)
    while True:
        started = time.perf_counter()
        chunk = next(chunks, None)
        stats.generate_seconds += time.perf_counter() - started
        if chunk is None:
            _advance_key_sequence(factory)
            return stats
        revisions = sum(len(item.revisions) for item in chunk)
        real = stats.real_seconds < real_seconds
        started = time.perf_counter()
        with transaction(factory) as session:
            (write_batch if real else fill_batch)(session, chunk, members, now=now)
        elapsed = time.perf_counter() - started
        if real:
            stats.real_seconds += elapsed
            stats.real_advisories += len(chunk)
            stats.real_revisions += revisions
            stats.batches.append(elapsed)
        else:
            stats.fill_seconds += elapsed
        stats.advisories += len(chunk)
        stats.revisions += revisions


def _snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every advisory row, advisory keys made relative (PostgreSQL does not roll them back)."""
    first = session.scalar(select(Advisory.pk).order_by(Advisory.pk).limit(1)) or 0
    snapshot: dict[str, list[tuple[Any, ...]]] = {
        "counter": [tuple(r) for r in session.execute(select(ChangeCounter.value))]
    }
    for model, key in (
        (Advisory, Advisory.pk),
        (AdvisoryRevision, AdvisoryRevision.seq),
        (AdvisoryCategory, AdvisoryCategory.advisory_pk),
        (AdvisoryAudience, AdvisoryAudience.advisory_pk),
    ):
        table = _table(model)
        rows = []
        for row in session.execute(select(table).order_by(key, *table.primary_key.columns)):
            values = row._asdict()
            for name in ("pk", "advisory_pk"):
                if name in values:
                    values[name] -= first
            rows.append(tuple(sorted(values.items())))
        snapshot[table.name] = sorted(rows)
    return snapshot


def check_filler(
    factory: sessionmaker[Session], members: Members, *, count: int, now: datetime
) -> None:
    """Raise unless ``fill_batch`` writes exactly the rows ``write_batch`` does.

    Both run on the benchmark's database inside transactions that are rolled back.
    """
    chunk = list(generate(count, members.org_ids))
    snapshots = []
    for writer in (write_batch, fill_batch):
        with factory() as session:
            session.begin()
            writer(session, chunk, members, now=now)
            session.flush()
            session.expunge_all()
            snapshots.append(_snapshot(session))
            session.rollback()
    real, filled = snapshots
    for table in real:
        if len(real[table]) != len(filled[table]):
            raise RuntimeError(
                f"the bulk filler writes {len(filled[table])} rows in {table}, "
                f"store_revision {len(real[table])}"
            )
        for a, b in zip(real[table], filled[table], strict=True):
            if a != b:
                raise RuntimeError(
                    f"the bulk filler does not write what store_revision writes in {table}: "
                    f"{b} != {a}"
                )
