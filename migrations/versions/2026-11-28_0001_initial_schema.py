"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 22:56:19.878211

Before merging a migration: it must run while the previous release still serves. Add columns
as nullable (or with a server default), never rename or drop what the previous release reads,
and build indexes on large PostgreSQL tables CONCURRENTLY (in an autocommit block) so that no
long lock stops writes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "change_counter",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_counter")),
    )
    # The change sequence starts at zero; writers allocate from this one row.
    op.bulk_insert(
        sa.table("change_counter", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        [{"name": "revisions", "value": 0}],
    )
    op.create_table(
        "orgs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("vetted_until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs")),
        sa.UniqueConstraint("name", name=op.f("uq_orgs_name")),
    )
    op.create_table(
        "advisories",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("risk", sa.String(length=16), nullable=False),
        sa.Column("subject_name", sa.String(length=300), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("contributor_org", sa.String(length=200), nullable=False),
        sa.Column("contributor_org_id", sa.String(length=36), nullable=True),
        sa.Column("current_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contributor_org_id"], ["orgs.id"], name=op.f("fk_advisories_contributor_org_id_orgs")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_advisories")),
        sa.UniqueConstraint("id", name=op.f("uq_advisories_id")),
    )
    with op.batch_alter_table("advisories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_advisories_contributor_org_id"), ["contributor_org_id"], unique=False
        )
        batch_op.create_index(
            "ix_advisories_country_status_pk", ["country", "status", "pk"], unique=False
        )
        batch_op.create_index(
            "ix_advisories_origin_status_pk", ["origin", "status", "pk"], unique=False
        )
        batch_op.create_index(
            "ix_advisories_risk_status_pk", ["risk", "status", "pk"], unique=False
        )
        batch_op.create_index("ix_advisories_status_pk", ["status", "pk"], unique=False)
        batch_op.create_index(
            "ix_advisories_tier_status_pk", ["tier", "status", "pk"], unique=False
        )
        batch_op.create_index("ix_advisories_updated_at", ["updated_at"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_users_org_id_orgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_org_id"), ["org_id"], unique=False)

    op.create_table(
        "advisory_audience",
        sa.Column("advisory_pk", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_pk"],
            ["advisories.pk"],
            name=op.f("fk_advisory_audience_advisory_pk_advisories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_advisory_audience_org_id_orgs")
        ),
        sa.PrimaryKeyConstraint("advisory_pk", "org_id", name=op.f("pk_advisory_audience")),
    )
    with op.batch_alter_table("advisory_audience", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_advisory_audience_org_id"), ["org_id"], unique=False)

    op.create_table(
        "advisory_categories",
        sa.Column("advisory_pk", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_pk"],
            ["advisories.pk"],
            name=op.f("fk_advisory_categories_advisory_pk_advisories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("advisory_pk", "category", name=op.f("pk_advisory_categories")),
    )
    with op.batch_alter_table("advisory_categories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_advisory_categories_category"), ["category"], unique=False
        )

    op.create_table(
        "advisory_revisions",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("advisory_pk", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("author_user_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_pk"],
            ["advisories.pk"],
            name=op.f("fk_advisory_revisions_advisory_pk_advisories"),
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_advisory_revisions_author_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_advisory_revisions")),
        sa.UniqueConstraint(
            "advisory_pk", "revision", name=op.f("uq_advisory_revisions_advisory_pk_revision")
        ),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("advisory_revisions")
    with op.batch_alter_table("advisory_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_advisory_categories_category"))

    op.drop_table("advisory_categories")
    with op.batch_alter_table("advisory_audience", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_advisory_audience_org_id"))

    op.drop_table("advisory_audience")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_org_id"))

    op.drop_table("users")
    with op.batch_alter_table("advisories", schema=None) as batch_op:
        batch_op.drop_index("ix_advisories_updated_at")
        batch_op.drop_index("ix_advisories_tier_status_pk")
        batch_op.drop_index("ix_advisories_status_pk")
        batch_op.drop_index("ix_advisories_risk_status_pk")
        batch_op.drop_index("ix_advisories_origin_status_pk")
        batch_op.drop_index("ix_advisories_country_status_pk")
        batch_op.drop_index(batch_op.f("ix_advisories_contributor_org_id"))

    op.drop_table("advisories")
    op.drop_table("orgs")
    op.drop_table("change_counter")
