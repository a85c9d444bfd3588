"""Latency samples and the loops that take them."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Latencies of one case, in milliseconds, sorted."""

    samples: tuple[float, ...]

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile."""
        rank = max(1, math.ceil(p / 100 * len(self.samples)))
        return self.samples[rank - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)


def time_calls(call: Callable[[], object], *, warmup: int, runs: int, budget_s: float) -> Timing:
    """Run ``call`` ``warmup`` times untimed, then ``runs`` times timed (at most ``budget_s``)."""
    for _ in range(warmup):
        call()
    gc.collect()
    samples = []
    deadline = time.perf_counter() + budget_s
    for _ in range(runs):
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1e6)
        if time.perf_counter() > deadline:
            break
    return Timing(tuple(sorted(samples)))


def time_interleaved(
    cases: dict[str, Callable[[], object]], *, warmup: int, runs: int, budget_s: float
) -> dict[str, Timing]:
    """Time ``cases`` round by round, one call of each per round, for comparisons between them.

    Whatever else runs on the machine then falls on every case alike, rather than on whichever
    case happened to run while it did. Each round starts one case further on, so no case always
    follows the same one. ``warmup`` untimed rounds, then at most ``runs`` timed rounds, stopping
    after ``budget_s`` seconds for the whole group: a group is timed as one case is.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    gc.collect()
    samples: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.perf_counter() + budget_s
    for round_ in range(runs):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter_ns()
            cases[name]()
            samples[name].append((time.perf_counter_ns() - start) / 1e6)
        if time.perf_counter() > deadline:
            break
    return {name: Timing(tuple(sorted(values))) for name, values in samples.items()}
