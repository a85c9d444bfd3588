#!/usr/bin/env python3
"""``make demo-federation``: four real trex nodes on loopback, federating.

``us``, ``uk`` and ``ca`` share the sharing group ``five-eyes``; ``xx`` is an outsider peered
with ``ca``. Each node has its own data directory and SQLite database and is served by
``trex-node serve``; everything is configured with the same ``trex-node`` commands an operator
runs. An analyst on ``ca`` publishes four advisories through the API, every node pulls once
with ``trex-node sync --once``, and the script prints what each node's database holds.

The script never imports the node's code: it drives the installed ``trex-node`` command and
the HTTP API, like an operator and a member would.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

GROUP = "five-eyes"
MEMBERS = ("us", "uk", "ca")
NODES: dict[str, tuple[str, str]] = {
    "us": ("United States research security node", "US"),
    "uk": ("United Kingdom research security node", "GB"),
    "ca": ("Canada research security node", "CA"),
    "xx": ("Outsider node", "XX"),
}
# Who pins whom and pulls from whom (both directions are configured on each side).
PEERS: dict[str, tuple[str, ...]] = {
    "us": ("ca", "uk"),
    "uk": ("ca", "us"),
    "ca": ("us", "uk", "xx"),
    "xx": ("ca",),
}
ANALYST = "analyst@example.ca"
ORG = "University of Example (Canada)"
MARKER = ".trex-demo-federation"
"""Marks a directory this script made, so a re-run may wipe it and nothing else."""
DEFAULT_DIR = Path("trex-demo-federation")
READY_TIMEOUT = 30.0
COMMAND_TIMEOUT = 60.0

T = TypeVar("T")


class DemoError(Exception):
    """A step that failed; the message says which and shows the command's output."""


def say(message: str) -> None:
    print(message, flush=True)


