"""Peers, pinned keys, sharing groups, quarantined records, seen request nonces."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime


class Peer(Base):
    """A node this one knows. With a ``url`` it is pulled from; without, its key only verifies
    records other peers relay from it."""

    __tablename__ = "peers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="active")
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The pull cursor into the peer's feed: moved only by the transaction that stored a batch.
    cursor: Mapped[str | None] = mapped_column(String(100))
    last_pull_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    caught_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    accepted_count: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected_count: Mapped[int] = mapped_column(BigInteger, default=0)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The highest local change this node last told the peer about (``notify``).
    announced_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class PeerKey(Base):
    """A public key this node trusts: pinned by an operator, or proven by a rotation statement."""

    __tablename__ = "peer_keys"

    kid: Mapped[str] = mapped_column(String(100), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("peers.id", ondelete="CASCADE"), index=True)
    public_key: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(16))
    # The signed rotation statement that proved the key (relayed to peers with its records).
    statement: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SharingGroup(Base):
    __tablename__ = "sharing_groups"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_name: Mapped[str] = mapped_column(
        ForeignKey("sharing_groups.name", ondelete="CASCADE"), primary_key=True
    )
    node_id: Mapped[str] = mapped_column(String(32), primary_key=True)


class QuarantinedRecord(Base):
    """A record refused on arrival, with the reason; kept for the operator, never served."""

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_equivocation", "equivocation"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sender: Mapped[str] = mapped_column(String(32))
    origin: Mapped[str | None] = mapped_column(String(100))
    advisory_id: Mapped[str | None] = mapped_column(String(100))
    revision: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    equivocation: Mapped[bool] = mapped_column(Boolean, server_default=false())
    record: Mapped[str] = mapped_column(Text)


class SeenNonce(Base):
    """Request-signature nonces already used, until their signature expires (replay defence)."""

    __tablename__ = "seen_nonces"

    kid: Mapped[str] = mapped_column(String(100), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(100), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RevisionScope(Base):
    """The sharing groups named by a revision's ``scope``: the feed selects by them."""

    __tablename__ = "revision_scopes"

    group_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(
        ForeignKey("advisory_revisions.seq", ondelete="CASCADE"), primary_key=True, index=True
    )
