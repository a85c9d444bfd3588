"""``make loadtest``: mixed traffic at a fixed rate against a node on PostgreSQL, on loopback.

A fresh PostgreSQL database gets the benchmark's members and ``--advisories`` synthetic
advisories; ``trex-node serve`` (``--workers``) serves it on a free loopback port; then for
``--seconds`` requests are *started* at ``--rate`` per second whatever the answers take (an open
loop: a slow server meets the same arrivals and queues them, as it would in production), after
``--warmup`` seconds of the same traffic that are reported on their own line and not counted (a
node just started opens its database connections and prepares its statements as the first
requests come):

- 60 % advisory lists (``GET /v1/advisories`` with a filter, 50 per page),
- 30 % single-name screens (``GET /v1/screen``, names from the screening evaluation set),
- 10 % batch screens (``POST /v1/screen/batch``, 20 names each).

It prints throughput, p50/p99 per kind and every error (any status other than 200, or no
answer). The aim (issue 8): no errors and p99 under 100 ms at 200 requests per second on
2 cores. Not part of ``make test``: it takes a minute and needs the machine to itself.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import psutil

from bench.advisories import analyze
from bench.databases import Unavailable, postgres_database
from bench.keepalive import Connection, ProtocolError
from bench.load import Members, load, make_members
from bench.taxii import Server, serve_trex
from bench.timing import Timing
from service.db import make_engine, make_session_factory, utcnow
from service.screening.evaluation import load_cases

MIX = (("list", 0.6), ("screen", 0.3), ("batch", 0.1))
BATCH_NAMES = 20
CONNECTIONS = 200
"""Keep-alive connections to the node at most: a second of backlog at the aimed rate."""
TIMEOUT_SECONDS = 10.0
"""An answer not complete this long after it was sent counts as an error."""
LIST_FILTERS: tuple[dict[str, str], ...] = (
    {"country": "CN"},
    {"risk": "high"},
    {"country": "CN", "risk": "very_high"},
    {"q": "university"},
    {"tier": "academia"},
    {},
)


@dataclass
class Outcome:
    kind: str
    started: float
    seconds: float
    status: int | None
    error: str = ""


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)
    wall: float = 0.0
    late_starts: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds spent during the run, by whom (``CpuMeter``)."""


def _postgres_cpu_seconds() -> float:
    """User and system CPU time of every PostgreSQL process on the machine so far."""
    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] != "postgres":
            continue
        with suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


@contextmanager
def cpu_meter(server: Server) -> Iterator[dict[str, float]]:
    """A dict, filled as the block ends with the CPU seconds the node, PostgreSQL and this
    generator spent during it.

    A run that misses its aim says so, not where the CPU went; these split it, per request.
    PostgreSQL's figure counts every PostgreSQL process, its background writers included.
    """
    generator = psutil.Process()

    def now() -> dict[str, float]:
        own = generator.cpu_times()
        return {
            "node": server.cpu_seconds(),
            "postgres": _postgres_cpu_seconds(),
            "generator": own.user + own.system,
        }

    spent: dict[str, float] = {}
    before = now()
    yield spent
    after = now()
    spent.update({who: after[who] - before[who] for who in before})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--warmup", type=float, default=10.0, help="seconds of traffic before the measured run"
    )
    parser.add_argument("--rate", type=float, default=200.0, help="requests started per second")
    parser.add_argument("--advisories", type=int, default=10_000)
    parser.add_argument(
        "--workers", type=int, default=3, help="uvicorn workers of the node (see docs/operators.md)"
    )
    return parser.parse_args(argv)


def _kinds(count: int, rng: random.Random) -> list[str]:
    names = [kind for kind, _ in MIX]
    weights = [share for _, share in MIX]
    return rng.choices(names, weights, k=count)


@dataclass(frozen=True)
class Request:
    """One request of the mix: ``bench.request_cost`` sends the same ones in-process."""

    method: str
    path: str
    params: dict[str, str] | None = None
    body: list[dict[str, str]] | None = None


