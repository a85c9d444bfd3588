"""Recording to the audit log, and verifying its hash chain.

Each entry's ``hash`` is the hex SHA-256 of the RFC 8785 form of its other fields, ``prev_hash``
included, and ``prev_hash`` is the hash of the entry before it (64 zeros for the first). Entry
numbers come from the ``audit`` counter of ``service.sequence``, so appends are serialised by
that row's lock: the previous entry is always committed (or written by the same transaction)
when the next one reads its hash, and the chain never forks. A rolled-back transaction takes
its entries and its numbers with it, so the numbers have no gaps either.

Like every use case, ``record`` only flushes: the entry commits with the caller's transaction,
together with what it records.

The counter's lock is held until the caller commits, so every step between taking it and the
commit is paid once per entry, one entry after another, by every audited request of the node.
On PostgreSQL ``record`` therefore takes no lock: it inserts the entry into ``audit_pending``,
and a deferred trigger chains it when the transaction commits (migration 0007: the lock, the
previous hash, the hash and the insert of ``trex_audit_append``, inside the commit). A load test
had spent most of its time with thirty requests queued on the lock while its holder, between
recording and committing, waited for its worker's Python (and the GIL every request shares).
There, a transaction's entries are numbered only at its commit, and a broken chain is found
then: the commit raises ``AuditChainBroken`` and rolls everything back. SQLite keeps the
append in Python: a writer there holds the whole database anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, insert, select
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session

from federation.canonical import canonical_bytes, canonical_text
from service.access.principal import Principal
from service.audit.models import AuditEntry, PendingAuditEntry
from service.db import table_of
from service.sequence import ChangeCounter, allocate

__all__ = [
    "ANONYMOUS_ACTOR",
    "AUDIT_SEQUENCE",
    "CLI_ACTOR",
    "GENESIS_HASH",
    "AuditChainBroken",
    "VerifiedChain",
    "entry_hash",
    "recent_entries",
    "record",
    "record_by",
    "verify_chain",
]

AUDIT_SEQUENCE = "audit"
GENESIS_HASH = "0" * 64
CLI_ACTOR = "cli"
ANONYMOUS_ACTOR = "anonymous"
_VERIFY_BATCH = 1000


class AuditChainBroken(Exception):
    """The audit log does not verify: ``seq`` names the first entry that breaks the chain.

    Not a ``TrexError``: it is never the caller's fault, and an append that meets it must fail
    as an internal error (logged, 500) rather than as a refused request.
    """

    def __init__(self, seq: int | None, reason: str) -> None:
        super().__init__(reason if seq is None else f"entry {seq}: {reason}")
        self.seq = seq
        self.reason = reason


@dataclass(frozen=True)
class VerifiedChain:
    """A chain that verified: how many entries, and the hash of the last one.

    An operator who keeps ``head_hash`` somewhere else can later tell that no entry up to it
    was rewritten, even by someone able to recompute every hash.
    """

    count: int
    head_hash: str


def _format_at(at: datetime) -> str:
    # Fixed width, microseconds always: both backends keep microseconds, so the text hashed
    # on append is the text recomputed from the stored value.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    actor_org_id: str | None,
    action: str,
    target: str | None,
    detail: str,
    prev_hash: str,
) -> str:
    """The hex SHA-256 of the RFC 8785 form of an entry's fields (``detail`` as stored text)."""
    fields = _hashed_fields(
        seq=seq,
        at=at,
        actor=actor,
        actor_org_id=actor_org_id,
        action=action,
        target=target,
        detail=detail,
        prev_hash=prev_hash,
    )
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()


def _hashed_fields(
    *,
    seq: int,
    at: datetime,
    actor: str,
    actor_org_id: str | None,
    action: str,
    target: str | None,
    detail: str,
    prev_hash: str,
) -> dict[str, Any]:
    """What an entry's hash covers: the one list of fields, for both ways of appending."""
    return {
        "seq": seq,
        "at": _format_at(at),
        "actor": actor,
        "actor_org_id": actor_org_id,
        "action": action,
        "target": target,
        "detail": detail,
        "prev_hash": prev_hash,
    }


