"""``python -m bench [advisories|federation|screening|taxii]``: the benchmarks on SQLite and
PostgreSQL, as plain-text tables (every part unless one is named)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from bench import advisories, federation, screening, taxii
from bench.databases import Unavailable, postgres_database, sqlite_database

BACKENDS: dict[str, tuple[str, Callable[[], AbstractContextManager[str]]]] = {
    "sqlite": ("SQLite (temporary file)", sqlite_database),
    "postgresql": ("PostgreSQL (temporary database)", postgres_database),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "part", nargs="?", choices=["all", *PARTS], default="all", help="what to run"
    )
    parser.add_argument(
        "--count",
        type=int,
        default=100_000,
        help="advisories: how many to load; screening: synthetic subjects (one advisory each)",
    )
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
    parser.add_argument(
        "--sync-counts",
        type=_counts,
        default=[10_000, 100_000],
        help="federation: advisories per initial sync, comma-separated",
    )
    parser.add_argument(
        "--sync-page", type=int, default=500, help="federation: records per feed page"
    )
    parser.add_argument(
        "--verify-count",
        type=int,
        default=5_000,
        help="federation: advisories whose signed revisions the ceiling verifies",
    )
    parser.add_argument(
        "--taxii-count",
        type=int,
        default=10_000,
        help="taxii: clear/green advisories in the TAXII collection pulled",
    )
    args = parser.parse_args(argv)
    if args.count < 1 or args.batch < 1 or args.runs < 1 or args.warmup < 0:
        parser.error("--count, --batch and --runs must be positive, --warmup not negative")
    if not 1 <= args.sync_page <= 1000 or args.verify_count < 1:
        parser.error("--sync-page must be 1 to 1000 and --verify-count positive")
    if args.taxii_count < 1:
        parser.error("--taxii-count must be positive")
    return args


def _counts(value: str) -> list[int]:
    counts = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("positive whole numbers, comma-separated")
    return sorted(counts)


def _log(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def _load() -> str:
    """The 1-minute load average: other work on the machine shows up in the latencies."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "unknown"


def _selected(backend: str) -> Iterator[str]:
    yield from BACKENDS if backend == "all" else [backend]


def run_advisories(args: argparse.Namespace) -> None:
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


def run_federation(args: argparse.Namespace) -> None:
    counts = ", ".join(f"{count:,}" for count in args.sync_counts)
    print(
        f"trex federation benchmark: initial syncs of {counts} advisories between two node "
        f"processes on loopback; {os.cpu_count()} CPUs, load average {_load()} at the start",
        flush=True,
    )
    ceiling = federation.measure_ceiling(args.verify_count, rounds=3, log=_log)
    print()
    print("\n".join(federation.report_ceiling(ceiling)), flush=True)
    print(f"(load average {_load()} after the ceiling)", flush=True)
    for backend in _selected(args.backend):
        title, database = BACKENDS[backend]
        try:
            result = federation.run(
                backend,
                database,
                ceiling,
                counts=args.sync_counts,
                batch=args.batch,
                page=args.sync_page,
                noop_runs=20,
                log=_log,
            )
        except Unavailable as exc:
            print(f"\nFederation on {title}: SKIPPED - {exc}", flush=True)
            continue
        print()
        print("\n".join(federation.report(result, ceiling, title=f"Federation on {title}")))
        print(f"(load average {_load()} after this backend)", flush=True)


def run_screening(args: argparse.Namespace) -> None:
    print(
        f"trex screening benchmark: {args.count:,} synthetic subjects + the demo's, in-process; "
        f"the domain calls on SQLite (temporary file); {os.cpu_count()} CPUs, load average "
        f"{_load()} at the start",
        flush=True,
    )
    with sqlite_database() as url:
        result = screening.run(
            url, count=args.count, batch=args.batch, budget_s=args.budget, log=_log
        )
    print()
    print("\n".join(screening.report(result)), flush=True)
    print(f"(load average {_load()} after the screening part)", flush=True)


def run_taxii(args: argparse.Namespace) -> None:
    print(
        f"trex TAXII benchmark: a full TAXII 2.1 pull of {args.taxii_count:,} advisories from a "
        f"node process on loopback (SQLite, temporary file), medallion beside it; "
        f"{os.cpu_count()} CPUs, load average {_load()} at the start",
        flush=True,
    )
    result = taxii.run(
        args.taxii_count,
        batch=args.batch,
        warmup=args.warmup,
        runs=args.runs,
        budget_s=args.budget,
        log=_log,
    )
    print()
    print("\n".join(taxii.report(result)), flush=True)
    print(f"(load average {_load()} after the TAXII part)", flush=True)


PARTS: dict[str, Callable[[argparse.Namespace], None]] = {
    "advisories": run_advisories,
    "federation": run_federation,
    "screening": run_screening,
    "taxii": run_taxii,
}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    for name, part in PARTS.items():
        if args.part in ("all", name):
            part(args)
            print()
    print(f"total time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
