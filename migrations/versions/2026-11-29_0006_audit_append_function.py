"""audit append function (PostgreSQL)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 14:00:00

Before merging a migration: it must run while the previous release still serves. Add columns
as nullable (or with a server default), never rename or drop what the previous release reads,
and build indexes on large PostgreSQL tables CONCURRENTLY (in an autocommit block) so that no
long lock stops writes.

A new function, nothing else: the previous release does not call it.

``trex_audit_append`` appends one audit entry in a single call (``service.audit.service``
explains why): it takes the ``audit`` counter's row lock, reads the previous entry's hash with
a fresh snapshot (each statement of a PL/pgSQL function takes its own, so the entry committed
by the transaction it waited for is seen), hashes the entry and inserts it. The caller gives
the entry's RFC 8785 text around ``prev_hash`` and ``seq`` (``head`` ends with
``"prev_hash":"``, ``tail`` starts with ``,``): every other value is known before the lock is
taken, and these two need no escaping. A previous entry that is missing comes back as a NULL
``prev_hash`` with nothing inserted: the caller refuses to extend the chain and rolls back.
SQLite has no such function and needs none: a writer there holds the whole database.
"""

from __future__ import annotations

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_CREATE = """
CREATE FUNCTION trex_audit_append(
    p_at timestamptz,
    p_actor text,
    p_actor_org_id text,
    p_action text,
    p_target text,
    p_detail text,
    p_head text,
    p_tail text
) RETURNS TABLE (seq bigint, prev_hash text, hash text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_seq bigint;
    v_prev text;
    v_hash text;
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE name = 'audit' RETURNING value INTO v_seq;
    IF v_seq IS NULL THEN
        RAISE EXCEPTION 'the audit counter row is missing';
    END IF;
    IF v_seq = 1 THEN
        v_prev := repeat('0', 64);
    ELSE
        SELECT a.hash INTO v_prev FROM audit_log a WHERE a.seq = v_seq - 1;
        IF v_prev IS NULL THEN
            RETURN QUERY SELECT v_seq, NULL::text, NULL::text;
            RETURN;
        END IF;
    END IF;
    v_hash := encode(
        sha256(convert_to(p_head || v_prev || '","seq":' || v_seq::text || p_tail, 'UTF8')),
        'hex'
    );
    INSERT INTO audit_log (seq, at, actor, actor_org_id, action, target, detail, prev_hash, hash)
    VALUES (v_seq, p_at, p_actor, p_actor_org_id, p_action, p_target, p_detail, v_prev, v_hash);
    RETURN QUERY SELECT v_seq, v_prev, v_hash;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS trex_audit_append("
            "timestamptz, text, text, text, text, text, text, text)"
        )
