"""``service.audit.service`` on both backends: the chain it builds, what breaks it, and that
concurrent appends never fork it.

Tampering is done with raw SQL, as someone with database access would, and must be caught at the
first broken entry.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from federation.canonical import CanonicalJSONError, canonical_text
from service.access.principal import principal_for
from service.access.service import get_user_by_email
from service.advisories.schemas import AdvisoryCreate, ListFilters
from service.advisories.service import create_advisory, list_advisories
from service.audit.models import AuditEntry, PendingAuditEntry
from service.audit.service import (
    GENESIS_HASH,
    AuditChainBroken,
    VerifiedChain,
    entry_hash,
    hashed_text_around,
    record,
)
from service.db import audited_read, read_only, transaction, utcnow
from tests.audit.chain import TAMPERING, append_entries, entries, tamper, verified
from tests.factories import Members, advisory_payload

ANALYST = "analyst@example.edu"
READER = "reader@example.edu"


def test_an_empty_log_verifies(session_factory: sessionmaker[Session]) -> None:
    assert verified(session_factory) == VerifiedChain(count=0, head_hash=GENESIS_HASH)


def test_a_clean_log_verifies_and_each_hash_covers_its_fields(
    session_factory: sessionmaker[Session],
) -> None:
    append_entries(session_factory, 5)

    chain = verified(session_factory)

    with read_only(session_factory) as session:
        stored = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert [e.seq for e in stored] == [1, 2, 3, 4, 5]
        assert stored[0].prev_hash == GENESIS_HASH
        for before, after in itertools.pairwise(stored):
            assert after.prev_hash == before.hash
        for entry in stored:
            assert entry.at.tzinfo is not None
            assert entry.hash == entry_hash(
                seq=entry.seq,
                at=entry.at,
                actor=entry.actor,
                actor_org_id=entry.actor_org_id,
                action=entry.action,
                target=entry.target,
                detail=entry.detail,
                prev_hash=entry.prev_hash,
            )
        # The detail is stored in its canonical form.
        assert stored[0].detail == '{"note":"ünïcödé ✓","revision":1}'
        assert chain == VerifiedChain(count=5, head_hash=stored[-1].hash)


@pytest.mark.parametrize(
    ("target", "detail"),
    [
        (None, "{}"),
        ("advisory-1", '{"note":"ünïcödé ✓","revision":1}'),
        # The splice mark, quotes, backslashes and control characters inside values.
        ('"prev_hash":"","seq":0,', '{"q":"\\"prev_hash\\":\\"\\",\\"seq\\":0,"}'),
        ("tab\there\nline\u0001", "𝄞 \u2028 \\"),
    ],
)
def test_the_text_postgresql_hashes_is_the_canonical_text(target: str | None, detail: str) -> None:
    """``trex_audit_append`` hashes ``head + prev_hash + '","seq":' + seq + tail``."""
    at = datetime(2026, 11, 29, 12, 0, 0, 5, tzinfo=UTC)
    fields: dict[str, Any] = {
        "at": at,
        "actor": "analyst@example.edu",
        "actor_org_id": None,
        "action": "advisory.read",
        "target": target,
        "detail": detail,
    }
    head, tail = hashed_text_around(**fields)
    for seq, prev_hash in [(1, GENESIS_HASH), (123456789012, "ab" * 32)]:
        spliced = head + prev_hash + '","seq":' + str(seq) + tail
        expected = {
            **fields,
            "seq": seq,
            "prev_hash": prev_hash,
            "at": "2026-11-29T12:00:00.000005Z",
        }
        assert spliced == canonical_text(expected)
        assert hashlib.sha256(spliced.encode()).hexdigest() == entry_hash(
            **fields, seq=seq, prev_hash=prev_hash
        )


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_tampering_is_caught_at_the_first_broken_entry(
    session_factory: sessionmaker[Session], engine: Engine, tampering: str
) -> None:
    append_entries(session_factory, 5)
    statements, seq, reason = TAMPERING[tampering]

    tamper(engine, statements)

    with pytest.raises(AuditChainBroken) as caught:
        verified(session_factory)
    assert caught.value.seq == seq
    assert caught.value.reason.startswith(reason), caught.value.reason


def test_an_append_refuses_to_extend_a_broken_chain(
    session_factory: sessionmaker[Session], engine: Engine
) -> None:
    append_entries(session_factory, 3)
    tamper(engine, ["DELETE FROM audit_log WHERE seq = 3"])

    with pytest.raises(AuditChainBroken) as caught:
        append_entries(session_factory, 1)
    assert caught.value.seq == 3
    # Nothing was written, not even the number.
    with pytest.raises(AuditChainBroken):
        verified(session_factory)
    assert [e.seq for e in entries(session_factory)] == [1, 2]


def test_record_refuses_a_naive_time_and_a_detail_that_is_not_json(
    session_factory: sessionmaker[Session],
) -> None:
    arguments: dict[str, Any] = {
        "actor": "cli",
        "actor_org_id": None,
        "action": "admin.org.add",
        "target": None,
    }
    with transaction(session_factory) as session:
        with pytest.raises(ValueError, match="naive"):
            record(session, detail={}, now=datetime(2026, 1, 1), **arguments)
        with pytest.raises(CanonicalJSONError):
            record(session, detail={"x": float("nan")}, now=utcnow(), **arguments)
    assert entries(session_factory) == []
    assert verified(session_factory).count == 0


# --- concurrency ------------------------------------------------------------------------------


def _run_together(tasks: list[Callable[[], None]]) -> None:
    """Start every task at the same moment; re-raise the first failure."""
    barrier = threading.Barrier(len(tasks))

    def run(task: Callable[[], None]) -> None:
        barrier.wait(timeout=30)
        task()

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        for future in [pool.submit(run, task) for task in tasks]:
            future.result(timeout=120)


def test_concurrent_appends_keep_one_chain(session_factory: sessionmaker[Session]) -> None:
    writers, each = 8, 15
    _run_together(
        [
            functools.partial(append_entries, session_factory, each, tag=str(writer))
            for writer in range(writers)
        ]
    )

    chain = verified(session_factory)
    assert chain.count == writers * each
    targets = [entry.target for entry in entries(session_factory)]
    assert len(set(targets)) == writers * each


def test_concurrent_writes_and_audited_reads_neither_deadlock_nor_fork(
    session_factory: sessionmaker[Session], members: Members
) -> None:
    """Writers take ``revisions`` then ``audit``; readers only ``audit``: no cycle, one chain."""
    with read_only(session_factory) as session:
        analyst = principal_for(get_user_by_email(session, ANALYST))
        reader = principal_for(get_user_by_email(session, READER))
    with transaction(session_factory) as session:
        create_advisory(
            session,
            principal=analyst,
            node_id="test",
            advisory_in=AdvisoryCreate.model_validate(advisory_payload(tlp="amber")),
            now=utcnow(),
        )
    rounds = 10

    def write() -> None:
        for _ in range(rounds):
            with transaction(session_factory) as session:
                create_advisory(
                    session,
                    principal=analyst,
                    node_id="test",
                    advisory_in=AdvisoryCreate.model_validate(advisory_payload(tlp="amber")),
                    now=utcnow(),
                )

    def read() -> None:
        for _ in range(rounds):
            with transaction(session_factory) as session:
                documents, _ = list_advisories(
                    session,
                    principal=reader,
                    filters=ListFilters(),
                    limit=5,
                    cursor=None,
                    now=utcnow(),
                )
                assert documents

    _run_together([write, write, write, read, read, read])

    recorded = entries(session_factory)
    assert verified(session_factory).count == len(recorded) == 1 + 6 * rounds
    assert sum(entry.action == "advisory.create" for entry in recorded) == 1 + 3 * rounds
    assert sum(entry.action == "advisory.list" for entry in recorded) == 3 * rounds


# --- PostgreSQL: entries are chained at commit -------------------------------------------------

POSTGRES_ONLY = [pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", POSTGRES_ONLY)
def test_an_uncommitted_entry_holds_no_one_up_and_is_numbered_at_its_commit(
    session_factory: sessionmaker[Session], engine: Engine
) -> None:
    """A transaction that has recorded but not committed (a request still serialising its
    answer, a worker waiting for the GIL) does not stop another from recording and committing.
    """
    with ThreadPoolExecutor(max_workers=1) as pool, session_factory() as slow, slow.begin():
        _record(slow, target="slow")
        # Recorded only: nothing is numbered yet, nothing is locked.
        other = pool.submit(append_entries, session_factory, 1, tag="quick")
        other.result(timeout=10)
        assert [entry.target for entry in entries(session_factory)] == ["advisory-quick-0"]
        # The commit chained the slow entry after the quick one.
    assert [(entry.seq, entry.target) for entry in entries(session_factory)] == [
        (1, "advisory-quick-0"),
        (2, "slow"),
    ]
    assert verified(session_factory).count == 2
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(PendingAuditEntry)) == 0


@pytest.mark.parametrize("backend", POSTGRES_ONLY)
def test_entries_of_a_rolled_back_transaction_take_no_number(
    session_factory: sessionmaker[Session], engine: Engine
) -> None:
    with session_factory() as session, session.begin():
        _record(session, target="first")
        _record(session, target="second")
        session.rollback()
    append_entries(session_factory, 1)
    assert [(entry.seq, entry.target) for entry in entries(session_factory)] == [
        (1, "advisory-t-0")
    ]
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(PendingAuditEntry)) == 0


@pytest.mark.parametrize("backend", POSTGRES_ONLY)
def test_a_transaction_s_entries_are_chained_in_the_order_recorded(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        for name in ["one", "two", "three"]:
            _record(session, target=name)
    assert [entry.target for entry in entries(session_factory)] == ["one", "two", "three"]
    assert verified(session_factory).count == 3


def _record(session: Session, *, target: str) -> None:
    record(
        session,
        actor="reader@example.edu",
        actor_org_id=None,
        action="advisory.list",
        target=target,
        detail={"ids": [target]},
        now=utcnow(),
    )


def test_an_audited_read_records_its_entry_whole_on_either_backend(
    session_factory: sessionmaker[Session], backend: str
) -> None:
    """``audited_read``: on PostgreSQL each statement commits by itself (no BEGIN or COMMIT to
    wait for), so the entry is in the log as soon as it is recorded; on SQLite, at the end."""
    with audited_read(session_factory) as session:
        _record(session, target="shown")
        seen_meanwhile = [entry.target for entry in entries(session_factory)]
    assert seen_meanwhile == (["shown"] if backend == "postgresql" else [])
    assert [entry.target for entry in entries(session_factory)] == ["shown"]
    assert verified(session_factory).count == 1
