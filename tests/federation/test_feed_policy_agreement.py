"""The feed's SQL (``feed_clause``) and the travel rule (``may_travel``) agree: one policy.

Hypothesis draws sharing groups over a handful of nodes, this node and the peer asking, and a
batch of revisions (several revisions of one advisory among them) of any origin, status, TLP
and scope. Each example stores the revisions with ``store_revisions``, the write path every
writer shares, asks the real database which of them ``feed_clause`` serves to the peer, and
compares that with ``may_travel(sender=this node, receiver=the peer)`` on each revision's
document. The example's transaction is rolled back, so examples never see each other's rows.

``feed_page`` is then paged through with small limits: every record the rule allows comes out
once, in change order, verifiable with its origin's key, and ``more`` is true exactly when
another page holds something.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from federation.keys import KeyRing, NodeKey, PinnedKeys
from federation.policy import Groups, RecordFacts, may_travel
from federation.signing import SignedRecord, sign_document, verify
from service.advisories.models import AdvisoryRevision
from service.advisories.service import NewRevision, allocate_sequence, store_revisions
from service.db import utcnow
from service.peering.service import add_group, feed_clause, feed_page

NODES = ("ca", "uk", "au", "se", "xx")
GROUP_NAMES = ("five-eyes", "nordic", "pair")
STATUSES = ("draft", "published", "withdrawn")
TLPS = ("clear", "green", "amber", "amber+strict", "red")
STAMP = "2026-03-01T12:00:00Z"
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ORIGIN_KEYS = {node: NodeKey.generate(node, f"{node}-2026-01", not_before=NOW) for node in NODES}


@dataclass(frozen=True)
class Drawn:
    """One revision as drawn; ``advisory`` picks which of a few advisories it revises."""

    advisory: int
    origin: str
    status: str
    tlp: str
    scope: tuple[str, ...]
    signed_here: bool
    """For this node's own revisions: signed when written (else the feed signs when serving)."""


def _subset(names: tuple[str, ...]) -> st.SearchStrategy[frozenset[str]]:
    """Each name in or out with even odds (``st.frozensets`` favours tiny sets)."""
    flags = st.tuples(*(st.booleans() for _ in names))
    return flags.map(lambda chosen: frozenset(n for n, c in zip(names, chosen, strict=True) if c))


drawn_revision = st.builds(
    Drawn,
    advisory=st.integers(0, 3),
    origin=st.sampled_from(NODES),
    status=st.sampled_from(STATUSES),
    tlp=st.sampled_from(TLPS),
    scope=_subset((*GROUP_NAMES, "unknown")).map(lambda names: tuple(sorted(names))),
    signed_here=st.booleans(),
)
drawn_groups = st.fixed_dictionaries({name: _subset(NODES) for name in GROUP_NAMES})


FIVE_EYES = {
    "five-eyes": frozenset({"ca", "uk", "au"}),
    "nordic": frozenset({"ca", "se"}),
    "pair": frozenset(),
}


def _documents(batch: list[Drawn]) -> list[dict[str, Any]]:
    """Revision documents numbered per advisory; an advisory keeps the origin it was made by
    (a node never holds another origin's revision of it)."""
    ids = [str(uuid.uuid4()) for _ in range(4)]
    origins: dict[int, str] = {}
    revisions: dict[int, int] = {}
    documents = []
    for drawn in batch:
        origin = origins.setdefault(drawn.advisory, drawn.origin)
        revisions[drawn.advisory] = revisions.get(drawn.advisory, 0) + 1
        documents.append(
            {
                "id": ids[drawn.advisory],
                "origin": origin,
                "revision": revisions[drawn.advisory],
                "status": drawn.status,
                "tier": "academia",
                "tlp": drawn.tlp,
                "audience": [],
                "scope": list(drawn.scope),
                "subject": {"name": f"Subject {drawn.advisory}", "country": "CN"},
                "risk": "high",
                "confidence": "moderate",
                "categories": [],
                "recommended_action": "due_diligence",
                "summary": f"Drawn by hypothesis: {drawn}",
                "contributor_org": "a member",
                "published_at": None if drawn.status == "draft" else STAMP,
                "updated_at": STAMP,
            }
        )
    return documents


def _store(
    session: Session,
    batch: list[Drawn],
    documents: list[dict[str, Any]],
    self_id: str,
    keys: Mapping[str, NodeKey],
) -> list[int]:
    """Store the revisions as this node would hold them; their sequence numbers, in order.

    Other origins' revisions arrive signed by their origin; this node's own are signed with
    its key when written, or (older rows) not yet.
    """
    new = []
    for drawn, document in zip(batch, documents, strict=True):
        origin = document["origin"]
        if origin != self_id or drawn.signed_here:
            new.append(NewRevision(document, None, None, sign_document(document, keys[origin])))
        else:
            new.append(NewRevision(document, None, None))
    last = allocate_sequence(session, len(new))
    first = last - len(new) + 1
    store_revisions(session, new, first_seq=first, now=utcnow())
    return list(range(first, last + 1))


def _expected(
    documents: list[dict[str, Any]], seqs: list[int], *, self_id: str, peer_id: str, groups: Groups
) -> list[int]:
    return [
        seq
        for seq, document in zip(seqs, documents, strict=True)
        if may_travel(RecordFacts.of(document), sender=self_id, receiver=peer_id, groups=groups)
    ]


