# Two commands for a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
export TREX_DATA_DIR ?= ./trex-data

.PHONY: run test lint format bench loadtest demo-federation venv clean

# The node and its SDK (clients/python: the trex_client package and the trex command).
$(STAMP): pyproject.toml clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e clients/python
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/trex-node demo
	$(BIN)/trex-node serve --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# pytest exits 5 when it collects no tests: that is a failure here, like any non-zero exit.
# Two processes (or up to four where there are more cores): most tests wait on node processes,
# databases and sockets, so they overlap well; each test has its own database either way.
test: lint
	$(BIN)/pytest -n auto --maxprocesses=4 --dist worksteal

# The bench extra: the baselines the benchmark runs beside the node (medallion).
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

# A minute of mixed traffic (lists, screens, batches) at 200 requests/s against a node on
# PostgreSQL (TREX_TEST_POSTGRES_URL, else the local server); not part of `make test`.
loadtest: $(STAMP)
	$(BIN)/python -m bench.loadtest

# Four nodes on loopback (us, uk, ca in five-eyes; xx outside), one sync, what each holds.
demo-federation: $(STAMP)
	$(BIN)/python scripts/demo_federation.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
