"""federation

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 01:58:33.993531

Before merging a migration: it must run while the previous release still serves. Add columns
as nullable (or with a server default), never rename or drop what the previous release reads,
and build indexes on large PostgreSQL tables CONCURRENTLY (in an autocommit block) so that no
long lock stops writes.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cursor", sa.String(length=100), nullable=True),
        sa.Column("last_pull_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("caught_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("accepted_count", sa.BigInteger(), nullable=False),
        sa.Column("rejected_count", sa.BigInteger(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("announced_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peers")),
    )
    op.create_table(
        "quarantine",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=100), nullable=True),
        sa.Column("advisory_id", sa.String(length=100), nullable=True),
        sa.Column("revision", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("equivocation", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_quarantine")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index("ix_quarantine_equivocation", ["equivocation"], unique=False)

    op.create_table(
        "seen_nonces",
        sa.Column("kid", sa.String(length=100), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kid", "nonce", name=op.f("pk_seen_nonces")),
    )
    with op.batch_alter_table("seen_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_nonces_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "sharing_groups",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sharing_groups")),
    )
    op.create_table(
        "group_members",
        sa.Column("group_name", sa.String(length=64), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_name"],
            ["sharing_groups.name"],
            name=op.f("fk_group_members_group_name_sharing_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_name", "node_id", name=op.f("pk_group_members")),
    )
    op.create_table(
        "peer_keys",
        sa.Column("kid", sa.String(length=100), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("statement", sa.Text(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"], ["peers.id"], name=op.f("fk_peer_keys_node_id_peers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_peer_keys")),
    )
    with op.batch_alter_table("peer_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_peer_keys_node_id"), ["node_id"], unique=False)

    op.create_table(
        "revision_scopes",
        sa.Column("group_name", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["seq"],
            ["advisory_revisions.seq"],
            name=op.f("fk_revision_scopes_seq_advisory_revisions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_name", "seq", name=op.f("pk_revision_scopes")),
    )
    with op.batch_alter_table("revision_scopes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_revision_scopes_seq"), ["seq"], unique=False)

    with op.batch_alter_table("advisory_revisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("kid", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("sig", sa.String(length=100), nullable=True))

    _backfill_origins_and_scopes()


def _backfill_origins_and_scopes() -> None:
    """Revisions written before federation: their origin column and their scope rows.

    Their signatures stay empty: the node signs them when it first serves them to a peer.
    """
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE advisory_revisions SET origin = "
            "(SELECT origin FROM advisories WHERE advisories.pk = advisory_revisions.advisory_pk)"
        )
    )
    scopes = sa.table("revision_scopes", sa.column("group_name"), sa.column("seq"))
    rows = bind.execute(sa.text("SELECT seq, document FROM advisory_revisions ORDER BY seq"))
    batch: list[dict[str, object]] = []
    for seq, document in rows:
        for group in sorted(set(json.loads(document).get("scope", []))):
            batch.append({"group_name": group, "seq": seq})
        if len(batch) >= 1000:
            op.bulk_insert(scopes, batch)
            batch = []
    if batch:
        op.bulk_insert(scopes, batch)


def downgrade() -> None:
    with op.batch_alter_table("advisory_revisions", schema=None) as batch_op:
        batch_op.drop_column("sig")
        batch_op.drop_column("kid")
        batch_op.drop_column("origin")

    with op.batch_alter_table("revision_scopes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revision_scopes_seq"))

    op.drop_table("revision_scopes")
    with op.batch_alter_table("peer_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_peer_keys_node_id"))

    op.drop_table("peer_keys")
    op.drop_table("group_members")
    op.drop_table("sharing_groups")
    with op.batch_alter_table("seen_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seen_nonces_expires_at"))

    op.drop_table("seen_nonces")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantine_equivocation")

    op.drop_table("quarantine")
    op.drop_table("peers")
