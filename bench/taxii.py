"""TAXII benchmark: a full pull of the node's TAXII 2.1 collection, against OASIS's ``medallion``.

1. Load ``count`` advisories into a fresh SQLite database through the domain write path
   (``bench.load``): the generator's advisories made visible to TAXII, every one published at
   TLP clear or green (a tenth with a second revision), none for an audience. The vetted
   reader's token is issued, and the node is served by ``trex-node serve`` (uvicorn, one
   worker, as in production) on a free loopback port. Its start-up work (the screening index
   it builds in a thread) is let finish, and one untimed pull warms it.
2. The full pull of the collection of every advisory, one fresh client per pull, at
   ``PAGE_SIZES`` objects per request (the server's largest page the last): with OASIS's
   ``taxii2-client`` (``as_pages(collection.get_objects, per_request=N)``, as a TAXII consumer
   pulls) and with a plain ``httpx`` loop over ``limit`` / ``next`` / ``more`` (JSON parsed,
   nothing else), so the client's overhead shows apart from the server's time. Each pull's wall
   time, objects per second, pages, first page, and the CPU seconds of the server process and
   of this process (the client) while it ran; each pull ``PULL_ROUNDS`` times, the two clients
   alternating, the fastest kept. Every pull must return the same objects, each once.
3. Single pages with httpx on one keep-alive connection, interleaved: the first page and a page
   in the middle (by its ``next``) at 100 objects, and the first page at the largest size.
4. Baseline in the same run: OASIS's reference TAXII 2.1 server ``medallion`` (its own runner,
   Flask's threaded server, and its memory backend) holding the same STIX objects, the first
   ones of the node's pull, pulled with ``taxii2-client`` the same way. Its memory backend
   answers a first page by matching every manifest entry against every object, quadratic in
   the collection's size (about 3 s for 1,000 objects on 2 cores, a quarter of an hour
   projected for 20,000), so it is pulled on growing prefixes (``MEDALLION_SIZES``, one server
   each) while the next one's first page is projected to fit ``MEDALLION_PULL_BUDGET_S``; the
   largest is also pulled at 100 per request, and the first page for every object is projected
   from it. Each pull ``PULL_ROUNDS`` times here too, the fastest kept. medallion 3.0 cannot
   serve an extension-definition (it reads the object's ``version`` property as a timestamp),
   so that object is left out of its copy. When medallion is not installed (it is the
   ``bench`` extra), the report says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import requests
from sqlalchemy.orm import Session, sessionmaker
from taxii2client.v21 import Server as TaxiiServer
from taxii2client.v21 import as_pages

from bench.data import NODE_ID, GeneratedAdvisory
from bench.databases import sqlite_database
from bench.load import LoadStats, Members, load, make_members
from bench.timing import Timing, time_interleaved
from service.db import make_engine, make_session_factory, utcnow
from service.taxii.service import COLLECTIONS, MAX_LIMIT

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
DISCOVERY_PATH = "/taxii2/"
# The collection of every advisory the caller may see, whatever its tier.
MAIN_COLLECTION = next(c.id for c in COLLECTIONS if c.tier is None)
SMALL_PAGE = 100
PULL_ROUNDS = 2  # each pull, of either server; the fastest is reported
# The server's largest page: a larger ``limit`` is cut down to it.
LARGEST_PAGE = MAX_LIMIT
PAGE_SIZES = (SMALL_PAGE, LARGEST_PAGE)
TREX_NODE = Path(sys.executable).parent / "trex-node"
MEDALLION = Path(sys.executable).parent / "medallion"
MEDALLION_USER = "bench"
MEDALLION_PASSWORD = "bench-password"  # a throw-away server on loopback
MEDALLION_ROOT = "bench"
MEDALLION_COLLECTION = "3f6f1d3c-2d35-4e1e-9a8a-6b0c1f2e7a10"
MEDALLION_SIZES = (250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000)
MEDALLION_PULL_BUDGET_S = 6.0
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 120.0  # medallion's first page of a large collection takes this long
_VISIBLE_TLP = {"amber": "green", "amber+strict": "green", "red": "green"}
# Manifest dates of medallion's objects: one millisecond apart, in the order the node served
# them, so medallion serves them in that order too.
_MEDALLION_ADDED = datetime(2026, 11, 1, tzinfo=UTC)

Log = Callable[[str], None]


class BenchFailed(RuntimeError):
    """A server did not start, or a pull did not return what it should."""


# --- 1. the advisories ------------------------------------------------------------------------


def _visible(item: GeneratedAdvisory) -> GeneratedAdvisory:
    """``item`` as a reader sees it in TAXII: published, TLP clear or green, no audience.

    A withdrawal becomes a correction (a second revision, still published), so every advisory
    is in the collection.
    """
    first = item.revisions[0]
    published_at = first["published_at"] or first["updated_at"]
    revisions = []
    for document in item.revisions:
        visible = {
            **document,
            "tlp": _VISIBLE_TLP.get(document["tlp"], document["tlp"]),
            "audience": [],
            "status": "published",
            "published_at": published_at,
        }
        visible.pop("withdrawal_reason", None)
        revisions.append(visible)
    return GeneratedAdvisory(tuple(revisions), item.contributor_org, item.author_email)


def load_visible(
    factory: sessionmaker[Session], members: Members, *, count: int, batch: int, now: datetime
) -> LoadStats:
    """Write ``count`` visible advisories, ``batch`` per transaction (``bench.load``'s path)."""
    return load(factory, members, count=count, batch=batch, now=now, adapt=_visible)


# --- the servers ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _PortTaken(Exception):
    pass


class Server:
    """A server process on a free loopback port, started by ``command(port)``, until ``stop``.

    ``ready`` is asked with an httpx client on the server's URL until it says yes.
    """

    def __init__(
        self,
        name: str,
        command: Callable[[int], list[str]],
        env: Mapping[str, str],
        ready: Callable[[httpx.Client], bool],
        log: Path,
        *,
        attempts: int = 3,
    ) -> None:
        self.name = name
        self._log = log
        for attempt in range(1, attempts + 1):
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            with log.open("ab") as sink:
                self.process = subprocess.Popen(
                    command(self.port),
                    env={**env, "PYTHONUNBUFFERED": "1"},
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                self._wait_ready(ready)
                return
            except _PortTaken:
                # Another process bound the port between our check and the server's bind.
                self.stop()
                if attempt == attempts:
                    raise BenchFailed(f"{name}: no free port after {attempts} tries") from None
            except BaseException:
                self.stop()
                raise

    def _wait_ready(self, ready: Callable[[httpx.Client], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    if "address already in use" in self.log_tail().lower():
                        raise _PortTaken
                    raise BenchFailed(f"{self.name} exited:\n{self.log_tail()}")
                with suppress(httpx.TransportError):
                    if ready(client):
                        return
                time.sleep(0.1)
        raise BenchFailed(f"{self.name} not ready within {READY_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def settle(self, *, quiet_s: float = 0.5, timeout: float = READY_TIMEOUT) -> float:
        """Wait until the server has used (almost) no CPU for ``quiet_s``; the seconds waited.

        A node builds its screening index in a thread at start-up: a pull timed meanwhile
        would share the server's CPU with it.
        """
        started = time.monotonic()
        last = self.cpu_seconds()
        quiet_since = time.monotonic()
        while time.monotonic() - started < timeout:
            time.sleep(0.1)
            now = self.cpu_seconds()
            if now - last > 0.01:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                break
            last = now
        return time.monotonic() - started

    def cpu_seconds(self) -> float:
        """User and system CPU time of the server so far, its worker processes included.

        With ``--workers`` above 1 the command's process only supervises: the workers, which
        build their screening indexes, are its children.
        """
        process = psutil.Process(self.process.pid)
        total = 0.0
        for each in [process, *process.children(recursive=True)]:
            with suppress(psutil.NoSuchProcess):
                times = each.cpu_times()
                total += times.user + times.system
        return total

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def _signal(self, number: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, number)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        timer = threading.Timer(STOP_TIMEOUT, self._signal, (signal.SIGKILL,))
        timer.start()
        try:
            self.process.wait()
        finally:
            timer.cancel()


@contextmanager
def serve_trex(database_url: str, data_dir: Path, *, workers: int = 1) -> Iterator[Server]:
    """``trex-node serve`` on the database, yielded once ``/readyz`` answers 200."""
    # Nothing of the caller's TREX_* settings: the node has only its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREX_")}
    env.update(
        TREX_DATA_DIR=str(data_dir),
        TREX_DATABASE_URL=database_url,
        TREX_NODE_ID=NODE_ID,
        TREX_NODE_NAME="Benchmark node",
        TREX_NODE_COUNTRY="CA",
        TREX_SYNC_INTERVAL_SECONDS="0",
        # One client on loopback measuring throughput: the rate limits would be what it measured.
        TREX_RATE_LIMIT_TOKEN_PER_SECOND="0",
        TREX_RATE_LIMIT_ADDRESS_PER_SECOND="0",
    )

    def command(port: int) -> list[str]:
        # The node's public URL is where it is served: the TAXII discovery names it.
        env["TREX_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        return [
            *(str(TREX_NODE), "serve", "--host", "127.0.0.1", "--port", str(port)),
            *("--workers", str(workers)),
        ]

    def ready(client: httpx.Client) -> bool:
        return client.get("/readyz").status_code == 200

    server = Server("trex-node serve", command, env, ready, data_dir / "serve.log")
    try:
        yield server
    finally:
        server.stop()


def medallion_installed() -> bool:
    return importlib.util.find_spec("medallion") is not None and MEDALLION.exists()


def medallion_collection(objects: list[dict[str, Any]], collection_id: str) -> dict[str, Any]:
    """A collection of medallion's memory backend holding ``objects``, with their manifest."""
    manifest = []
    stored = []
    for number, obj in enumerate(objects):
        added = (_MEDALLION_ADDED + timedelta(milliseconds=number)).isoformat()
        added = added.replace("+00:00", "Z")
        version = obj.get("modified") or obj.get("created")
        if version is None:  # no version of its own: medallion versions it by date added
            obj = {**obj, "_date_added": added}
            version = added
        stored.append(obj)
        manifest.append(
            {
                "id": obj["id"],
                "date_added": added,
                "version": version,
                "media_type": f"application/stix+json;version={obj.get('spec_version', '2.1')}",
            }
        )
    return {
        "id": collection_id,
        "title": f"The first {len(objects):,} objects of the node's pull",
        "description": "Benchmark baseline",
        "can_read": True,
        "can_write": False,
        "media_types": ["application/stix+json;version=2.1"],
        "objects": stored,
        "manifest": manifest,
    }


@contextmanager
def serve_medallion(objects: list[dict[str, Any]], directory: Path) -> Iterator[Server]:
    """medallion's own runner, its memory backend holding one collection of ``objects``.

    One collection per server: medallion deep-copies every collection of the API root on each
    request, so a second collection would slow the first one's pages.
    """
    data_file = directory / "medallion-data.json"
    config_file = directory / "medallion.json"
    config_file.write_text(
        json.dumps(
            {
                "backend": {
                    "module": "medallion.backends.memory_backend",
                    "module_class": "MemoryBackend",
                    "filename": str(data_file),
                    # Its next-page sessions: kept while the slowest pull lasts.
                    "session_timeout": 3600,
                },
                "users": {MEDALLION_USER: MEDALLION_PASSWORD},
                "taxii": {"max_page_size": LARGEST_PAGE},
            }
        )
    )

    def command(port: int) -> list[str]:
        root = f"http://127.0.0.1:{port}/{MEDALLION_ROOT}/"
        data = {
            "/discovery": {
                "title": "medallion, benchmark baseline",
                "description": "The node's STIX objects in medallion's memory backend",
                "default": root,
                "api_roots": [root],
            },
            MEDALLION_ROOT: {
                "information": {
                    "title": "Benchmark",
                    "description": "Benchmark baseline",
                    "versions": [TAXII_MEDIA_TYPE],
                    "max_content_length": 100_000_000,
                },
                "status": [],
                "collections": [medallion_collection(objects, MEDALLION_COLLECTION)],
            },
        }
        data_file.write_text(json.dumps(data))
        return [str(MEDALLION), "--host", "127.0.0.1", "--port", str(port), str(config_file)]

    def ready(client: httpx.Client) -> bool:
        response = client.get(
            DISCOVERY_PATH,
            headers={"Accept": TAXII_MEDIA_TYPE},
            auth=(MEDALLION_USER, MEDALLION_PASSWORD),
        )
        return response.status_code == 200

    env = {k: v for k, v in os.environ.items() if not k.startswith("TREX_")}
    server = Server("medallion", command, env, ready, directory / "medallion.log")
    try:
        yield server
    finally:
        server.stop()


# --- 2. the pulls -----------------------------------------------------------------------------


@dataclass
class Pull:
    server: str
    client: str
    per_request: int
    objects: int = 0
    pages: int = 0
    wall_s: float = 0.0
    first_page_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    collection_size: int = 0  # objects in the collection pulled

    @property
    def rate(self) -> float:
        """Objects per second over the whole pull."""
        return self.objects / self.wall_s if self.wall_s else 0.0


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer`` on every request of taxii2-client (it takes requests' auth)."""

    def __init__(self, token: str) -> None:
        self._value = f"Bearer {token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._value
        return request


@dataclass(frozen=True)
class Endpoint:
    """Where a collection is and how to call it."""

    server: Server
    discovery_url: str
    collection_id: str
    objects_url: str = ""
    token: str | None = None
    basic: tuple[str, str] | None = None

    def taxii2_client_kwargs(self) -> dict[str, Any]:
        if self.token is not None:
            return {"auth": BearerAuth(self.token)}
        if self.basic is not None:
            return {"user": self.basic[0], "password": self.basic[1]}
        return {}

    def httpx_headers(self) -> dict[str, str]:
        headers = {"Accept": TAXII_MEDIA_TYPE}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def find_collection(endpoint: Endpoint) -> Any:
    """The collection, found as a TAXII consumer finds it: discovery, API root, collections."""
    server = TaxiiServer(endpoint.discovery_url, **endpoint.taxii2_client_kwargs())
    root = server.default or server.api_roots[0]
    for collection in root.collections:
        if collection.id == endpoint.collection_id:
            return collection
    found = ", ".join(c.id for c in root.collections)
    raise BenchFailed(f"no collection {endpoint.collection_id!r} at {root.url} (found: {found})")


def pull_with_taxii2_client(
    endpoint: Endpoint, per_request: int, server_name: str
) -> tuple[Pull, list[dict[str, Any]]]:
    """A full pull with ``as_pages(collection.get_objects, per_request=N)``."""
    collection = find_collection(endpoint)
    pull = Pull(server_name, "taxii2-client", per_request)
    objects: list[dict[str, Any]] = []
    server_cpu = endpoint.server.cpu_seconds()
    client_cpu = time.process_time()
    started = time.perf_counter()
    for envelope in as_pages(collection.get_objects, per_request=per_request):
        if not pull.pages:
            pull.first_page_s = time.perf_counter() - started
        pull.pages += 1
        objects.extend(envelope.get("objects", []))
    pull.wall_s = time.perf_counter() - started
    pull.client_cpu_s = time.process_time() - client_cpu
    pull.server_cpu_s = endpoint.server.cpu_seconds() - server_cpu
    collection.close()  # its requests session: a fresh keep-alive connection per pull
    pull.objects = len(objects)
    return pull, objects


def pull_with_httpx(
    endpoint: Endpoint, per_request: int, server_name: str
) -> tuple[Pull, list[dict[str, Any]], list[str]]:
    """A full pull with plain httpx: ``limit``, then ``next`` while ``more``; JSON parsed.

    Also returns the ``next`` of every page but the last.
    """
    pull = Pull(server_name, "httpx", per_request)
    objects: list[dict[str, Any]] = []
    tokens: list[str] = []
    with httpx.Client(headers=endpoint.httpx_headers(), timeout=HTTP_TIMEOUT) as client:
        server_cpu = endpoint.server.cpu_seconds()
        client_cpu = time.process_time()
        started = time.perf_counter()
        params: dict[str, str | int] = {"limit": per_request}
        while True:
            response = client.get(endpoint.objects_url, params=params)
            if response.status_code != 200:
                raise BenchFailed(f"GET {response.url}: {response.status_code} {response.text}")
            envelope = response.json()
            if not pull.pages:
                pull.first_page_s = time.perf_counter() - started
            pull.pages += 1
            objects.extend(envelope.get("objects", []))
            if not envelope.get("more"):
                break
            tokens.append(envelope["next"])
            params = {"limit": per_request, "next": envelope["next"]}
        pull.wall_s = time.perf_counter() - started
        pull.client_cpu_s = time.process_time() - client_cpu
        pull.server_cpu_s = endpoint.server.cpu_seconds() - server_cpu
    pull.objects = len(objects)
    return pull, objects, tokens


def _same_objects(
    label: str, objects: list[dict[str, Any]], reference: list[dict[str, Any]]
) -> None:
    """Raise unless ``objects`` are ``reference``'s, each once (the order may differ)."""
    ids = [(o["id"], o.get("modified")) for o in objects]
    if len(set(ids)) != len(ids):
        raise BenchFailed(f"{label}: {len(ids) - len(set(ids))} objects came more than once")
    if sorted(ids) != sorted((o["id"], o.get("modified")) for o in reference):
        raise BenchFailed(f"{label}: {len(ids)} objects, not the {len(reference)} expected")


# --- the run ----------------------------------------------------------------------------------


@dataclass
class MedallionResult:
    installed: bool = False
    skipped: str = ""  # why it was not run, when it was not
    pulls: list[Pull] = field(default_factory=list)
    projected_first_page_s: float = 0.0  # for every object of the node's pull
    left_out: Counter[str] = field(default_factory=Counter)  # objects it cannot serve, by type
    servable: int = 0  # the node's objects less those left out


@dataclass
class Result:
    count: int
    batch: int
    load: LoadStats = field(default_factory=LoadStats)
    collection_id: str = ""
    types: Counter[str] = field(default_factory=Counter)
    pulls: list[Pull] = field(default_factory=list)
    pages: dict[str, Timing] = field(default_factory=dict)
    deep_page: int = 0
    settle_s: float = 0.0  # waiting for the started node's CPU to go quiet (its index build)
    medallion: MedallionResult = field(default_factory=MedallionResult)

    @property
    def objects(self) -> int:
        return sum(self.types.values())


def _time_pages(
    endpoint: Endpoint,
    tokens: list[str],
    result: Result,
    *,
    warmup: int,
    runs: int,
    budget_s: float,
) -> None:
    """Single pages on one keep-alive connection: first and middle at 100, first at the most."""
    deep = tokens[len(tokens) // 2] if tokens else None
    result.deep_page = len(tokens) // 2 + 2 if tokens else 1
    with httpx.Client(headers=endpoint.httpx_headers(), timeout=HTTP_TIMEOUT) as client:

        def page(params: dict[str, str | int]) -> Callable[[], object]:
            def call() -> None:
                response = client.get(endpoint.objects_url, params=params)
                if response.status_code != 200:
                    raise BenchFailed(f"GET {response.url}: {response.status_code}")
                response.json()

            return call

        cases: dict[str, Callable[[], object]] = {
            "first_small": page({"limit": SMALL_PAGE}),
            "deep_small": page(
                {"limit": SMALL_PAGE} if deep is None else {"limit": SMALL_PAGE, "next": deep}
            ),
            "first_large": page({"limit": LARGEST_PAGE}),
        }
        result.pages = time_interleaved(cases, warmup=warmup, runs=runs, budget_s=budget_s)


def _pull_trex(
    endpoint: Endpoint, result: Result, log: Log
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every pull ``PULL_ROUNDS`` times, the two clients alternating; the fastest of each kept.

    Returns the objects pulled and the ``next`` of every page at 100 per request.
    """
    reference: list[dict[str, Any]] = []
    tokens: list[str] = []
    best: dict[tuple[str, int], Pull] = {}
    for per_request in PAGE_SIZES:
        for round_ in range(1, PULL_ROUNDS + 1):
            log(f"taxii: pulling from the node, {per_request} per request, round {round_} ...")
            pull, objects = pull_with_taxii2_client(endpoint, per_request, "trex")
            reference = reference or objects
            _same_objects(f"trex, taxii2-client, {per_request} per request", objects, reference)
            pulls = [pull]
            pull, objects, tokens_now = pull_with_httpx(endpoint, per_request, "trex")
            _same_objects(f"trex, httpx, {per_request} per request", objects, reference)
            pulls.append(pull)
            if per_request == SMALL_PAGE:
                tokens = tokens_now
            for pull in pulls:
                key = (pull.client, per_request)
                if key not in best or pull.wall_s < best[key].wall_s:
                    best[key] = pull
    for pull in best.values():
        pull.collection_size = len(reference)
    result.pulls.extend(best.values())
    return reference, tokens


def _medallion_sizes(total: int) -> list[int]:
    return [size for size in MEDALLION_SIZES if size < total] + [total]


def _pull_medallion(
    endpoint: Endpoint, objects: list[dict[str, Any]], per_request: int, log: Log
) -> Pull:
    """The fastest of ``PULL_ROUNDS`` pulls of medallion's collection, as the node's are."""
    size = len(objects)
    pulls = []
    for round_ in range(1, PULL_ROUNDS + 1):
        log(f"taxii: medallion, {size:,} objects, {per_request} per request, round {round_} ...")
        pull, received = pull_with_taxii2_client(endpoint, per_request, "medallion")
        _same_objects(f"medallion, {size:,} objects", received, objects)
        pull.collection_size = size
        pulls.append(pull)
    return min(pulls, key=lambda p: p.wall_s)


def run_medallion(objects: list[dict[str, Any]], directory: Path, log: Log) -> MedallionResult:
    """medallion on prefixes of ``objects``, growing while its first page fits the budget."""
    result = MedallionResult(installed=medallion_installed())
    if not result.installed:
        result.skipped = "medallion is not installed (the 'bench' extra: pip install -e '.[bench]')"
        return result
    # medallion 3.0 takes an object's ``version`` property for a manifest's version timestamp:
    # an extension-definition (whose ``version`` is its semantic version) makes every page of
    # the collection fail with 500. It predates extension definitions; those are left out.
    result.left_out = Counter(o["type"] for o in objects if "version" in o)
    objects = [o for o in objects if "version" not in o]
    result.servable = len(objects)
    sizes = _medallion_sizes(len(objects))
    seconds_per_square = 0.0
    for number, size in enumerate(sizes):
        prefix = objects[:size]
        with serve_medallion(prefix, directory) as server:
            endpoint = Endpoint(
                server,
                server.url + DISCOVERY_PATH,
                MEDALLION_COLLECTION,
                basic=(MEDALLION_USER, MEDALLION_PASSWORD),
            )
            pull = _pull_medallion(endpoint, prefix, LARGEST_PAGE, log)
            result.pulls.append(pull)
            seconds_per_square = pull.first_page_s / size**2
            following = sizes[number + 1] if number + 1 < len(sizes) else None
            last = following is None or seconds_per_square * following**2 > MEDALLION_PULL_BUDGET_S
            if last:  # the largest prefix pulled: at 100 per request too
                result.pulls.append(_pull_medallion(endpoint, prefix, SMALL_PAGE, log))
        if last:
            break
    result.projected_first_page_s = seconds_per_square * len(objects) ** 2
    return result


def run(
    count: int,
    *,
    batch: int,
    warmup: int,
    runs: int,
    budget_s: float,
    log: Log,
) -> Result:
    """Load ``count`` visible advisories, serve them, pull them, and pull medallion beside."""
    result = Result(count, batch)
    with sqlite_database() as url, tempfile.TemporaryDirectory(prefix="trex-bench-") as tmp:
        engine = make_engine(url)
        factory = make_session_factory(engine)
        now = utcnow()
        try:
            members = make_members(factory, now)
            log(f"taxii: loading {count:,} clear/green advisories, {batch:,} per transaction ...")
            result.load = load_visible(factory, members, count=count, batch=batch, now=now)
        finally:
            engine.dispose()
        data_dir = Path(tmp)
        with serve_trex(url, data_dir) as server:
            endpoint = Endpoint(
                server,
                server.url + DISCOVERY_PATH,
                MAIN_COLLECTION,
                token=members.reader_token,
            )
            collection = find_collection(endpoint)
            collection.close()
            result.collection_id = collection.id
            endpoint = replace(endpoint, objects_url=collection.objects_url)
            log("taxii: waiting for the node to settle, then one untimed pull ...")
            result.settle_s = server.settle()
            pull_with_httpx(endpoint, LARGEST_PAGE, "trex")
            objects, tokens = _pull_trex(endpoint, result, log)
            result.types = Counter(o["type"] for o in objects)
            log("taxii: timing single pages ...")
            _time_pages(endpoint, tokens, result, warmup=warmup, runs=runs, budget_s=budget_s)
        result.medallion = run_medallion(objects, data_dir, log)
    return result


# --- the report -------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"


def report(result: Result) -> list[str]:
    """The result as plain-text tables."""
    title = f"TAXII 2.1: a full pull of {result.load.advisories:,} advisories"
    types = ", ".join(f"{n:,} {t}" for t, n in sorted(result.types.items(), key=lambda i: -i[1]))
    lines = [
        title,
        "=" * len(title),
        f"{result.load.advisories:,} published clear/green advisories "
        f"({result.load.revisions:,} revisions) on SQLite, loaded in {result.load.seconds:.1f} s "
        "(not counted);",
        "served by 'trex-node serve' (uvicorn, 1 worker) on loopback, pulled with a vetted "
        "reader's token;",
        "the node's start-up work (its screening index) let finish first "
        f"({result.settle_s:.1f} s); each pull the fastest of {PULL_ROUNDS}",
        f"collection {result.collection_id}: {result.objects:,} objects",
        f"({types})",
        "",
    ]
    header = (
        f"{'server':<10}{'client':<14}{'objects':>8}{'per req':>8}{'pages':>6}{'wall':>8}"
        f"{'objects/s':>10}{'1st page':>10}{'CPU server':>12}{'client':>8}"
    )
    lines += [header, "-" * len(header)]

    def row(pull: Pull) -> str:
        return (
            f"{pull.server:<10}{pull.client:<14}{pull.collection_size:>8,}{pull.per_request:>8,}"
            f"{pull.pages:>6,}{pull.wall_s:>7.2f}s{pull.rate:>10,.0f}{_ms(pull.first_page_s):>10}"
            f"{pull.server_cpu_s:>11.2f}s{pull.client_cpu_s:>7.2f}s"
        )

    lines += [row(pull) for pull in result.pulls]
    medallion = result.medallion
    lines += [row(pull) for pull in medallion.pulls]
    lines.append("-" * len(header))
    if medallion.skipped:
        lines.append(f"medallion: SKIPPED - {medallion.skipped}")
    lines += [
        "wall: first request to last page parsed; CPU: of the server process, and of this process",
        "(the client), during the pull",
    ]
    for per_request in PAGE_SIZES:
        theirs = _pull(result.pulls, "trex", "taxii2-client", per_request)
        plain = _pull(result.pulls, "trex", "httpx", per_request)
        if theirs is not None and plain is not None and plain.wall_s:
            lines.append(
                f"taxii2-client / httpx, wall, {per_request:,} per request: "
                f"{theirs.wall_s / plain.wall_s:.2f}x"
            )
    label_width = 60
    lines += [
        "",
        f"{'single pages from trex (httpx, keep-alive)':<{label_width}}"
        f"{'p50':>10}{'p99':>10}{'n':>6}",
    ]
    for key, label in (
        ("first_small", f"first page, limit={SMALL_PAGE}"),
        ("deep_small", f"page {result.deep_page} (by its next), limit={SMALL_PAGE}"),
        ("first_large", f"first page, limit={LARGEST_PAGE}"),
    ):
        timing = result.pages[key]
        lines.append(
            f"{label:<{label_width}}{timing.p50:>7.1f} ms{timing.p99:>7.1f} ms"
            f"{len(timing.samples):>6}"
        )
    lines += ["", *side_by_side(result)]
    return lines


def _pull(pulls: list[Pull], server: str, client: str, per_request: int) -> Pull | None:
    """The largest collection's pull by ``client`` at ``per_request``."""
    candidates = [
        p for p in pulls if (p.server, p.client, p.per_request) == (server, client, per_request)
    ]
    return max(candidates, key=lambda p: p.collection_size, default=None)


def side_by_side(result: Result) -> list[str]:
    """trex and medallion, both pulled with taxii2-client at the largest page size."""
    trex = _pull(result.pulls, "trex", "taxii2-client", LARGEST_PAGE)
    medallion = result.medallion
    lines = [f"side by side, taxii2-client at {LARGEST_PAGE:,} per request:"]
    if trex is not None:
        lines.append(
            f"  trex       {trex.rate:>9,.0f} objects/s over all {trex.collection_size:,} objects"
        )
    if medallion.skipped:
        lines.append(f"  medallion  not run: {medallion.skipped}")
        return lines
    theirs = _pull(medallion.pulls, "medallion", "taxii2-client", LARGEST_PAGE)
    if trex is None or theirs is None:
        return lines
    lines.append(
        f"  medallion  {theirs.rate:>9,.0f} objects/s over the first {theirs.collection_size:,} "
        "of the same objects (memory backend)"
    )
    if theirs.rate:
        lines.append(f"  trex / medallion: {trex.rate / theirs.rate:.1f}x")
    if medallion.left_out:
        left_out = ", ".join(f"{n:,} {t}" for t, n in sorted(medallion.left_out.items()))
        lines += [
            f"  left out of medallion's copy: {left_out}: medallion 3.0 reads the STIX",
            "  'version' property as a timestamp and fails every page with 500",
        ]
    if theirs.collection_size < medallion.servable:
        projected = medallion.projected_first_page_s
        lines += [
            "  medallion's first page grows with the square of the collection "
            f"({_ms(theirs.first_page_s)} at {theirs.collection_size:,}",
            f"  objects): {projected / 60:.0f} min projected for all {medallion.servable:,}, "
            f"so not pulled whole (budget {MEDALLION_PULL_BUDGET_S:.0f} s a pull)",
        ]
    lines.append(
        "  (trex: SQL, access policy and STIX mapping per page; medallion: objects held in memory)"
    )
    return lines