def trex_node() -> str:
    """The ``trex-node`` beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "trex-node"
    if beside.exists():
        return str(beside)
    found = shutil.which("trex-node")
    if found is None:
        raise DemoError("trex-node is not installed: run 'make venv' first")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Node:
    node_id: str
    data_dir: Path
    port: int = 0
    kid: str = ""
    public_key: str = ""
    fingerprint: str = ""
    org_id: str = ""
    process: subprocess.Popen[bytes] | None = None
    outputs: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "serve.log"

    def env(self) -> dict[str, str]:
        # The developer's own TREX_* settings (the Makefile sets TREX_DATA_DIR) must not leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TREX_")}
        env.update(
            {
                "TREX_DATA_DIR": str(self.data_dir),
                "TREX_PUBLIC_URL": self.url,
                # No sync loop inside 'serve': the demo pulls with 'trex-node sync --once'.
                "TREX_SYNC_INTERVAL_SECONDS": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def run(self, *args: str) -> str:
        """``trex-node ARGS`` for this node; its stdout, or ``DemoError`` with its output."""
        result = subprocess.run(  # noqa: S603  our own command, arguments built here
            [trex_node(), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise DemoError(
                f"{self.node_id}: trex-node {' '.join(args)} exited {result.returncode}\n"
                f"{result.stdout}{result.stderr}"
            )
        return result.stdout

    def serve(self) -> None:
        """Start ``trex-node serve`` on a free loopback port and wait until it is ready."""
        for _attempt in range(3):
            self.port = free_port()
            with self.log.open("ab") as sink:
                self.process = subprocess.Popen(  # noqa: S603  our own command
                    [trex_node(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                    env=self.env(),
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    # Its own process group: stopping it stops whatever it started.
                    start_new_session=True,
                )
            if self._wait_ready():
                return
            self.stop()  # another process took the port between our check and its bind
        raise DemoError(f"{self.node_id}: no free port after three tries\n{self.tail()}")

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    if "address already in use" in self.tail().lower():
                        return False
                    raise DemoError(f"{self.node_id}: the server exited\n{self.tail()}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise DemoError(f"{self.node_id}: not ready within {READY_TIMEOUT:.0f} s\n{self.tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def holdings(self) -> list[tuple[str, str, int, str, str, str]]:
        """What the node's database stores: (id, origin, revision, status, tlp, subject).

        Read from the database itself, not through the API: the API shows what one member may
        see; this shows what the node holds at all, so a record that never arrived is absent.
        """
        uri = f"file:{self.data_dir / 'node.db'}?mode=ro"
        with sqlite3.connect(uri, uri=True) as connection:
            rows = connection.execute(
                "SELECT id, origin, revision, status, tlp, subject_name FROM advisories "
                "ORDER BY origin, pk"
            ).fetchall()
        return [tuple(row) for row in rows]


def each(nodes: Mapping[str, Node], step: Callable[[Node], T]) -> dict[str, T]:
    """Run ``step`` on every node at once; results by node id, the first failure raised."""
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        futures = {node_id: pool.submit(step, node) for node_id, node in nodes.items()}
        return {node_id: future.result() for node_id, future in futures.items()}


def _field(output: str, label: str) -> str:
    match = re.search(rf"^\s*{label}\s+(\S+)\s*$", output, re.MULTILINE)
    if match is None:
        raise DemoError(f"no {label!r} in:\n{output}")
    return match.group(1)


def prepare_directory(base: Path) -> None:
    if base.exists() and any(base.iterdir()):
        if not (base / MARKER).exists():
            raise DemoError(f"{base} exists and was not made by this demo: choose another --dir")
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    (base / MARKER).write_text("made by scripts/demo_federation.py; safe to delete\n")


def set_up(node: Node) -> None:
    """init, groups add, serve."""
    name, country = NODES[node.node_id]
    shown = node.run("init", "--node-id", node.node_id, "--name", name, "--country", country)
    # What the operator reads out to each peer's operator, by phone or in person
    # ('trex-node keys show' prints it again at any time).
    node.kid = _field(shown, "kid")
    node.public_key = _field(shown, "public key")
    node.fingerprint = _field(shown, "fingerprint")
    # xx lists itself in five-eyes: that changes nothing, since what a node sends is decided by
    # the sender's own list of the group's members.
    members = (*MEMBERS, "xx") if node.node_id == "xx" else MEMBERS
    node.run("groups", "add", GROUP, *[arg for m in members for arg in ("--member", m)])
    node.serve()


def create_analyst(ca: Node) -> str:
    """An analyst of a vetted university on ca; returns its token."""
    vetted_until = (date.today() + timedelta(days=365)).isoformat()
    output = ca.run("orgs", "add", ORG, "--kind", "university", "--vetted-until", vetted_until)
    match = re.search(r" id=(\S+)", output)
    if match is None:
        raise DemoError(f"no org id in:\n{output}")
    ca.org_id = match.group(1)
    ca.run("users", "add", ANALYST, "--org", ORG, "--role", "analyst")
    return ca.run("tokens", "create", ANALYST).strip().splitlines()[-1]


def configure(nodes: dict[str, Node]) -> str:
    """Every node initialised, in its groups, served and peered; the ca analyst's token."""
    say("==> On each node: trex-node init, groups add, serve")
    each(nodes, set_up)
    say("    Keys to exchange out of band (printed by init and by 'trex-node keys show'):")
    for node in nodes.values():
        say(f"    {node.node_id}  {node.kid:<12} {node.fingerprint}  served on {node.url}")
    say(f"    {GROUP} = us, uk, ca on us, uk and ca; xx claims to be in it on its own node only")

    def add_peers(node: Node) -> None:
        for other_id in PEERS[node.node_id]:
            other = nodes[other_id]
            output = node.run(
                "peers", "add", other_id, "--url", other.url, "--public-key", other.public_key
            )
            # The pinned key must be the one its operator read out, whatever the URL offers.
            if other.fingerprint not in output:
                raise DemoError(
                    f"{node.node_id} pinned an unexpected key for {other_id}:\n{output}"
                )

    say("==> trex-node peers add ID --url URL --public-key KEY (the out-of-band key is pinned)")
    say(f"    and on ca: trex-node orgs add, users add {ANALYST} --role analyst, tokens create")
    with ThreadPoolExecutor(max_workers=len(nodes) + 1) as pool:
        analyst = pool.submit(create_analyst, nodes["ca"])
        peered = [pool.submit(add_peers, node) for node in nodes.values()]
        for future in peered:
            future.result()
        token = analyst.result()
    for node_id, others in PEERS.items():
        say(f"    {node_id} pins and pulls {', '.join(others)}")
    return token


def advisory(name: str, chinese: str, **fields: Any) -> dict[str, Any]:
    return {
        "status": "published",
        "tier": "academia",
        "tlp": "green",
        "scope": [GROUP],
        "subject": {
            "name": name,
            "names": [{"value": chinese, "lang": "zh", "type": "official"}],
            "country": "CN",
            "kind": "university",
            "identifiers": {},
        },
        "risk": "very_high",
        "confidence": "high",
        "categories": ["seven_sons"],
        "recommended_action": "enhanced_due_diligence",
        "summary": "One of the Seven Sons of National Defence.",
        "sources": [
            {
                "title": "China Defence Universities Tracker",
                "url": "https://unitracker.aspi.org.au/",
            }
        ],
        "valid_from": "2026-01-01",
        "review_by": "2027-06-30",
        **fields,
    }


