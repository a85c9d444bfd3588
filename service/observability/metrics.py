"""The node's request metrics, in a Prometheus registry of its own (one per application).

Request histograms live in the worker process that served the request: with several uvicorn
workers, a scrape is answered by whichever worker accepts it, and shows that worker's requests
(docs/operators.md, "Monitoring"). Figures that must be the same whichever worker answers
(federation, quarantine) are read from the database at scrape time instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED_ROUTE = "<unmatched>"
"""The route label of requests no route matched (404s): never their raw path."""

# Most answers take milliseconds; a batch screen or a first index build may take seconds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def status_class(status: int) -> str:
    """``2xx`` for 204: the label stays a handful of values."""
    return f"{status // 100}xx"


class _Scraped(Collector):
    """A collector whose families are computed by a function when scraped."""

    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


class NodeMetrics:
    """Request latency and in-flight requests of this process, plus collectors added later."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "trex_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status class.",
            ("method", "route", "status"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "trex_http_requests_in_flight",
            "Requests this worker process is serving now.",
            registry=self.registry,
        )

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.request_seconds.labels(method, route, status_class(status)).observe(seconds)

    def add_collector(self, collect: Callable[[], Iterable[Metric]]) -> None:
        """Register ``collect``, called at every scrape for metric families computed then."""
        self.registry.register(_Scraped(collect))

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)
