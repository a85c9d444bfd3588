"""audit entries chained at commit (PostgreSQL)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 16:00:00

Before merging a migration: it must run while the previous release still serves. Add columns
as nullable (or with a server default), never rename or drop what the previous release reads,
and build indexes on large PostgreSQL tables CONCURRENTLY (in an autocommit block) so that no
long lock stops writes.

A new, empty table and, on PostgreSQL, a trigger on it: the previous release neither reads nor
writes the table, and still appends through ``trex_audit_append``, which stays and which the
trigger calls, so entries of both releases share one counter and one chain during an upgrade.

On PostgreSQL a transaction records an entry by inserting it into ``audit_pending`` (no lock).
``trex_audit_chain``, a deferred constraint trigger, runs at that transaction's commit, once
per pending row in the order they were inserted: it appends the entry with
``trex_audit_append`` (the ``audit`` counter's lock, the previous hash, the hash, the insert)
and deletes the pending row. The counter's lock is therefore taken during the commit and held
only until the commit ends, not from the moment of recording across the rest of the request.
A previous entry that is missing raises ``trex-audit-chain-broken``: the commit fails and the
transaction, what it recorded included, rolls back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_CHAIN_FUNCTION = """
CREATE FUNCTION trex_audit_chain() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_seq bigint;
    v_prev text;
BEGIN
    SELECT a.seq, a.prev_hash INTO v_seq, v_prev FROM trex_audit_append(
        NEW.at, NEW.actor, NEW.actor_org_id, NEW.action, NEW.target, NEW.detail,
        NEW.head, NEW.tail
    ) a;
    IF v_prev IS NULL THEN
        RAISE EXCEPTION 'trex-audit-chain-broken: entry % is missing', v_seq - 1
            USING DETAIL = 'the audit log cannot be extended; see trex-node audit verify';
    END IF;
    DELETE FROM audit_pending WHERE id = NEW.id;
    RETURN NULL;
END
$$
"""

_CHAIN_TRIGGER = """
CREATE CONSTRAINT TRIGGER audit_pending_chain
AFTER INSERT ON audit_pending
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION trex_audit_chain()
"""


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("actor_org_id", sa.String(length=36), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=320), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("head", sa.Text(), nullable=False),
        sa.Column("tail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_pending")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CHAIN_FUNCTION)
        op.execute(_CHAIN_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_pending_chain ON audit_pending")
        op.execute("DROP FUNCTION IF EXISTS trex_audit_chain()")
    op.drop_table("audit_pending")
