"""Federation benchmark: initial sync between two real nodes on loopback, against a ceiling.

Issue 4's aims: end to end at least half of one core's raw canonicalise-and-verify rate, each
node's memory flat in the number of records (under 300 MB), and a sync with nothing new under
50 ms whatever the corpus size. All of it is measured in one run, in this one process:

1. The ceiling: ``federation.signing.verify`` (signature over the bytes, strict parse,
   re-canonicalise, compare) on signed records built from the advisory generator, one thread,
   best of a few rounds. For comparison, ``review_records`` (what the receiver does per record
   before its database: verify, the travel rule, the schema check) and what the origin pays per
   record at load (canonicalise and sign).
2. Per backend and corpus size: node ``ca`` is initialised with ``trex-node init``, loaded in
   bulk through the domain write path (``store_revisions`` with ``ca``'s key, so every revision
   is signed at load), ANALYZEd on PostgreSQL, and served by ``trex-node serve`` on a free
   loopback port; node ``uk`` is initialised, the two pin each other's keys (``peers add``) and
   both configure the ``five-eyes`` group (``groups add``). The initial sync is ``trex-node sync
   --once --peer ca`` as its own process, timed end to end from spawn to exit. Every record is
   shareable (published or later withdrawn, clear, green or amber, scoped to ``five-eyes``), so
   each one crosses. Both processes' resident memory is polled every 50 ms with psutil, and
   their CPU time is read (``wait4`` for the sync, psutil for the server). The machine may be
   shared, so the ceiling is measured again just before and after each sync, and the sync is
   compared with that too.
3. The sync with nothing new: ``trex-node sync --once`` again (its wall time is mostly the
   command's start-up, measured apart with ``trex-node --help``), then in this process
   ``federation.sync.pull`` on an open ``PeerClient`` with ``uk``'s ``DatabaseStore`` (the
   pull itself: one signed feed request, one commit), and ``SyncRunner.pull_peer`` (what each
   pass of the sync loop does per peer: it also reads the key ring and opens a client).
"""

from __future__ import annotations

import gc
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.advisories import analyze
from bench.data import ORGS, GeneratedAdvisory, generate
from bench.load import LoadStats, make_members, new_revisions
from bench.timing import Timing, time_calls
from federation.canonical import canonical_text
from federation.keys import KeyRing, NodeKey, PinnedKeys, b64url_encode
from federation.policy import Groups
from federation.signing import SignedRecord, sign_payload, verify
from federation.sync import Peer, PeerClient, pull, review_records
from service.advisories.models import AdvisoryRevision
from service.advisories.service import allocate_sequence, store_revisions
from service.db import make_engine, make_session_factory, transaction, utcnow
from service.peering.runner import SyncRunner
from service.peering.service import NodeKeys
from service.peering.store import DatabaseStore, received_revision_problem

ORIGIN = "ca"
RECEIVER = "uk"
GROUP = "five-eyes"
TREX_NODE = Path(sys.executable).parent / "trex-node"
AIM_SHARE_OF_CEILING = 0.5
AIM_PEAK_MB = 300.0
AIM_NOOP_MS = 50.0
# Memory counts as flat when the largest corpus's peak is within this of the smallest one's.
FLAT_TOLERANCE = 0.25
POLL_SECONDS = 0.05
READY_TIMEOUT = 60.0
SYNC_TIMEOUT = 3600.0
# What may not leave a node (SPEC section 5) becomes what may: every generated record crosses.
_SHAREABLE_TLP = {"amber+strict": "amber", "red": "amber"}
_MB = 1024 * 1024

Log = Callable[[str], None]


class SyncFailed(RuntimeError):
    """The nodes did not do what the benchmark needs (start, sync everything, then nothing)."""


# --- the records ------------------------------------------------------------------------------