def publish(ca: Node, token: str) -> None:
    say("==> The analyst publishes on ca through the API (POST /v1/advisories)")
    plan = [
        ("five-eyes, TLP:GREEN", advisory("Harbin Institute of Technology", "哈尔滨工业大学")),
        (
            "five-eyes, TLP:AMBER (then revised)",
            advisory("Beihang University", "北京航空航天大学", tlp="amber"),
        ),
        (
            "five-eyes, TLP:RED with an audience",
            advisory(
                "Northwestern Polytechnical University",
                "西北工业大学",
                tlp="red",
                audience=[ca.org_id],
            ),
        ),
        (
            "five-eyes, draft",
            advisory(
                "Nanjing University of Science and Technology", "南京理工大学", status="draft"
            ),
        ),
    ]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=ca.url, headers=headers, timeout=30.0) as client:
        for label, payload in plan:
            response = client.post("/v1/advisories", json=payload)
            if response.status_code != 201:
                raise DemoError(f"publishing on ca: {response.status_code} {response.text}")
            created = response.json()
            if created["tlp"] == "amber":
                # A second revision: receivers keep the highest one.
                response = client.patch(
                    f"/v1/advisories/{created['id']}",
                    json={"base_revision": 1, "risk": "high"},
                )
                if response.status_code != 200:
                    raise DemoError(f"revising on ca: {response.status_code} {response.text}")
                created = response.json()
            say(
                f"    {created['id'][:8]}  rev {created['revision']}  {label:<38} "
                f"{created['subject']['name']}"
            )


def sync(nodes: dict[str, Node]) -> None:
    say("==> trex-node sync --once on each node (us and xx, then uk and ca)")
    # In two waves so that uk pulls from us after us has pulled from ca: the relayed copies
    # it is offered then show up as unchanged (it already has them from ca).
    for wave in (("us", "xx"), ("uk", "ca")):
        outputs = each({n: nodes[n] for n in wave}, lambda node: node.run("sync", "--once"))
        for node_id in wave:
            for line in outputs[node_id].strip().splitlines():
                say(f"    {node_id} <- {line}")


Row = tuple[str, str, int, str, str, str]


def report(nodes: dict[str, Node]) -> dict[str, list[Row]]:
    say("==> What each node holds (read from its own database)")
    header = ("node", "advisory", "origin", "rev", "status", "tlp", "subject")
    widths = (4, 8, 6, 3, 9, 5, 0)
    say("    " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    held = {node_id: node.holdings() for node_id, node in nodes.items()}
    for node_id, rows in held.items():
        if not rows:
            say(f"    {node_id:<4}  (nothing)")
        for advisory_id, origin, revision, status, tlp, subject in rows:
            cells = (node_id, advisory_id[:8], origin, str(revision), status, tlp, subject)
            say("    " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    return held


def check(held: dict[str, list[Row]]) -> list[str]:
    """What differs from the rules the demo shows (empty when federation behaved)."""
    on_ca = {row[0]: row for row in held["ca"]}
    travels = {
        (advisory_id, row[2])
        for advisory_id, row in on_ca.items()
        if row[3] == "published" and row[4] in {"clear", "green", "amber"}
    }
    problems: list[str] = []
    for node_id in ("us", "uk"):
        got = {(row[0], row[2]) for row in held[node_id]}
        if got != travels:
            problems.append(f"{node_id} holds {sorted(got)}, expected {sorted(travels)}")
    if held["xx"]:
        problems.append(f"xx holds {len(held['xx'])} advisories, expected none")
    if len(on_ca) != 4:
        problems.append(f"ca holds {len(on_ca)} advisories, expected the 4 it published")
    return problems


@contextmanager
def running(nodes: dict[str, Node]) -> Iterator[None]:
    with ExitStack() as stack:
        for node in nodes.values():
            stack.callback(node.stop)
        stack.callback(say, "==> Stopping the nodes")
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        help=f"where the nodes' data directories go (default ./{DEFAULT_DIR}, wiped first)",
    )
    args = parser.parse_args(argv)
    # A SIGTERM (a CI timeout, a supervisor) unwinds like Ctrl-C, so the nodes are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    started = time.monotonic()
    base: Path = args.dir.resolve()
    nodes = {node_id: Node(node_id, base / node_id) for node_id in NODES}
    try:
        prepare_directory(base)
        with running(nodes):
            token = configure(nodes)
            publish(nodes["ca"], token)
            sync(nodes)
            problems = check(report(nodes))
    except (DemoError, OSError, httpx.HTTPError, sqlite3.Error) as error:
        say(f"demo-federation failed: {error}")
        return 1
    if problems:
        for problem in problems:
            say(f"UNEXPECTED: {problem}")
        return 1
    say(
        "OK: us, uk and ca hold the five-eyes GREEN and AMBER advisories (AMBER at its second "
        "revision), each accepted only after ca's signature verified; the RED one and the "
        "draft never left ca; xx, outside five-eyes, holds nothing."
    )
    say(f"Done in {time.monotonic() - started:.1f} s; the nodes' data and logs are in {base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
