"""Every ORM model, imported in one place so that the metadata is complete."""

from service.access.models import ApiToken, Org, OrgDomain, User
from service.advisories.models import (
    Advisory,
    AdvisoryAudience,
    AdvisoryCategory,
    AdvisoryRevision,
)
from service.audit.models import AuditEntry
from service.db import Base
from service.peering.models import (
    GroupMember,
    Peer,
    PeerKey,
    QuarantinedRecord,
    RevisionScope,
    SeenNonce,
    SharingGroup,
)
from service.reviews.models import Review
from service.sequence import ChangeCounter

metadata = Base.metadata

__all__ = [
    "Advisory",
    "AdvisoryAudience",
    "AdvisoryCategory",
    "AdvisoryRevision",
    "ApiToken",
    "AuditEntry",
    "ChangeCounter",
    "GroupMember",
    "Org",
    "OrgDomain",
    "Peer",
    "PeerKey",
    "QuarantinedRecord",
    "Review",
    "RevisionScope",
    "SeenNonce",
    "SharingGroup",
    "User",
    "metadata",
]