def _shareable(item: GeneratedAdvisory, origin: str) -> GeneratedAdvisory:
    """``item`` as ``origin`` would publish it to ``five-eyes``: published (a tenth of the
    advisories later withdrawn, as generated), TLP clear, green or amber, scope naming the group.
    """
    first = item.revisions[0]
    published_at = first["published_at"] or first["updated_at"]
    revisions = []
    for document in item.revisions:
        tlp = _SHAREABLE_TLP.get(document["tlp"], document["tlp"])
        scope = document["scope"] if GROUP in document["scope"] else [GROUP, *document["scope"]]
        revisions.append(
            {
                **document,
                "origin": origin,
                "tlp": tlp,
                "audience": [] if tlp != document["tlp"] else document["audience"],
                "scope": scope,
                "status": "published" if document["status"] == "draft" else document["status"],
                "published_at": published_at,
            }
        )
    return GeneratedAdvisory(tuple(revisions), item.contributor_org, item.author_email)


def corpus(count: int, org_ids: dict[str, str]) -> Iterator[GeneratedAdvisory]:
    """``count`` advisories of ``ca``, every revision shareable with ``uk``."""
    for item in generate(count, org_ids):
        yield _shareable(item, ORIGIN)


def _chunks(items: Iterator[GeneratedAdvisory], size: int) -> Iterator[list[GeneratedAdvisory]]:
    chunk: list[GeneratedAdvisory] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- 1. the ceiling ---------------------------------------------------------------------------


@dataclass
class Ceiling:
    records: int = 0
    payload_bytes: float = 0.0  # mean
    verify_rates: list[float] = field(default_factory=list)  # records/s, one per round
    review_rate: float = 0.0  # best round
    sign_rate: float = 0.0
    startup: Timing | None = None  # `trex-node --help`, ms
    startup_cpu_s: float = 0.0  # median
    sample: list[SignedRecord] = field(default_factory=list, repr=False)
    keys: PinnedKeys = field(default_factory=PinnedKeys, repr=False)

    @property
    def rate(self) -> float:
        return max(self.verify_rates, default=0.0)

    def verify_sample(self, count: int = 2_000) -> float:
        """The verify rate now, on part of the sample: the machine is shared, and its load
        changes over a run, so each sync is also compared with the ceiling measured beside it."""
        records = self.sample[:count]
        return _rate(len(records), lambda: _verify_all(records, self.keys))


def _rate(count: int, call: Callable[[], object]) -> float:
    gc.collect()
    started = time.perf_counter()
    call()
    return count / (time.perf_counter() - started)


def _verify_all(records: list[SignedRecord], keys: PinnedKeys) -> None:
    for record in records:
        verify(record, keys)