def record(
    session: Session,
    *,
    actor: str,
    actor_org_id: str | None,
    action: str,
    target: str | None,
    detail: Mapping[str, Any],
    now: datetime,
) -> None:
    """Append one entry to the audit log, in the caller's transaction.

    ``actor`` is a user's email, ``cli`` for operator commands or ``peer:<id>``; ``action`` a
    dotted name such as ``advisory.update``; ``detail`` a JSON object, stored in its canonical
    form. ``detail`` must never hold secrets, nor the text of a query.

    A transaction that also writes revisions must allocate from ``revisions`` before it records
    (``service.sequence`` explains the lock order; on PostgreSQL the entry takes its lock only
    at the commit, after everything else).
    """
    if now.tzinfo is None:
        raise ValueError("naive datetime given as the time of an audit entry")
    at = now.astimezone(UTC)
    # Before taking the lock: a detail that is not JSON fails without holding anyone up.
    detail_text = canonical_text(dict(detail))
    if session.get_bind().dialect.name == "postgresql":
        _record_at_commit(
            session,
            at=at,
            actor=actor,
            actor_org_id=actor_org_id,
            action=action,
            target=target,
            detail=detail_text,
        )
        return
    seq = allocate(session, AUDIT_SEQUENCE)
    prev_hash = _previous_hash(session, seq)
    fields: dict[str, Any] = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "actor_org_id": actor_org_id,
        "action": action,
        "target": target,
        "detail": detail_text,
        "prev_hash": prev_hash,
    }
    session.add(AuditEntry(**fields, hash=entry_hash(**fields)))
    session.flush()


_SPLICE = '"prev_hash":"","seq":0,'
# Built once, and a core insert: none of an ORM insert's work per entry.
_INSERT_PENDING = insert(table_of(PendingAuditEntry))
_CHAIN_BROKEN_MARK = "trex-audit-chain-broken: entry "
"""How ``trex_audit_chain`` (migration 0007) begins the error it raises at a broken chain."""


def hashed_text_around(
    *,
    at: datetime,
    actor: str,
    actor_org_id: str | None,
    action: str,
    target: str | None,
    detail: str,
) -> tuple[str, str]:
    """The text ``entry_hash`` hashes, as what comes before ``prev_hash`` and after ``seq``.

    ``head + prev_hash + '","seq":' + str(seq) + tail`` is that text for any ``seq`` and hex
    ``prev_hash``: RFC 8785 orders the keys ``... detail, prev_hash, seq, target``, and neither
    value needs escaping. The splice mark cannot occur inside a value, whose quotes are escaped.
    """
    fields = _hashed_fields(
        seq=0,
        at=at,
        actor=actor,
        actor_org_id=actor_org_id,
        action=action,
        target=target,
        detail=detail,
        prev_hash="",
    )
    head, mark, tail = canonical_text(fields).partition(_SPLICE)
    if not mark or _SPLICE in tail:
        raise AssertionError("the hashed text has no single place for prev_hash and seq")
    return head + '"prev_hash":"', "," + tail


def _record_at_commit(
    session: Session,
    *,
    at: datetime,
    actor: str,
    actor_org_id: str | None,
    action: str,
    target: str | None,
    detail: str,
) -> None:
    """``record`` on PostgreSQL: the commit's trigger does what the other backends do here."""
    values: dict[str, Any] = {
        "at": at,
        "actor": actor,
        "actor_org_id": actor_org_id,
        "action": action,
        "target": target,
        "detail": detail,
    }
    head, tail = hashed_text_around(**values)
    session.execute(_INSERT_PENDING, {**values, "head": head, "tail": tail})


@event.listens_for(Engine, "handle_error")
def _chain_broken_at_commit(context: ExceptionContext) -> None:
    """A commit that ``trex_audit_chain`` refused raises ``AuditChainBroken``, as SQLite's does.

    Registered for every engine: the mark is ours, and nothing else raises it.
    """
    diagnostic = getattr(context.original_exception, "diag", None)
    message = getattr(diagnostic, "message_primary", None) or ""
    if message.startswith(_CHAIN_BROKEN_MARK):
        missing = int(message[len(_CHAIN_BROKEN_MARK) :].split()[0])
        raise AuditChainBroken(missing, "missing: the audit log cannot be extended")


