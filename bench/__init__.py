"""Benchmarks for the node, run by ``make bench`` (``python -m bench``).

``bench.data`` generates realistic, deterministic advisories; ``bench.databases`` makes and
removes the throw-away databases; ``bench.advisories`` loads them through the domain write path
and times the advisory list, against baselines measured in the same process;
``bench.federation`` times an initial sync between two node processes against one core's
verify rate (the ceiling), with peak memory and the sync with nothing new.
"""

import warnings

# Starlette's TestClient warns on import that it prefers another HTTP client; the tests ignore
# it too, and it is not the benchmark's business.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
