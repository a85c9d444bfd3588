"""Benchmarks for the node, run by ``make bench`` (``python -m bench``).

``bench.data`` generates realistic, deterministic advisories; ``bench.databases`` makes and
removes the throw-away databases; ``bench.advisories`` loads them through the domain write path
and times the advisory list, against baselines measured in the same process.
"""

import warnings

# Starlette's TestClient warns on import that it prefers another HTTP client; the tests ignore
# it too, and it is not the benchmark's business.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