def measure_ceiling(count: int, *, rounds: int, log: Log) -> Ceiling:
    """One core's verify rate on ``count`` advisories' signed revisions (best of ``rounds``)."""
    org_ids = {spec.name: f"org-{number}" for number, spec in enumerate(ORGS)}
    documents = [d for item in corpus(count, org_ids) for d in item.revisions]
    key = NodeKey.generate(ORIGIN, f"{ORIGIN}-bench", not_before=utcnow())
    keys = PinnedKeys([key.public])
    log(f"ceiling: {len(documents):,} records, verify() x {rounds} ...")
    result = Ceiling(records=len(documents), keys=keys)
    signed = result.sample
    result.sign_rate = _rate(
        len(documents),
        lambda: signed.extend(sign_payload(canonical_text(d), key) for d in documents),
    )
    result.payload_bytes = sum(len(r.payload.encode()) for r in signed) / len(signed)
    raw = [r.to_json() for r in signed]
    groups = Groups.of({GROUP: {ORIGIN, RECEIVER}})

    def review_all() -> None:
        batch = review_records(
            raw,
            sender=ORIGIN,
            receiver=RECEIVER,
            keys=keys,
            groups=groups,
            held={},
            check_document=received_revision_problem,
        )
        if len(batch.accepted) != len(raw):
            raise RuntimeError(f"review_records refused {batch.rejected[:1]}")

    reviews = []
    for _ in range(rounds):  # interleaved, so load from elsewhere falls on both alike
        result.verify_rates.append(_rate(len(signed), lambda: _verify_all(signed, keys)))
        reviews.append(_rate(len(raw), review_all))
    result.review_rate = max(reviews)
    cpu: list[float] = []

    def start_up() -> None:
        process = subprocess.Popen([str(TREX_NODE), "--help"], stdout=subprocess.DEVNULL)
        cpu.append(_reap(process))

    result.startup = time_calls(start_up, warmup=1, runs=3, budget_s=30)
    result.startup_cpu_s = sorted(cpu)[len(cpu) // 2]
    return result


# --- node processes ---------------------------------------------------------------------------


def _run(args: list[str], env: Mapping[str, str]) -> str:
    result = subprocess.run(args, env=dict(env), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SyncFailed(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Node:
    node_id: str
    data_dir: Path
    database_url: str
    settings: dict[str, str] = field(default_factory=dict)  # TREX_* beyond the usual ones
    port: int = field(default_factory=_free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        # Nothing of the caller's TREX_* settings: each node has only its own.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TREX_")}
        env.update(
            TREX_DATA_DIR=str(self.data_dir),
            TREX_DATABASE_URL=self.database_url,
            TREX_PUBLIC_URL=self.url,
            TREX_SYNC_INTERVAL_SECONDS="0",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.settings)
        return env

    def run(self, *args: str) -> str:
        return _run([str(TREX_NODE), *args], self.env)

    def init(self) -> KeyRing:
        self.run(
            "init", "--node-id", self.node_id, "--name", f"Node {self.node_id}", "--country", "CA"
        )
        return KeyRing.load(self.data_dir)


class MemoryPoller:
    """The peak resident memory of some processes (children included), polled in a thread."""

    def __init__(self, pids: Mapping[str, int], *, every: float = POLL_SECONDS) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peaks = dict.fromkeys(pids, 0)
        self.first = dict.fromkeys(pids, 0)
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="rss-poller", daemon=True)

    def _rss(self, process: psutil.Process) -> int:
        try:
            total = process.memory_info().rss
            for child in process.children(recursive=True):
                total += child.memory_info().rss
        except psutil.Error:  # the process ended between two polls
            return 0
        return int(total)

    def _poll(self) -> None:
        while True:
            for name, process in self._processes.items():
                rss = self._rss(process)
                self.first[name] = self.first[name] or rss
                self.peaks[name] = max(self.peaks[name], rss)
            if self._stop.wait(self._every):
                return

    def __enter__(self) -> MemoryPoller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _reap(process: subprocess.Popen[bytes]) -> float:
    """Wait for ``process`` and return the CPU seconds it used (user and system).

    Not its ``ru_maxrss``: that counts the forked copy of this process before the exec.
    """
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return float(usage.ru_utime + usage.ru_stime)


class _PortTaken(Exception):
    pass


class Served:
    """``trex-node serve`` for one node, until ``stop``."""

    def __init__(self, node: Node, log_path: Path, *, attempts: int = 3) -> None:
        self.node = node
        self._log = log_path
        for attempt in range(1, attempts + 1):
            self.process = self._start()
            try:
                self._wait_ready()
                return
            except _PortTaken:
                # Another process took the free port before the node bound it: pick another
                # (before any peer is told the node's URL).
                if attempt == attempts:
                    raise SyncFailed(f"no free port after {attempts} tries") from None
                node.port = _free_port()
            except BaseException:
                self.stop()
                raise

    def _start(self) -> subprocess.Popen[bytes]:
        with self._log.open("ab") as sink:
            return subprocess.Popen(
                [str(TREX_NODE), "serve", "--host", "127.0.0.1", "--port", str(self.node.port)],
                env=self.node.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        with httpx.Client(base_url=self.node.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    output = self._log.read_text(errors="replace")
                    if "address already in use" in output.lower():
                        raise _PortTaken
                    raise SyncFailed(f"{self.node.node_id} exited:\n{output}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise SyncFailed(f"{self.node.node_id} not ready:\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def _signal(self, number: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, number)

    def stop(self) -> None:
        if self.process.returncode is not None:
            return
        self._signal(signal.SIGTERM)
        timer = threading.Timer(10.0, self._signal, (signal.SIGKILL,))
        timer.start()
        try:
            _reap(self.process)
        finally:
            timer.cancel()


# --- 2. one initial sync ----------------------------------------------------------------------


@dataclass
class SyncCase:
    advisories: int
    page: int
    load: LoadStats = field(default_factory=LoadStats)
    sent: int = 0  # revisions at the origin, every one shareable
    accepted: int = 0
    rejected: int = 0
    held: int = 0  # revisions at the receiver afterwards
    wall_s: float = 0.0
    ceiling_beside: float = 0.0  # verify() records/s, mean of just before and just after
    receiver_cpu_s: float = 0.0
    origin_cpu_s: float = 0.0  # during the sync
    receiver_peak: int = 0  # polled
    origin_idle: int = 0  # first poll, before the sync's first request
    origin_peak: int = 0
    noop_cli_s: float = 0.0
    noop_pull: Timing | None = None
    noop_pull_peer: Timing | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.accepted / self.wall_s if self.wall_s else 0.0


def load_origin(
    factory: sessionmaker[Session], ring: KeyRing, *, count: int, batch: int
) -> tuple[LoadStats, int]:
    """``count`` advisories into ``ca``, ``batch`` per transaction, signed as they are stored."""
    now = utcnow()
    members = make_members(factory, now)
    stats = LoadStats()
    chunks = _chunks(corpus(count, members.org_ids), batch)
    while True:
        started = time.perf_counter()
        chunk = next(chunks, None)
        stats.generate_seconds += time.perf_counter() - started
        if chunk is None:
            return stats, stats.revisions
        started = time.perf_counter()
        revisions = new_revisions(chunk, members)
        with transaction(factory) as session:
            highest = allocate_sequence(session, len(revisions))
            store_revisions(
                session,
                revisions,
                first_seq=highest - len(revisions) + 1,
                now=now,
                key=ring.current,
            )
        elapsed = time.perf_counter() - started
        stats.seconds += elapsed
        stats.batches.append(elapsed)
        stats.advisories += len(chunk)
        stats.revisions += len(revisions)


def _revisions(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(AdvisoryRevision)).scalar() or 0
        )


_SYNC_LINE = re.compile(r"^(?P<peer>\S+): (?P<accepted>\d+) accepted, (?P<rejected>\d+) rejected")


def _sync_counts(output: str) -> tuple[int, int]:
    for line in output.splitlines():
        match = _SYNC_LINE.match(line.strip())
        if match and match["peer"] == ORIGIN:
            return int(match["accepted"]), int(match["rejected"])
    raise SyncFailed(f"no result for {ORIGIN} in the sync's output:\n{output}")


def timed_sync(
    receiver: Node, origin: Served, work: Path
) -> tuple[float, MemoryPoller, float, str]:
    """``trex-node sync --once --peer ca`` on ``uk``: wall seconds, memory, CPU seconds, output."""
    out = work / "sync.out"
    with out.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(TREX_NODE), "sync", "--once", "--peer", ORIGIN],
            env=receiver.env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        with MemoryPoller({"receiver": process.pid, "origin": origin.process.pid}) as memory:
            timer = threading.Timer(SYNC_TIMEOUT, process.kill)
            timer.start()
            try:
                cpu = _reap(process)
            finally:
                timer.cancel()
            wall = time.perf_counter() - started
    output = out.read_text(encoding="utf-8", errors="replace")
    if process.returncode != 0:
        raise SyncFailed(
            f"sync exited {process.returncode}:\n{output}\n"
            f"{ORIGIN}'s log ends:\n{origin.log_tail()}"
        )
    return wall, memory, cpu, output


def time_noop(
    receiver: Node, origin: Node, *, page: int, warmup: int, runs: int
) -> tuple[Timing, Timing]:
    """The pull with nothing new, in this process: ``pull`` on an open client, and the loop's
    per-peer step (``SyncRunner.pull_peer``), each as a median of ``runs``."""
    engine = make_engine(receiver.database_url)
    factory = make_session_factory(engine)
    store = DatabaseStore(factory, node_id=RECEIVER)
    ring = KeyRing.load(receiver.data_dir)
    peer = Peer(ORIGIN, origin.url)
    runner = SyncRunner(
        engine=engine,
        factory=factory,
        data_dir=receiver.data_dir,
        node_id=RECEIVER,
        node_keys=NodeKeys(receiver.data_dir, RECEIVER, now=utcnow()),
        page_size=page,
    )

    def nothing_new() -> None:
        result = pull(peer, store, client, limit=page)
        if result.accepted or result.pages != 1:
            raise SyncFailed(f"a sync with nothing new did work: {result}")

    def pull_peer() -> None:
        outcome = runner.pull_peer(peer)
        if outcome.error is not None or outcome.result is None or outcome.result.accepted:
            raise SyncFailed(f"a sync with nothing new did work: {outcome}")

    try:
        with PeerClient(peer, key=ring.current, peer_keys=store.pinned_keys()) as client:
            pulled = time_calls(nothing_new, warmup=warmup, runs=runs, budget_s=30)
        stepped = time_calls(pull_peer, warmup=warmup, runs=runs, budget_s=30)
    finally:
        engine.dispose()
    return pulled, stepped


def run_case(
    backend: str,
    database: Callable[[], AbstractContextManager[str]],
    ceiling: Ceiling,
    *,
    count: int,
    batch: int,
    page: int,
    noop_runs: int,
    log: Log,
) -> SyncCase:
    """Two fresh nodes on ``backend``; ``count`` advisories loaded into ``ca``, synced to ``uk``."""
    case = SyncCase(count, page)
    with (
        tempfile.TemporaryDirectory(prefix="trex-bench-fed-") as work_dir,
        database() as origin_url,
        database() as receiver_url,
    ):
        work = Path(work_dir)
        settings = {"TREX_SYNC_PAGE_SIZE": str(page)}
        origin = Node(ORIGIN, work / ORIGIN, origin_url, settings)
        receiver = Node(RECEIVER, work / RECEIVER, receiver_url, settings)
        origin_ring = origin.init()
        receiver_ring = receiver.init()
        engine = make_engine(origin_url)
        try:
            log(f"{backend} {count:,}: loading {ORIGIN} ({batch:,} advisories per transaction) ...")
            case.load, case.sent = load_origin(
                make_session_factory(engine), origin_ring, count=count, batch=batch
            )
            if _revisions(engine) != case.sent:
                raise SyncFailed(f"{ORIGIN} holds {_revisions(engine)}, not {case.sent}")
            if engine.dialect.name == "postgresql":
                analyze(engine)
                case.notes.append(f"ANALYZE was run on {ORIGIN} after the load")
        finally:
            engine.dispose()
        members = ("--member", ORIGIN, "--member", RECEIVER)
        for node in (origin, receiver):
            node.run("groups", "add", GROUP, *members)
        # ca only needs uk's key (uk pulls, ca serves); uk pins ca's key and pulls from its URL.
        receiver_key = receiver_ring.current.public
        origin.run(
            *("peers", "add", RECEIVER, "--kid", receiver_key.kid),
            *("--public-key", b64url_encode(receiver_key.public_key)),
        )
        served = Served(origin, work / "serve.log")
        try:
            receiver.run(
                *("peers", "add", ORIGIN, "--url", origin.url),
                *("--public-key", b64url_encode(origin_ring.current.public.public_key)),
            )
            log(f"{backend} {count:,}: trex-node sync --once ({case.sent:,} records) ...")
            before = ceiling.verify_sample()
            origin_cpu = served.cpu_seconds()
            case.wall_s, memory, case.receiver_cpu_s, output = timed_sync(receiver, served, work)
            case.origin_cpu_s = served.cpu_seconds() - origin_cpu
            case.ceiling_beside = (before + ceiling.verify_sample()) / 2
            case.accepted, case.rejected = _sync_counts(output)
            case.receiver_peak = memory.peaks["receiver"]
            case.origin_idle = memory.first["origin"]
            case.origin_peak = memory.peaks["origin"]
            log(
                f"{backend} {count:,}: synced in {case.wall_s:.1f} s; the sync with nothing new ..."
            )
            started = time.perf_counter()
            again = receiver.run("sync", "--once", "--peer", ORIGIN)
            case.noop_cli_s = time.perf_counter() - started
            if _sync_counts(again)[0] != 0:
                raise SyncFailed(f"a second sync accepted records:\n{again}")
            case.noop_pull, case.noop_pull_peer = time_noop(
                receiver, origin, page=page, warmup=3, runs=noop_runs
            )
        finally:
            served.stop()
        engine = make_engine(receiver_url)
        try:
            case.held = _revisions(engine)
        finally:
            engine.dispose()
    if case.held != case.sent or case.accepted != case.sent:
        raise SyncFailed(
            f"{RECEIVER} accepted {case.accepted:,} and holds {case.held:,} of the "
            f"{case.sent:,} records {ORIGIN} sent ({case.rejected:,} rejected)"
        )
    return case


@dataclass
class BackendResult:
    backend: str
    cases: list[SyncCase] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failure: str | None = None  # why the sizes after the last case did not run


def run(
    backend: str,
    database: Callable[[], AbstractContextManager[str]],
    ceiling: Ceiling,
    *,
    counts: list[int],
    batch: int,
    page: int,
    noop_runs: int,
    log: Log,
) -> BackendResult:
    """An initial sync per corpus size in ``counts``, each between two fresh nodes."""
    result = BackendResult(backend)
    for count in counts:
        try:
            case = run_case(
                backend,
                database,
                ceiling,
                count=count,
                batch=batch,
                page=page,
                noop_runs=noop_runs,
                log=log,
            )
        except SyncFailed as exc:
            # Reported with the figures so far: the rest of the run still says something.
            result.failure = f"{count:,} advisories: {exc}"
            log(f"{backend} {count:,}: FAILED")
            break
        result.cases.append(case)
        result.notes.extend(note for note in case.notes if note not in result.notes)
    return result


# --- 3. the report ----------------------------------------------------------------------------


def _mb(value: int) -> str:
    return f"{value / _MB:.0f} MB"


def report_ceiling(ceiling: Ceiling) -> list[str]:
    title = "Federation: one core's canonicalise-and-verify rate (the ceiling)"
    width = 66
    rounds = ", ".join(f"{rate:,.0f}" for rate in ceiling.verify_rates)
    startup = ceiling.startup
    lines = [
        title,
        "=" * len(title),
        f"{ceiling.records:,} signed records of {ceiling.payload_bytes:,.0f} bytes on average "
        "(bench.data's advisories), one thread",
        "",
        f"{'ceiling: federation.signing.verify()':<{width}}{ceiling.rate:>10,.0f} records/s",
        f"{'':<{width}}(best of rounds: {rounds})",
        f"{'receiver, per record: review_records() (verify, travel, schema)':<{width}}"
        f"{ceiling.review_rate:>10,.0f} records/s",
        f"{'origin, per record: canonical_text() + sign (at load)':<{width}}"
        f"{ceiling.sign_rate:>10,.0f} records/s",
    ]
    if startup is not None:
        lines.append(
            f"{'trex-node start-up (trex-node --help, median)':<{width}}"
            f"{startup.p50 / 1000:>10.2f} s"
        )
        lines.append(f"{'':<{width}}({ceiling.startup_cpu_s:.2f} s of CPU)")
    return lines


def report(result: BackendResult, ceiling: Ceiling, *, title: str) -> list[str]:
    """The syncs on one backend as a table, one column per corpus size."""
    cases = result.cases
    if not cases:
        return [title, "=" * len(title), *_failure(result)]
    width = 54
    column = 16
    rule = "-" * (width + column * len(cases))
    startup_s = ceiling.startup.p50 / 1000 if ceiling.startup else 0.0

    def row(label: str, cells: list[str]) -> str:
        return f"{label:<{width}}" + "".join(f"{cell:>{column}}" for cell in cells)

    def ms(timing: Timing | None, pick: Callable[[Timing], float]) -> str:
        return "-" if timing is None else f"{pick(timing):.1f} ms"

    def per_record(seconds: float, c: SyncCase) -> str:
        return f"{seconds / max(c.accepted, 1) * 1e6:,.0f} us"

    rows: list[tuple[str, Callable[[SyncCase], str]]] = [
        ("records sent by ca (revisions, all shareable)", lambda c: f"{c.sent:,}"),
        ("records accepted by uk (rejected)", lambda c: f"{c.accepted:,} ({c.rejected})"),
        ("initial sync: trex-node sync --once, wall", lambda c: f"{c.wall_s:.1f} s"),
        ("  records/s end to end", lambda c: f"{c.rate:,.0f}"),
        (
            "  records/s without the command's start-up",
            lambda c: f"{c.accepted / max(c.wall_s - startup_s, 1e-9):,.0f}",
        ),
        ("  end to end / ceiling at the start", lambda c: f"{c.rate / ceiling.rate:.2f}"),
        ("  ceiling beside this sync (verify(), records/s)", lambda c: f"{c.ceiling_beside:,.0f}"),
        ("  end to end / ceiling beside this sync", lambda c: f"{c.rate / c.ceiling_beside:.2f}"),
        (
            "CPU per record, receiver (the sync, less start-up)",
            lambda c: per_record(c.receiver_cpu_s - ceiling.startup_cpu_s, c),
        ),
        ("  for comparison: verify() alone, beside", lambda c: f"{1e6 / c.ceiling_beside:,.0f} us"),
        (
            "CPU per record, origin (serve, during the sync)",
            lambda c: per_record(c.origin_cpu_s, c),
        ),
        ("peak RSS, receiver (the sync process)", lambda c: _mb(c.receiver_peak)),
        ("peak RSS, origin (trex-node serve)", lambda c: _mb(c.origin_peak)),
        ("  idle, before the sync", lambda c: _mb(c.origin_idle)),
        ("sync with nothing new: trex-node sync --once, wall", lambda c: f"{c.noop_cli_s:.2f} s"),
        ("  pull() in-process, open client: p50", lambda c: ms(c.noop_pull, lambda t: t.p50)),
        (
            "  pull() in-process, open client: max",
            lambda c: ms(c.noop_pull, lambda t: t.samples[-1]),
        ),
        (
            "  SyncRunner.pull_peer() in-process: p50",
            lambda c: ms(c.noop_pull_peer, lambda t: t.p50),
        ),
        ("load of ca: store_revisions, signed, advisories/s", lambda c: f"{c.load.rate:,.0f}"),
    ]
    lines = [
        title,
        "=" * len(title),
        f"initial sync {ORIGIN} -> {RECEIVER} on loopback, each node its own process and "
        f"database, feed pages of {cases[0].page if cases else 0}",
        "",
        row("measure", [f"{c.advisories:,} adv." for c in cases]),
        rule,
        *(row(label, [cell(c) for c in cases]) for label, cell in rows),
        rule,
    ]
    lines.extend(_verdicts(cases, ceiling))
    lines.extend(f"note: {note}" for note in result.notes)
    lines.extend(_failure(result))
    return lines


def _failure(result: BackendResult) -> list[str]:
    if result.failure is None:
        return []
    first, *rest = [line for line in result.failure.splitlines() if line.strip()]
    return [f"FAILED at {first}", *(f"    {line}" for line in rest[:20])]


def _verdicts(cases: list[SyncCase], ceiling: Ceiling) -> list[str]:
    if not cases:
        return []
    largest, smallest = cases[-1], cases[0]
    share = largest.rate / largest.ceiling_beside
    lines = [
        f"aim, end to end at least {AIM_SHARE_OF_CEILING:.0%} of the ceiling: "
        f"{'met' if share >= AIM_SHARE_OF_CEILING else 'NOT met'} "
        f"({share:.0%} at {largest.advisories:,} advisories: {largest.rate:,.0f} of "
        f"{largest.ceiling_beside:,.0f} records/s, the ceiling measured beside that sync; "
        f"{largest.rate / ceiling.rate:.0%} of the {ceiling.rate:,.0f} at the start)"
    ]
    peaks = {
        "receiver": [c.receiver_peak for c in cases],
        "origin": [c.origin_peak for c in cases],
    }
    for name, values in peaks.items():
        under = max(values) < AIM_PEAK_MB * _MB
        growth = values[-1] / values[0] - 1 if values[0] else 0.0
        flat = len(values) < 2 or growth <= FLAT_TOLERANCE
        lines.append(
            f"aim, {name} memory flat and under {AIM_PEAK_MB:.0f} MB: "
            f"{'met' if under and flat else 'NOT met'} "
            f"({' -> '.join(_mb(v) for v in values)}"
            + (
                f", {growth:+.0%} from {smallest.advisories:,} to {largest.advisories:,} advisories"
                if len(values) > 1
                else ""
            )
            + ")"
        )
    worst = max((c.noop_pull.p50 for c in cases if c.noop_pull), default=float("nan"))
    lines.append(
        f"aim, a sync with nothing new under {AIM_NOOP_MS:.0f} ms at every size: "
        f"{'met' if worst < AIM_NOOP_MS else 'NOT met'} (pull() p50 at most {worst:.1f} ms "
        "in-process; the trex-node command adds its start-up)"
    )
    return lines
