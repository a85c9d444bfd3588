"""Federation endpoints (SPEC section 7): the descriptor, the feed, notify, and status.

Peers authenticate every request with an RFC 9421 signature and every answer to a peer is
signed the same way, echoing the request's nonce. Status is for operators.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from federation.descriptor import describe
from federation.peer_auth import PeerAuthError, VerifiedPeerRequest, sign_response, verify_request
from federation.sync import DEFAULT_PAGE, MAX_PAGE
from service.api.deps import (
    NodeKeysDep,
    NowDep,
    PrincipalDep,
    SessionFactoryDep,
    SettingsDep,
)
from service.api.problems import PROBLEM_CONTENT
from service.db import read_only, transaction, utcnow
from service.errors import FieldError, NotAuthenticated, NotPermitted
from service.peering import admin, service
from service.peering.models import Peer
from service.peering.service import NodeKeys

_PEER_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "Missing, invalid, expired or replayed request signature",
        **PROBLEM_CONTENT,
    },
    403: {"description": "The signing node is not an active peer", **PROBLEM_CONTENT},
    422: {"description": "Invalid parameters", **PROBLEM_CONTENT},
}

router = APIRouter(tags=["federation"])


def _target_uri(request: Request, public_url: str) -> str:
    # The URL the peer signed is this node's public URL (what it was told to call), not
    # whatever Host a proxy forwarded: a request signed for another node never verifies here.
    query = request.url.query
    return public_url + request.url.path + (f"?{query}" if query else "")


def _refuse(detail: str) -> NotAuthenticated:
    return NotAuthenticated(detail, errors=(FieldError("signature", detail),))


async def get_peer(
    request: Request, factory: SessionFactoryDep, settings: SettingsDep
) -> VerifiedPeerRequest:
    """The peer that signed this request, once its signature, time and nonce all hold."""
    body = await request.body()
    target = _target_uri(request, settings.public_url)
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]

    def check() -> VerifiedPeerRequest:
        now = utcnow()
        with transaction(factory) as session:
            keys = service.load_pinned_keys(session)

            class _Nonces:
                def remember(self, kid: str, nonce: str, expires: Any) -> bool:
                    return service.remember_nonce(
                        session, kid=kid, nonce=nonce, expires=expires, now=now
                    )

            try:
                verified = verify_request(
                    method=request.method,
                    target_uri=target,
                    headers=headers,
                    body=body,
                    keys=keys,
                    nonces=_Nonces(),
                    now=now,
                )
            except PeerAuthError as error:
                raise _refuse(f"Request signature refused: {error.reason}") from None
            peer = session.get(Peer, verified.node_id)
            if peer is None or peer.status != "active":
                raise NotPermitted(f"Node {verified.node_id!r} is not an active peer.")
            return verified

    return await run_in_threadpool(check)


PeerDep = Annotated[VerifiedPeerRequest, Depends(get_peer)]


def _signed_json(body: Any, *, nodes: NodeKeys, nonce: str, status: int = 200) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {"content-type": "application/json"}
    sign_response(
        status=status,
        headers=headers,
        body=content,
        key=nodes.ring().current,
        request_nonce=nonce,
    )
    return Response(content, status_code=status, headers=headers)


@router.get("/.well-known/trex-node", response_class=JSONResponse)
async def descriptor(request: Request, settings: SettingsDep, nodes: NodeKeysDep) -> Response:
    """This node's descriptor: id, name, country, URL, keys (retired ones too), rotations.

    A peer that signs its request gets a signed answer.
    """
    body = describe(
        nodes.ring(),
        name=settings.node_name or settings.node_id,
        country=settings.node_country,
        public_url=settings.public_url,
    ).to_json()
    if "signature-input" not in request.headers:
        return JSONResponse(body)
    factory = request.app.state.session_factory
    peer = await get_peer(request, factory, settings)
    return _signed_json(body, nodes=nodes, nonce=peer.nonce)


@router.get("/v1/federation/feed", responses=_PEER_ERRORS)
def feed(
    peer: PeerDep,
    factory: SessionFactoryDep,
    nodes: NodeKeysDep,
    after: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1)] = DEFAULT_PAGE,
) -> Response:
    """Signed records the calling peer may receive, after ``after``, in this node's order."""
    with read_only(factory) as session:
        page = service.feed_page(
            session,
            ring=nodes.ring(),
            peer_id=peer.node_id,
            after=after,
            limit=min(limit, MAX_PAGE),
        )
    body = {
        "records": page.records,
        "next": page.next,
        "more": page.more,
        "key_statements": page.key_statements,
    }
    return _signed_json(body, nodes=nodes, nonce=peer.nonce)


@router.post("/v1/federation/notify", status_code=202, responses=_PEER_ERRORS)
def notify(peer: PeerDep, factory: SessionFactoryDep, nodes: NodeKeysDep, now: NowDep) -> Response:
    """A peer has news: this node pulls from it soon."""
    with transaction(factory) as session:
        row = session.get(Peer, peer.node_id)
        if row is not None:
            row.notified_at = now
    return _signed_json({"status": "accepted"}, nodes=nodes, nonce=peer.nonce, status=202)


@router.get(
    "/v1/federation/status",
    responses={
        401: {"description": "Not signed in, or bad credentials", **PROBLEM_CONTENT},
        403: {"description": "Not an operator", **PROBLEM_CONTENT},
    },
)
def federation_status(
    principal: PrincipalDep, factory: SessionFactoryDep, now: NowDep
) -> dict[str, Any]:
    """Per peer: last pull, cursor, lag, accepted and rejected counts; the quarantine."""
    with read_only(factory) as session:
        return admin.federation_status(session, principal=principal, now=now)
