"""Writing the benchmark's advisories through the domain write path.

Every advisory is written as a node writes it: per batch, one transaction that reserves the
batch's change-sequence range with ``allocate_sequence`` and writes all its revisions (an
advisory's first revision and any later one, in order) with ``store_revisions``. The load rate
is measured over all the advisories; generating the documents is timed apart and not counted.
Only public functions of ``service`` are used, so the benchmark measures what the node runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bench.data import ORGS, READER_EMAIL, GeneratedAdvisory, generate
from service.access.service import add_org, add_user, create_token
from service.advisories.service import NewRevision, allocate_sequence, store_revisions
from service.db import transaction


@dataclass(frozen=True)
class Members:
    org_ids: dict[str, str]  # by name
    user_ids: dict[str, str]  # by email
    reader_token: str


@dataclass
class LoadStats:
    advisories: int = 0
    revisions: int = 0
    seconds: float = 0.0  # in the write transactions, commits included
    generate_seconds: float = 0.0
    batches: list[float] = field(default_factory=list)  # seconds per batch transaction

    @property
    def rate(self) -> float:
        """Advisories per second over the whole load."""
        return self.advisories / self.seconds if self.seconds else 0.0


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


def new_revisions(chunk: list[GeneratedAdvisory], members: Members) -> list[NewRevision]:
    """Every revision of the advisories in ``chunk``, each advisory's in order."""
    return [
        NewRevision(
            document,
            members.org_ids[item.contributor_org],
            members.user_ids[item.author_email],
        )
        for item in chunk
        for document in item.revisions
    ]


def write_batch(session: Session, batch: list[NewRevision], *, now: datetime) -> None:
    """The domain write path: one sequence range for the batch, then ``store_revisions``."""
    highest = allocate_sequence(session, len(batch))
    store_revisions(session, batch, first_seq=highest - len(batch) + 1, now=now)


def load(
    factory: sessionmaker[Session],
    members: Members,
    *,
    count: int,
    batch: int,
    now: datetime,
    adapt: Callable[[GeneratedAdvisory], GeneratedAdvisory] | None = None,
) -> LoadStats:
    """Write ``count`` advisories, ``batch`` advisories per transaction; ``adapt`` changes each
    generated advisory first (the TAXII bench keeps only what TAXII serves)."""
    stats = LoadStats()
    generated = generate(count, members.org_ids)
    chunks = _batches(map(adapt, generated) if adapt else generated, batch)
    while True:
        started = time.perf_counter()
        chunk = next(chunks, None)
        stats.generate_seconds += time.perf_counter() - started
        if chunk is None:
            return stats
        started = time.perf_counter()
        revisions = new_revisions(chunk, members)
        with transaction(factory) as session:
            write_batch(session, revisions, now=now)
        elapsed = time.perf_counter() - started
        stats.seconds += elapsed
        stats.batches.append(elapsed)
        stats.advisories += len(chunk)
        stats.revisions += len(revisions)