def make_request(kind: str, rng: random.Random, names: list[str]) -> Request:
    if kind == "list":
        return Request("GET", "/v1/advisories", params={"limit": "50", **rng.choice(LIST_FILTERS)})
    if kind == "screen":
        return Request("GET", "/v1/screen", params={"q": rng.choice(names)})
    rows = [{"name": rng.choice(names)} for _ in range(BATCH_NAMES)]
    return Request("POST", "/v1/screen/batch", body=rows)


def _target(request: Request) -> str:
    return request.path + ("?" + urlencode(request.params) if request.params else "")


async def _one(
    connections: asyncio.LifoQueue[Connection], request: Request, kind: str, begun: float
) -> Outcome:
    started = time.perf_counter()
    body = None if request.body is None else json.dumps(request.body).encode()
    # Waiting for a free connection is part of the latency, as it is for any client.
    connection = await connections.get()
    try:
        answer = await asyncio.wait_for(
            connection.request(request.method, _target(request), body), TIMEOUT_SECONDS
        )
        status: int | None = answer.status
        error = "" if answer.status == 200 else answer.body[:200].decode(errors="replace")
    except (OSError, ProtocolError, TimeoutError) as exc:
        status, error = None, f"{type(exc).__name__}: {exc}"
    finally:
        connections.put_nowait(connection)
    return Outcome(kind, started - begun, time.perf_counter() - started, status, error)


async def drive(
    url: str,
    token: str,
    *,
    rate: float,
    seconds: float,
    names: list[str],
    connections: int = CONNECTIONS,
    seed: int = 20261129,
) -> Run:
    """Start ``rate`` requests a second for ``seconds``, each on its own task; wait for all.

    Each request borrows one of ``connections`` keep-alive connections (``bench.keepalive``,
    cheap on CPU), waiting when all are busy; the most recently used is lent first, so only
    as many are kept busy as the load needs.
    """
    rng = random.Random(seed)
    # The generator's own pauses would count as the node's latency: what it has loaded so far
    # (the database, the names) is left out of its garbage collections.
    gc.collect()
    gc.freeze()
    count = int(rate * seconds)
    kinds = _kinds(count, rng)
    run = Run()
    address = urlsplit(url)
    assert address.hostname is not None
    assert address.port is not None
    idle: asyncio.LifoQueue[Connection] = asyncio.LifoQueue()
    pool = [
        Connection(address.hostname, address.port, {"Authorization": f"Bearer {token}"})
        for _ in range(connections)
    ]
    for connection in pool:
        idle.put_nowait(connection)
    try:
        begun = time.perf_counter()
        tasks = []
        for number, kind in enumerate(kinds):
            due = begun + number / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.01:
                run.late_starts += 1
            request = make_request(kind, rng, names)
            tasks.append(asyncio.create_task(_one(idle, request, kind, begun)))
        run.outcomes = list(await asyncio.gather(*tasks))
        run.wall = time.perf_counter() - begun
    finally:
        for connection in pool:
            await connection.close()
    return run


def report(run: Run, *, rate: float, seconds: float, workers: int, advisories: int) -> list[str]:
    ok = [o for o in run.outcomes if o.status == 200]
    errors = [o for o in run.outcomes if o.status != 200]
    lines = [
        f"trex load test: {rate:.0f} requests/s for {seconds:.0f} s against a node on PostgreSQL "
        f"({advisories:,} advisories, {workers} uvicorn workers), loopback; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end",
        "",
        f"{'kind':<10}{'requests':>10}{'errors':>8}{'p50':>11}{'p99':>11}{'max':>11}",
        "-" * 61,
    ]
    for kind in [k for k, _ in MIX] + ["all"]:
        chosen = [o for o in run.outcomes if kind in ("all", o.kind)]
        timing = Timing(tuple(sorted(o.seconds * 1000 for o in chosen if o.status == 200)))
        failed = sum(1 for o in chosen if o.status != 200)
        if not timing.samples:
            lines.append(f"{kind:<10}{len(chosen):>10}{failed:>8}")
            continue
        lines.append(
            f"{kind:<10}{len(chosen):>10}{failed:>8}"
            f"{timing.p50:>8.1f} ms{timing.p99:>8.1f} ms{timing.samples[-1]:>8.1f} ms"
        )
    achieved = len(ok) / run.wall if run.wall else 0.0
    overall = Timing(tuple(sorted(o.seconds * 1000 for o in ok)))
    p99 = overall.p99 if overall.samples else float("inf")
    lines += [
        "-" * 61,
        f"completed {len(ok):,} of {len(run.outcomes):,} in {run.wall:.1f} s: "
        f"{achieved:.0f} answered requests/s; {run.late_starts} requests started late (>10 ms)",
        f"aim, no errors and p99 under 100 ms at {rate:.0f}/s: "
        + ("met" if not errors and p99 < 100 else "NOT met"),
    ]
    if run.cpu and ok:
        spent = ", ".join(f"{who} {1000 * cpu / len(ok):.2f}" for who, cpu in run.cpu.items())
        busy = sum(run.cpu.values()) / run.wall / (os.cpu_count() or 1) if run.wall else 0.0
        lines.append(
            f"CPU per answered request (ms): {spent}; together {busy:.0%} of the machine's CPUs"
        )
    seen = Counter((o.kind, o.status, o.error[:80]) for o in errors)
    for (kind, status, error), count in seen.most_common(10):
        lines.append(f"  error: {kind} status={status} x{count}: {error}")
    return lines


