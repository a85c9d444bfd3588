"""Pages: operator. Members (``operator_members``), peers and quarantine
(``operator_federation``), and here the audit log: its chain verified, its latest entries.

Operators only (``require_operator``); they manage the node and see no advisory content.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.access.policy import require_operator
from service.api.deps import SessionFactoryDep
from service.audit.service import AuditChainBroken, recent_entries, verify_chain
from service.db import read_only
from service.web import operator_federation, operator_members
from service.web.render import WebRoute, render
from service.web.security import ViewerDep

router = APIRouter(route_class=WebRoute, include_in_schema=False)
router.include_router(operator_members.router)
router.include_router(operator_federation.router)

AUDIT_PAGE = 50


@router.get("/operator/audit")
def audit(
    request: Request,
    viewer: ViewerDep,
    factory: SessionFactoryDep,
    verify: Annotated[bool, Query()] = False,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    """The latest entries, ``before`` an entry number; with ``verify``, the chain's check too.

    Verifying reads the whole log, so it runs when asked for rather than on every page view.
    """
    require_operator(viewer, changes=False)
    chain = broken = None
    with read_only(factory) as session:
        if verify:
            try:
                chain = verify_chain(session)
            except AuditChainBroken as error:
                broken = error
        entries = recent_entries(session, before=before, limit=AUDIT_PAGE + 1)
        return render(
            request,
            "operator_audit.html",
            {
                "verified": verify,
                "chain": chain,
                "broken": broken,
                "entries": entries[:AUDIT_PAGE],
                "older": entries[AUDIT_PAGE - 1].seq if len(entries) > AUDIT_PAGE else None,
                "before": before,
            },
        )