def _describe(documents: list[dict[str, Any]], seqs: list[int], wrong: set[int]) -> str:
    return "\n".join(
        f"seq {seq}: origin {d['origin']} {d['status']} {d['tlp']} scope {d['scope']}"
        for seq, d in zip(seqs, documents, strict=True)
        if seq in wrong
    )


EXAMPLE_SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def test_feed_clause_serves_exactly_what_may_travel(
    session_factory: sessionmaker[Session],
) -> None:
    @EXAMPLE_SETTINGS
    @given(
        members=drawn_groups,
        self_id=st.sampled_from(NODES),
        peer_id=st.sampled_from(NODES),
        batch=st.lists(drawn_revision, min_size=1, max_size=10),
    )
    # The cases that matter most, whatever hypothesis draws: a relay of an origin outside the
    # group, a relay inside it, the peer's own record, an unsigned own revision, a group that
    # holds the origin and this node but not the peer.
    @example(
        members=FIVE_EYES,
        self_id="ca",
        peer_id="uk",
        batch=[
            Drawn(0, "xx", "published", "green", ("five-eyes",), True),
            Drawn(1, "au", "published", "amber", ("five-eyes",), True),
            Drawn(2, "uk", "withdrawn", "clear", ("five-eyes",), True),
            Drawn(3, "ca", "published", "green", ("five-eyes", "nordic"), False),
            Drawn(3, "ca", "published", "green", ("nordic",), False),
        ],
    )
    @example(
        members=FIVE_EYES,
        self_id="ca",
        peer_id="se",
        batch=[
            Drawn(0, "ca", "published", "green", ("nordic",), True),
            Drawn(1, "au", "published", "green", ("five-eyes", "nordic"), True),
        ],
    )
    def agree(
        members: dict[str, frozenset[str]], self_id: str, peer_id: str, batch: list[Drawn]
    ) -> None:
        if peer_id == self_id:
            peer_id = NODES[(NODES.index(self_id) + 1) % len(NODES)]  # no node peers itself
        groups = Groups.of(members)
        documents = _documents(batch)
        with session_factory() as session:
            try:
                seqs = _store(session, batch, documents, self_id, ORIGIN_KEYS)
                clause = feed_clause(self_id=self_id, peer_id=peer_id, groups=groups)
                served = (
                    set()
                    if clause is None
                    else set(
                        session.scalars(
                            select(AdvisoryRevision.seq).where(
                                AdvisoryRevision.seq.in_(seqs), clause
                            )
                        )
                    )
                )
            finally:
                session.rollback()
        expected = set(_expected(documents, seqs, self_id=self_id, peer_id=peer_id, groups=groups))
        wrong = served ^ expected
        assert not wrong, (
            f"{self_id} serving {peer_id}, groups {members}: feed_clause serves "
            f"{sorted(served)}, may_travel allows {sorted(expected)}\n"
            + _describe(documents, seqs, wrong)
        )

    agree()


def _page_through(
    session: Session, ring: KeyRing, peer_id: str, limit: int
) -> tuple[list[dict[str, str]], list[tuple[int, bool]]]:
    """Every record of the feed, and (records, more) per page; stops at the first more=False."""
    records: list[dict[str, str]] = []
    pages: list[tuple[int, bool]] = []
    cursor = None
    for _ in range(200):
        page = feed_page(session, ring=ring, peer_id=peer_id, after=cursor, limit=limit)
        assert len(page.records) <= limit
        records.extend(page.records)
        pages.append((len(page.records), page.more))
        if page.records:
            assert page.next is not None
            assert page.next != cursor
        cursor = page.next
        if not page.more:
            # Nothing is left after the last page, and asking again changes nothing.
            again = feed_page(session, ring=ring, peer_id=peer_id, after=cursor, limit=limit)
            assert again.records == []
            assert not again.more
            return records, pages
    raise AssertionError("the feed never ended")


def test_feed_pages_cover_every_allowed_revision_once_in_order(
    session_factory: sessionmaker[Session],
) -> None:
    ring = KeyRing.create("ca", now=NOW)
    # This node's own revisions are signed with its ring's key (when written, or when served).
    signers = {**ORIGIN_KEYS, "ca": ring.current}
    keys = PinnedKeys(key.public for key in signers.values())

    @EXAMPLE_SETTINGS
    @given(
        members=drawn_groups,
        peer_id=st.sampled_from(NODES[1:]),
        batch=st.lists(drawn_revision, max_size=25),
        limit=st.integers(1, 8),
    )
    def pages(
        members: dict[str, frozenset[str]], peer_id: str, batch: list[Drawn], limit: int
    ) -> None:
        groups = Groups.of(members)
        documents = _documents(batch)
        with session_factory() as session:
            try:
                for name, ids in members.items():
                    if ids:  # a group has members (an empty one holds nobody anyway)
                        add_group(session, name=name, members=sorted(ids), now=NOW)
                seqs = _store(session, batch, documents, "ca", signers) if batch else []
                records, shape = _page_through(session, ring, peer_id, limit)
            finally:
                session.rollback()
        expected = _expected(documents, seqs, self_id="ca", peer_id=peer_id, groups=groups)
        by_seq = dict(zip(seqs, documents, strict=True))
        served = [verify(SignedRecord.from_json(r), keys).document for r in records]
        assert served == [by_seq[seq] for seq in expected]
        # more: true exactly when another page holds something.
        for (_, more), (following, _) in itertools.pairwise(shape):
            assert more
            assert following > 0
        assert not shape[-1][1]
        assert all(count == limit for count, _ in shape[:-1])

    pages()
