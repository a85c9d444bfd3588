"""``GET /metrics``: Prometheus metrics, for operators (a bearer token, as Prometheus sends it).

Request latency covers every worker process (``service.observability.metrics``). Federation and
quarantine figures are read from the database at each scrape, so every worker gives the same
answer; the screening index is per worker, like the index itself.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.access.policy import require_operator
from service.api.deps import PrincipalDep
from service.api.observe import ObserveRequests
from service.api.problems import PROBLEM_CONTENT
from service.db import read_only, utcnow
from service.observability.metrics import CONTENT_TYPE, NodeMetrics, multiprocess_directory
from service.peering import service as peering
from service.peering.models import QuarantinedRecord
from service.screening.index import ScreeningIndex

router = APIRouter(tags=["operations"])
_log = logging.getLogger("trex.metrics")


def federation_metrics(factory: sessionmaker[Session]) -> list[Metric]:
    """Per peer: sync lag, accepted and rejected records, failures; the quarantine.

    A peer never caught up has lagged since it was added: its lag grows from then, so an alert
    on lag also fires for a peer that never answered.
    """
    up = GaugeMetricFamily(
        "trex_metrics_database_up", "1 when the database answered this scrape's queries."
    )
    lag = GaugeMetricFamily(
        "trex_federation_peer_sync_lag_seconds",
        "Seconds since the node last caught up with the peer's feed (since added: never).",
        labels=("peer",),
    )
    accepted = CounterMetricFamily(
        "trex_federation_peer_records_accepted",
        "Records from the peer that verified and were stored.",
        labels=("peer",),
    )
    rejected = CounterMetricFamily(
        "trex_federation_peer_records_rejected",
        "Records from the peer that were refused (and quarantined).",
        labels=("peer",),
    )
    failures = GaugeMetricFamily(
        "trex_federation_peer_consecutive_failures",
        "Pulls from the peer that failed in a row (0 after a success).",
        labels=("peer",),
    )
    quarantine = GaugeMetricFamily(
        "trex_federation_quarantine_records", "Records held in quarantine."
    )
    equivocations = GaugeMetricFamily(
        "trex_federation_equivocation_alerts",
        "Quarantined records that contradict a revision already held (a signing key misused).",
    )
    now = utcnow()
    try:
        with read_only(factory) as session:
            for peer in peering.list_peers(session):
                since = peer.caught_up_at or peer.added_at
                lag.add_metric([peer.id], max((now - since).total_seconds(), 0.0))
                accepted.add_metric([peer.id], peer.accepted_count)
                rejected.add_metric([peer.id], peer.rejected_count)
                failures.add_metric([peer.id], peer.failures)
            held = select(func.count()).select_from(QuarantinedRecord)
            quarantine.add_metric([], session.scalar(held) or 0)
            alerts = held.where(QuarantinedRecord.equivocation.is_(True))
            equivocations.add_metric([], session.scalar(alerts) or 0)
    except SQLAlchemyError:
        _log.warning("metrics: the database did not answer", exc_info=True)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    return [up, lag, accepted, rejected, failures, quarantine, equivocations]


def install_metrics(app: FastAPI) -> None:
    """Request ids, access logs and metrics for every request; ``/metrics`` to read them.

    Call after the other middleware is added: it then wraps them, and times what they refuse.
    """
    metrics = NodeMetrics(multiprocess_directory())
    factory: sessionmaker[Session] = app.state.session_factory
    index: ScreeningIndex = app.state.screening_index
    metrics.add_collector(lambda: federation_metrics(factory))
    metrics.add_worker_gauge(
        "trex_screening_index_subjects",
        "Subjects in a worker process's screening index.",
        lambda: index.size,
    )
    app.state.metrics = metrics
    app.add_middleware(ObserveRequests, metrics=metrics)
    app.include_router(router)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format", "content": {CONTENT_TYPE: {}}},
        401: {"description": "No or invalid bearer token", **PROBLEM_CONTENT},
        403: {"description": "Not an operator", **PROBLEM_CONTENT},
    },
)
def metrics_endpoint(request: Request, principal: PrincipalDep) -> Response:
    """The node's metrics in the Prometheus text format (operators only)."""
    require_operator(principal, changes=False)
    metrics: NodeMetrics = request.app.state.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE)
