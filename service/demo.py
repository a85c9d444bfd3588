"""The demo node of SPEC section 9: its members, and the demo advisories written through them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.keys import NodeKey
from service.access.models import Org
from service.access.principal import principal_for
from service.access.service import add_org, add_user, create_token, get_user_by_email
from service.advisories.schemas import AdvisoryCreate
from service.advisories.service import create_advisory


@dataclass(frozen=True)
class DemoUser:
    email: str
    org: str
    role: str


DEMO_ORGS: tuple[tuple[str, str, bool], ...] = (
    ("University of Example", "university", True),
    ("Example Polytechnic", "university", False),
    ("Office of Research Security", "government", True),
    ("Node operations", "other", False),
)
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("reader@example.edu", "University of Example", "reader"),
    DemoUser("analyst@example.edu", "University of Example", "analyst"),
    DemoUser("reader@poly.example", "Example Polytechnic", "reader"),
    DemoUser("publisher@gov.example", "Office of Research Security", "publisher"),
    DemoUser("operator@node.example", "Node operations", "operator"),
)
# Who writes each tier's demo advisories: they go through the same write rules as anyone's.
_AUTHOR_BY_TIER = {"academia": "analyst@example.edu", "government": "publisher@gov.example"}


def demo_advisories() -> list[dict[str, Any]]:
    """The demo advisories shipped with the package (a copy of the shared public data)."""
    text = resources.files("service.data").joinpath("demo-advisories.json").read_text("utf-8")
    advisories: list[dict[str, Any]] = json.loads(text)["advisories"]
    return advisories


def is_loaded(session: Session) -> bool:
    names = [name for name, _, _ in DEMO_ORGS]
    return session.scalars(select(Org.id).where(Org.name.in_(names))).first() is not None


def load_demo(session: Session, *, node_id: str, now: datetime, key: NodeKey | None = None) -> int:
    """Create the demo members and advisories; returns how many advisories were written."""
    vetted_until = now.date() + timedelta(days=365)
    orgs = {
        name: add_org(session, name=name, kind=kind, vetted_until=vetted_until if vetted else None)
        for name, kind, vetted in DEMO_ORGS
    }
    for user in DEMO_USERS:
        add_user(session, email=user.email, org=orgs[user.org], role=user.role)
    written = 0
    for raw in demo_advisories():
        entry = dict(raw)
        contributor = entry.pop("contributor_org")
        entry["audience"] = [orgs[name].id for name in entry.get("audience", [])]
        author = get_user_by_email(session, _AUTHOR_BY_TIER[entry["tier"]])
        if author.org.name != contributor:
            raise ValueError(f"demo advisory by {contributor!r} has no demo author")
        create_advisory(
            session,
            principal=principal_for(author),
            node_id=node_id,
            advisory_in=AdvisoryCreate.model_validate(entry),
            now=now,
            key=key,
        )
        written += 1
    return written


def issue_demo_tokens(
    session: Session, *, now: datetime, ttl: timedelta
) -> list[tuple[DemoUser, str]]:
    """A fresh token for each demo user (tokens are stored hashed, so old ones cannot be shown)."""
    return [
        (user, create_token(session, email=user.email, now=now, ttl=ttl)) for user in DEMO_USERS
    ]
