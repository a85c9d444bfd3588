"""Real node processes for integration tests: the installed ``trex-node`` command and a served
node on a free loopback port, always stopped afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.databases import PostgresDatabases

TREX_NODE = Path(sys.executable).parent / "trex-node"
NODE_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""Parameters for a module-scoped node fixture (the ``backend`` fixture is per test)."""
COMMAND_TIMEOUT = 60.0
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def node_environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for a node process: ours minus any TREX_* of the developer, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREX_")}
    env["TREX_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    # Tests fire requests faster than any member would; tests/hardening/ covers the limits.
    env["TREX_RATE_LIMIT_TOKEN_PER_SECOND"] = "0"
    env["TREX_RATE_LIMIT_ADDRESS_PER_SECOND"] = "0"
    env.update(extra)
    return env


@contextmanager
def backend_environment(
    backend: str, data_dir: Path, request: pytest.FixtureRequest
) -> Iterator[dict[str, str]]:
    """A node environment on ``backend``: the data dir's SQLite file, or a fresh PostgreSQL
    database (dropped afterwards) named by ``TREX_DATABASE_URL``."""
    if backend == "sqlite":
        yield node_environment(data_dir)
        return
    postgres: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name, url = postgres.fresh()
    try:
        yield node_environment(data_dir, TREX_DATABASE_URL=url)
    finally:
        postgres.drop(name)


def run_node_command(
    args: list[str], env: Mapping[str, str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``trex-node ARGS``; with ``check``, a failure shows the command's own output."""
    result = subprocess.run(
        [str(TREX_NODE), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"trex-node {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def demo_tokens(stdout: str) -> dict[str, str]:
    """Token by email from the output of ``trex-node demo``."""
    tokens = {}
    for line in stdout.splitlines():
        fields = line.split()
        if len(fields) >= 2 and "@" in fields[0] and fields[-1].startswith("trex_"):
            tokens[fields[0]] = fields[-1]
    return tokens


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServedNode:
    base_url: str
    log: Path
    pid: int = 0
    """The server's process id (it leads its own process group)."""

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # The process leads its own group: uvicorn's workers (if any) go with it.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)


class _PortTaken(Exception):
    """Another process bound the free port between our check and the node's bind."""


def _start(
    env: Mapping[str, str], log: Path, port: int | None = None, workers: int = 1
) -> tuple[subprocess.Popen[bytes], ServedNode]:
    port = port or free_port()
    # The node's public URL is where it is served (peers sign requests for that URL).
    env = {**env, "TREX_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    command = [str(TREX_NODE), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers != 1:
        command += ["--workers", str(workers)]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command,
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, ServedNode(f"http://127.0.0.1:{port}", log, process.pid)


@contextmanager
def served_node(
    env: Mapping[str, str],
    log: Path,
    *,
    attempts: int = 3,
    port: int | None = None,
    workers: int = 1,
) -> Iterator[ServedNode]:
    """``trex-node serve`` on a loopback port (free, or ``port``), yielded once ``/readyz``
    answers 200 (with ``workers`` > 1: once one of them does). Its ``TREX_PUBLIC_URL`` is the
    served address."""
    for attempt in range(1, attempts + 1):
        process, node = _start(env, log, port, workers)
        try:
            _wait_until_ready(process, node)
        except _PortTaken:
            _stop(process)
            if attempt == attempts:
                raise AssertionError(
                    "no free port after several tries:\n" + node.output()
                ) from None
            continue
        except BaseException:
            _stop(process)
            raise
        break
    try:
        yield node
    finally:
        _stop(process)


def _wait_until_ready(process: subprocess.Popen[bytes], node: ServedNode) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no answer yet"
    with httpx.Client(base_url=node.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                if "address already in use" in node.output().lower():
                    raise _PortTaken
                raise AssertionError(
                    f"the node exited with {process.returncode} before it was ready:\n"
                    + node.output()
                )
            try:
                response = client.get("/readyz")
            except httpx.TransportError as error:
                last = repr(error)
            else:
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text}"
            time.sleep(0.1)
    raise AssertionError(
        f"the node was not ready within {READY_TIMEOUT} s ({last}):\n" + node.output()
    )
