"""``python -m bench.request_cost``: the CPU each kind of load-test request costs the node.

The load test (``bench.loadtest``) measures wall time with a client sharing the node's cores,
which says whether the aim is met but not where the time goes, and is thrown off by anything
else the machine runs. This drives the node's ASGI application in-process instead (httpx's
``ASGITransport``, same data and requests as the load test: ``bench.load`` on a fresh
PostgreSQL database) and counts ``time.process_time()`` per request: the CPU of this process,
whatever else runs on the machine. The database server's own CPU is not counted here; the load
test pays it too. ``--profile KIND`` prints the top functions of that kind under cProfile.

Everything runs on one thread, so that cProfile sees it all: the sync routes and streamed
bodies that uvicorn would hand to Starlette's thread pool are called inline (that hand-off, and
HTTP parsing, are the part of a served request not counted here).

At 200 requests/s of the load test's mix on 2 cores, the node and the load generator together
can spend at most 10 ms of CPU per request on average (less, to leave the queueing slack that
a p99 under 100 ms needs).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import fastapi.dependencies.utils
import fastapi.routing
import httpx
import starlette.responses

from bench.databases import Unavailable
from bench.loadtest import MIX, Request, loaded_database, make_request
from service.app import create_app
from service.screening.evaluation import load_cases
from service.settings import Settings

T = TypeVar("T")

# Not in the mix: what every request pays (client, middleware, routing), then authentication.
REFERENCES = {"healthz": Request("GET", "/healthz"), "me": Request("GET", "/v1/me")}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.request_cost", description=__doc__)
    parser.add_argument("--advisories", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per kind")
    parser.add_argument(
        "--profile", choices=[*REFERENCES, *(k for k, _ in MIX)], help="profile this kind"
    )
    parser.add_argument("--top", type=int, default=40, help="functions shown by --profile")
    parser.add_argument(
        "--wall",
        action="store_true",
        help="profile wall time (waits on PostgreSQL included) rather than this process's CPU",
    )
    return parser.parse_args(argv)


async def _inline(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return func(*args, **kwargs)


async def _iterate_inline(iterator: Iterable[T]) -> AsyncIterator[T]:
    for item in iterator:
        yield item


def run_on_one_thread() -> None:
    """What Starlette would run in its thread pool runs inline (see the module's doc)."""
    setattr(fastapi.routing, "run_in_threadpool", _inline)  # noqa: B010
    setattr(fastapi.dependencies.utils, "run_in_threadpool", _inline)  # noqa: B010
    setattr(starlette.responses, "iterate_in_threadpool", _iterate_inline)  # noqa: B010


@asynccontextmanager
async def node_client(url: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The node's app on the database at ``url``, as the load test serves it (no rate limits)."""
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        node_id="bench",
        node_name="Benchmark node",
        node_country="CA",
        sync_interval_seconds=0,
        rate_limit_token_per_second=0,
        rate_limit_address_per_second=0,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client,
    ):
        yield client


async def _send(client: httpx.AsyncClient, request: Request, token: str) -> None:
    response = await client.request(
        request.method,
        request.path,
        params=request.params,
        json=request.body,
        headers={"Authorization": f"Bearer {token}"},
    )
    if response.status_code != 200:
        raise RuntimeError(f"{request.path}: {response.status_code} {response.text[:200]}")


def _request(kind: str, rng: random.Random, names: list[str]) -> Request:
    return REFERENCES[kind] if kind in REFERENCES else make_request(kind, rng, names)


async def measure(
    client: httpx.AsyncClient, token: str, names: list[str], *, requests: int
) -> dict[str, list[float]]:
    """Milliseconds of CPU per request, by kind, the kinds interleaved round by round."""
    rng = random.Random(20261129)
    kinds = [*REFERENCES, *(k for k, _ in MIX)]
    for kind in kinds * 10:  # warm up: the screening index, caches, the connection pool
        await _send(client, _request(kind, rng, names), token)
    costs: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(requests):
        for kind in kinds:
            request = _request(kind, rng, names)
            started = time.process_time()
            await _send(client, request, token)
            costs[kind].append((time.process_time() - started) * 1000)
    return costs


async def profile(
    client: httpx.AsyncClient, token: str, names: list[str], kind: str, *, top: int, wall: bool
) -> str:
    """The top functions (own time, then cumulative) over 200 requests of ``kind``."""
    rng = random.Random(7)
    for _ in range(10):
        await _send(client, _request(kind, rng, names), token)
    profiler = cProfile.Profile(time.perf_counter if wall else time.process_time)
    profiler.enable()
    for _ in range(200):
        await _send(client, _request(kind, rng, names), token)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


async def run(args: argparse.Namespace, url: str, token: str) -> str:
    names = [case.query for case in load_cases()]
    with tempfile.TemporaryDirectory(prefix="trex-request-cost-") as directory:
        async with node_client(url, Path(directory)) as client:
            # The index builds on a thread at start-up: the first screen waits for it.
            await _send(client, make_request("screen", random.Random(1), names), token)
            if args.profile:
                return await profile(
                    client, token, names, args.profile, top=args.top, wall=args.wall
                )
            costs = await measure(client, token, names, requests=args.requests)
    return "\n".join(summary(costs, advisories=args.advisories))


def summary(costs: dict[str, list[float]], *, advisories: int) -> Iterator[str]:
    weights = dict(MIX)
    yield f"CPU per request (ms), in-process, {advisories:,} advisories on PostgreSQL"
    yield f"{'kind':<10}{'mean':>8}{'p50':>8}{'p90':>8}"
    mixed = 0.0
    for kind, values in costs.items():
        values = sorted(values)
        mean = sum(values) / len(values)
        mixed += weights.get(kind, 0.0) * mean
        p50, p90 = values[len(values) // 2], values[int(len(values) * 0.9)]
        yield f"{kind:<10}{mean:>8.2f}{p50:>8.2f}{p90:>8.2f}"
    yield f"mix: {mixed:.2f} ms of CPU a request on average ({1000 / mixed:.0f} requests/s a core)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_on_one_thread()
    try:
        with loaded_database(args.advisories) as (url, members):
            print(asyncio.run(run(args, url, members.reader_token)))
    except Unavailable as exc:
        print(f"needs PostgreSQL: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
