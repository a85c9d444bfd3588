"""member status, org email domains, token label and read-only scope

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 23:59:00

Before merging a migration: it must run while the previous release still serves. Add columns
as nullable (or with a server default), never rename or drop what the previous release reads,
and build indexes on large PostgreSQL tables CONCURRENTLY (in an autocommit block) so that no
long lock stops writes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Server defaults let the previous release keep inserting rows without these columns.
    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="active", nullable=False)
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="active", nullable=False)
        )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("read_only", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "org_domains",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_org_domains_org_id_orgs")),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_org_domains")),
    )
    with op.batch_alter_table("org_domains", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_org_domains_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("org_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_org_domains_org_id"))
    op.drop_table("org_domains")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("read_only")
        batch_op.drop_column("label")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("status")
    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.drop_column("status")
