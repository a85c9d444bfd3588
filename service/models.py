"""Every ORM model, imported in one place so that the metadata is complete."""

from service.access.models import ApiToken, Org, User
from service.advisories.models import (
    Advisory,
    AdvisoryAudience,
    AdvisoryCategory,
    AdvisoryRevision,
    ChangeCounter,
)
from service.db import Base

metadata = Base.metadata

__all__ = [
    "Advisory",
    "AdvisoryAudience",
    "AdvisoryCategory",
    "AdvisoryRevision",
    "ApiToken",
    "ChangeCounter",
    "Org",
    "User",
    "metadata",
]