def _previous_hash(session: Session, seq: int) -> str:
    if seq == 1:
        return GENESIS_HASH
    previous = session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == seq - 1))
    if previous is None:
        # Numbers are gap-free, so the entry was removed: refuse to extend a broken chain (and
        # whatever was to be recorded with it) until an operator has looked.
        raise AuditChainBroken(seq - 1, "missing: the audit log cannot be extended")
    return previous


def verify_chain(session: Session) -> VerifiedChain:
    """Recompute the chain from the first entry; raise ``AuditChainBroken`` at the first fault.

    Checks, entry by entry in ``seq`` order: no number is missing (``gap in seq``), the entry's
    fields still give its hash (``hash mismatch``) and its ``prev_hash`` is the previous entry's
    hash (``broken link``); then that the last entry is the last number handed out, so that
    removing entries from the end is caught too. Returns only once everything held.
    """
    # The counter first: entries committed after this read (numbered beyond it) are left for
    # the next run, so a verify during appends checks a consistent prefix.
    expected = session.scalar(
        select(ChangeCounter.value).where(ChangeCounter.name == AUDIT_SEQUENCE)
    )
    if expected is None:
        raise AuditChainBroken(None, f"the {AUDIT_SEQUENCE!r} counter row is missing")
    # Columns rather than entities: what the database holds, never an object the session
    # already has in memory.
    rows = session.execute(
        select(
            AuditEntry.seq,
            AuditEntry.at,
            AuditEntry.actor,
            AuditEntry.actor_org_id,
            AuditEntry.action,
            AuditEntry.target,
            AuditEntry.detail,
            AuditEntry.prev_hash,
            AuditEntry.hash,
        )
        .where(AuditEntry.seq <= expected)
        .order_by(AuditEntry.seq)
        .execution_options(yield_per=_VERIFY_BATCH)
    )
    last_seq, last_hash = 0, GENESIS_HASH
    for entry in rows:
        if entry.seq != last_seq + 1:
            raise AuditChainBroken(
                entry.seq, f"gap in seq: expected entry {last_seq + 1}, found {entry.seq}"
            )
        recomputed = entry_hash(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            actor_org_id=entry.actor_org_id,
            action=entry.action,
            target=entry.target,
            detail=entry.detail,
            prev_hash=entry.prev_hash,
        )
        if recomputed != entry.hash:
            raise AuditChainBroken(entry.seq, "hash mismatch: the entry is not what was recorded")
        if entry.prev_hash != last_hash:
            raise AuditChainBroken(
                entry.seq, f"broken link: prev_hash is not the hash of entry {last_seq}"
            )
        last_seq, last_hash = entry.seq, entry.hash
    if last_seq != expected:
        missing = (
            f"entry {expected} is"
            if last_seq + 1 == expected
            else f"entries {last_seq + 1} to {expected} are"
        )
        raise AuditChainBroken(
            last_seq + 1,
            f"gap in seq: {missing} missing at the end "
            f"(the {AUDIT_SEQUENCE!r} counter is at {expected})",
        )
    return VerifiedChain(count=last_seq, head_hash=last_hash)


def recent_entries(
    session: Session, *, before: int | None = None, limit: int = 50
) -> list[AuditEntry]:
    """The newest ``limit`` entries numbered below ``before`` (all when None), newest first."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    return list(session.scalars(query))


def record_by(
    session: Session,
    principal: Principal,
    *,
    action: str,
    target: str | None,
    detail: Mapping[str, Any],
    now: datetime,
) -> None:
    """``record`` an act of ``principal`` (a signed-in user, or anonymous)."""
    record(
        session,
        actor=principal.email or ANONYMOUS_ACTOR,
        actor_org_id=principal.org_id,
        action=action,
        target=target,
        detail=detail,
        now=now,
    )
