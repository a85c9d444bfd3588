"""The node's metrics in a Prometheus registry of its own (one per application), right whichever
worker process answers the scrape.

With one worker process the request metrics live in memory. With several (``trex-node serve
--workers N``, or an operator's gunicorn-style deployment) ``PROMETHEUS_MULTIPROC_DIR`` names a
directory shared by the workers, and prometheus_client's multiprocess mode is on: each worker
writes its request metrics to its own files there, and the worker answering a scrape adds up
every worker's files (``MultiProcessCollector``). Figures computed at scrape time (federation,
quarantine) are read from the database by the answering worker, so they appear once.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED_ROUTE = "<unmatched>"
"""The route label of requests no route matched (404s): never their raw path."""
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client reads it when first imported: it must be set before the workers start."""

# Most answers take milliseconds; a batch screen or a first index build may take seconds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# prometheus_client's file of a process's "live" gauges: gauge_<mode>_<pid>.db.
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def status_class(status: int) -> str:
    """``2xx`` for 204: the label stays a handful of values."""
    return f"{status // 100}xx"


def multiprocess_directory() -> Path | None:
    """The directory of the workers' metric files, when multiprocess mode is on."""
    value = os.environ.get(MULTIPROCESS_ENV)
    return Path(value) if value else None


def fresh_multiprocess_directory(path: Path) -> Path:
    """``path`` as an empty directory only its owner can read, for a new set of workers.

    The library's files hold running totals: left from an earlier run they would be added to
    this one's, and the "live" gauges of processes long gone would still count.
    """
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    path.mkdir(mode=0o700, parents=True)
    # mkdir's mode passes through the umask; the files name routes, not secrets, but stay ours.
    path.chmod(0o700)
    return path


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _mark_dead(pid: int, directory: Path) -> None:
    # prometheus_client's multiprocess module has no type hints.
    multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def forget_dead_processes(directory: Path) -> None:
    """Drop the live gauges of worker processes that ended without saying so (killed, OOM).

    A worker that shuts down cleanly marks itself dead; one that was killed mid-request would
    otherwise count as a request in flight for as long as the node runs.
    """
    for path in directory.glob("gauge_live*_*.db"):
        match = _LIVE_GAUGE_FILE.fullmatch(path.name)
        if match is not None and not _running(int(match[1])):
            _mark_dead(int(match[1]), directory)


class _Scraped(Collector):
    """A collector whose families are computed by a function when scraped."""

    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


class NodeMetrics:
    """Request latency and requests in flight, plus collectors and gauges added later.

    ``directory`` (from ``multiprocess_directory()``) turns multiprocess mode on; the
    environment variable must then have been set before prometheus_client was imported.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.registry = CollectorRegistry()
        # In multiprocess mode every metric writes to this process's files whatever its
        # registry; registering it too would expose it twice, next to the files' sum.
        own: CollectorRegistry | None = self.registry
        if directory is not None:
            # Adds itself to the registry (the module has no type hints).
            collector = multiprocess.MultiProcessCollector
            collector(self.registry, path=str(directory))  # type: ignore[no-untyped-call]
            own = None
        self._own = own
        self._worker_gauges: list[tuple[Gauge, Callable[[], float]]] = []
        self.request_seconds = Histogram(
            "trex_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status class.",
            ("method", "route", "status"),
            buckets=_BUCKETS,
            registry=own,
        )
        self.in_flight = Gauge(
            "trex_http_requests_in_flight",
            "Requests the node's worker processes are serving now.",
            registry=own,
            # The sum over the workers running now: an exited worker's count leaves the sum.
            multiprocess_mode="livesum",
        )

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.request_seconds.labels(method, route, status_class(status)).observe(seconds)
        self._write_worker_gauges()

    def add_collector(self, collect: Callable[[], Iterable[Metric]]) -> None:
        """Register ``collect``, called at every scrape for metric families computed then.

        Only the answering worker calls it: what it reports must not depend on the worker.
        """
        self.registry.register(_Scraped(collect))

    def add_worker_gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A figure each worker process holds for itself, such as its screening index size.

        With one worker it is read at each scrape. With several, each worker writes its own
        value after every request it serves, and a scrape shows one series per running worker,
        labelled ``pid``.
        """
        gauge = Gauge(name, documentation, registry=self._own, multiprocess_mode="liveall")
        if self.directory is None:
            gauge.set_function(read)
        else:
            gauge.set(read())
            self._worker_gauges.append((gauge, read))

    def _write_worker_gauges(self) -> None:
        for gauge, read in self._worker_gauges:
            gauge.set(read())

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format (every worker's, in multiprocess mode)."""
        if self.directory is not None:
            self._write_worker_gauges()
            forget_dead_processes(self.directory)
        return generate_latest(self.registry)

    def process_exiting(self) -> None:
        """This worker is shutting down: its live gauges leave the sums (its counts stay)."""
        if self.directory is not None:
            _mark_dead(os.getpid(), self.directory)
