"""Helpers for audit log tests: reading the log back, filling it, and tampering with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from federation.canonical import parse_strict
from service.audit.models import AuditEntry
from service.audit.service import VerifiedChain, entry_hash, record, verify_chain
from service.db import read_only, transaction


@dataclass(frozen=True)
class Entry:
    seq: int
    actor: str
    actor_org_id: str | None
    action: str
    target: str | None
    detail: dict[str, Any]


def entries(factory: sessionmaker[Session]) -> list[Entry]:
    with read_only(factory) as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        return [
            Entry(e.seq, e.actor, e.actor_org_id, e.action, e.target, parse_strict(e.detail))
            for e in rows
        ]


def verified(factory: sessionmaker[Session]) -> VerifiedChain:
    with read_only(factory) as session:
        return verify_chain(session)


def append_entries(factory: sessionmaker[Session], count: int, *, tag: str = "t") -> None:
    """``count`` entries, each in its own transaction, with times a second apart."""
    start = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)
    for index in range(count):
        with transaction(factory) as session:
            record(
                session,
                actor="analyst@example.edu",
                actor_org_id=None if index % 2 else "b0b0b0b0-0000-4000-8000-000000000000",
                action="advisory.read",
                target=f"advisory-{tag}-{index}",
                detail={"revision": index + 1, "note": "ünïcödé ✓"},
                now=start + timedelta(seconds=index),
            )


def _rehash(connection: Any, seq: int) -> None:
    """What a careful forger does: recompute the changed entry's own hash."""
    row = connection.execute(select(AuditEntry.__table__).where(AuditEntry.seq == seq)).one()
    fields = {name: value for name, value in row._mapping.items() if name != "hash"}
    connection.execute(
        text("UPDATE audit_log SET hash = :hash WHERE seq = :seq"),
        {"hash": entry_hash(**fields), "seq": seq},
    )


TAMPERING: dict[str, tuple[list[str], int, str]] = {
    "detail changed": (
        ["UPDATE audit_log SET detail = '{\"revision\"\\:99}' WHERE seq = 3"],
        3,
        "hash mismatch",
    ),
    "actor changed": (
        ["UPDATE audit_log SET actor = 'someone@else.example' WHERE seq = 2"],
        2,
        "hash mismatch",
    ),
    "hash changed": (
        ["UPDATE audit_log SET hash = '" + "f" * 64 + "' WHERE seq = 3"],
        3,
        "hash mismatch",
    ),
    "middle row deleted": (["DELETE FROM audit_log WHERE seq = 3"], 4, "gap in seq"),
    "first row deleted": (["DELETE FROM audit_log WHERE seq = 1"], 2, "gap in seq"),
    "last row deleted": (["DELETE FROM audit_log WHERE seq = 5"], 5, "gap in seq"),
    "detail changed and rehashed": (
        ["UPDATE audit_log SET detail = '{\"revision\"\\:99}' WHERE seq = 3", "REHASH 3"],
        4,
        "broken link",
    ),
}


def tamper(engine: Engine, statements: list[str]) -> None:
    with engine.begin() as connection:
        for statement in statements:
            if statement.startswith("REHASH "):
                _rehash(connection, int(statement.split()[1]))
            else:
                connection.execute(text(statement))
