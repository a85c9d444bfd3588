"""``python -m bench``: the advisory benchmark on SQLite and PostgreSQL, as plain-text tables."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from bench import advisories
from bench.databases import Unavailable, postgres_database, sqlite_database

BACKENDS: dict[str, tuple[str, Callable[[], AbstractContextManager[str]]]] = {
    "sqlite": ("SQLite (temporary file)", sqlite_database),
    "postgresql": ("PostgreSQL (temporary database)", postgres_database),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--count", type=int, default=100_000, help="advisories to load")
    parser.add_argument(
        "--backend", choices=["sqlite", "postgresql", "all"], default="all", help="where to run"
    )
    parser.add_argument("--batch", type=int, default=1_000, help="advisories per transaction")
    parser.add_argument("--runs", type=int, default=300, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests per case")
    parser.add_argument(
        "--budget",
        type=float,
        default=20.0,
        help="seconds at most per timed case (or group of cases timed interleaved)",
    )
    parser.add_argument(
        "--plans",
        action="store_true",
        help="also print the plans of the list and search queries on each backend",
    )
    args = parser.parse_args(argv)
    if args.count < 1 or args.batch < 1 or args.runs < 1 or args.warmup < 0:
        parser.error("--count, --batch and --runs must be positive, --warmup not negative")
    return args


def _log(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def _load() -> str:
    """The 1-minute load average: other work on the machine shows up in the latencies."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "unknown"


def _selected(backend: str) -> Iterator[str]:
    yield from BACKENDS if backend == "all" else [backend]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    print(
        f"trex advisory benchmark: {args.count:,} advisories, in-process (httpx ASGI transport); "
        f"{os.cpu_count()} CPUs, load average {_load()} at the start"
    )
    for backend in _selected(args.backend):
        title, database = BACKENDS[backend]
        try:
            with database() as url:
                result = advisories.run(
                    backend,
                    url,
                    count=args.count,
                    batch=args.batch,
                    warmup=args.warmup,
                    runs=args.runs,
                    budget_s=args.budget,
                    show_plans=args.plans,
                    log=_log,
                )
        except Unavailable as exc:
            print(f"\n{title}: SKIPPED - {exc}", flush=True)
            continue
        print()
        print("\n".join(advisories.report(result, title=title)), flush=True)
        print(f"(load average {_load()} after this backend)", flush=True)
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