def warmup_line(warmup: Run) -> str:
    """The warm-up run in one line: not part of the figures above, its errors still count."""
    answered = sorted(o.seconds * 1000 for o in warmup.outcomes if o.status == 200)
    errors = len(warmup.outcomes) - len(answered)
    if not answered:
        return f"warm-up (not counted): {len(warmup.outcomes)} requests, {errors} errors"
    timing = Timing(tuple(answered))
    return (
        f"warm-up (not counted): {len(warmup.outcomes):,} requests in {warmup.wall:.1f} s, "
        f"{errors} errors, p50 {timing.p50:.1f} ms, p99 {timing.p99:.1f} ms"
    )


@contextmanager
def loaded_database(advisories: int) -> Iterator[tuple[str, Members]]:
    """A fresh PostgreSQL database with the benchmark's members and ``advisories`` advisories,
    analysed; dropped afterwards. ``Unavailable`` without a PostgreSQL server."""
    with postgres_database() as url:
        engine = make_engine(url)
        factory = make_session_factory(engine)
        now = utcnow()
        members = make_members(factory, now)
        print(f"... loading {advisories:,} advisories ...", file=sys.stderr, flush=True)
        load(factory, members, count=advisories, batch=1_000, now=now)
        # Planner statistics, as autovacuum would have them on a node in service: without
        # them PostgreSQL picks bitmap scans of every published advisory for a 50-row page.
        analyze(engine)
        engine.dispose()
        yield url, members


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [case.query for case in load_cases()]
    try:
        with (
            loaded_database(args.advisories) as (url, members),
            tempfile.TemporaryDirectory(prefix="trex-loadtest-") as directory,
            serve_trex(url, Path(directory), workers=args.workers) as server,
        ):
            server.settle()
            print(
                f"... {args.rate:.0f} requests/s for {args.warmup:.0f} s of warm-up, then "
                f"{args.seconds:.0f} s measured ...",
                file=sys.stderr,
                flush=True,
            )

            def traffic(seconds: float, seed: int) -> Run:
                return asyncio.run(
                    drive(
                        server.url,
                        members.reader_token,
                        rate=args.rate,
                        seconds=seconds,
                        names=names,
                        seed=seed,
                    )
                )

            warmup = traffic(args.warmup, seed=1)
            with cpu_meter(server) as cpu:
                run = traffic(args.seconds, seed=20261129)
            run.cpu = cpu
    except Unavailable as exc:
        print(f"load test needs PostgreSQL: {exc}", file=sys.stderr)
        return 1
    lines = report(
        run,
        rate=args.rate,
        seconds=args.seconds,
        workers=args.workers,
        advisories=args.advisories,
    )
    print("\n".join([*lines, warmup_line(warmup)]))
    return 0 if all(o.status == 200 for o in [*warmup.outcomes, *run.outcomes]) else 1


if __name__ == "__main__":
    sys.exit(main())
