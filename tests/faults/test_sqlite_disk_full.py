"""The SQLite disk full (issue 8, faults).

The node's database lives on a tmpfs of a few megabytes that the test fills. Writes are then
refused with a problem that says storage is full, reads go on, nothing is corrupted, and once
space is freed the same process accepts writes again.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.databases import in_ci
from tests.faults.load import (
    REQUEST_TIMEOUT,
    SLOWEST_ANSWER,
    Outcome,
    assert_audit_chain_verifies,
    assert_clean_refusal,
    assert_writes_whole,
    attempt,
    bearer,
)
from tests.federation.cluster import ANALYST, READER, Cluster, Node
from tests.web.pages import csrf_of

DISK_SIZE = "4m"
MAX_WRITES = 100
"""Writes tried on the full disk before one must be refused (some fit in the WAL's free space)."""
STORAGE_WORDS = ("storage is full",)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of ``DISK_SIZE`` (mounting needs root, as in CI), unmounted afterwards."""
    directory = tmp_path / "small-disk"
    directory.mkdir()
    mount = shutil.which("mount")
    if mount is None:
        reason = "no 'mount' command to make a small file system to fill"
    else:
        result = subprocess.run(
            [mount, "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0700", "tmpfs", str(directory)],
            capture_output=True,
            text=True,
            check=False,
        )
        reason = (
            f"cannot mount a {DISK_SIZE} tmpfs to fill (needs root or CAP_SYS_ADMIN): "
            f"{result.stderr.strip() or result.returncode}"
            if result.returncode
            else ""
        )
    if reason:
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield directory
    finally:
        # Lazy: a process of a failed test may still hold a file open there.
        subprocess.run(["umount", "--lazy", str(directory)], check=True)


def fill(directory: Path) -> Path:
    """Fill the file system of ``directory`` to the last byte; the file that does it."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as handle:
        # Big chunks first; what is left once one no longer fits is taken byte by byte.
        for size in (65536, 1):
            chunk = b"\0" * size
            try:
                while True:
                    handle.write(chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
    assert shutil.disk_usage(directory).free == 0
    return filler


def integrity(database: Path) -> str:
    """SQLite's own verdict on the file (and its WAL), read-only."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def truncate_wal(database: Path) -> None:
    """Copy the WAL into the database and empty it, so the next write must take new space."""
    with closing(sqlite3.connect(database)) as connection:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0


def write_until_refused(node: Node, label: str, *, limit: int = MAX_WRITES) -> list[Outcome]:
    """Writes, one after another, until one is not accepted (or ``limit`` are)."""
    outcomes: list[Outcome] = []
    with httpx.Client(base_url=node.url, timeout=REQUEST_TIMEOUT) as client:
        for n in range(limit):
            outcome = attempt(client, "write", bearer(node, ANALYST), f"{label} {n}")
            outcomes.append(outcome)
            if outcome.status != 201:
                break
    return outcomes


def assert_reads(node: Node, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=node.url, timeout=REQUEST_TIMEOUT) as client:
        for kind in ("list", "screen"):
            outcome = attempt(client, kind, headers)
            assert outcome.status == 200, outcome.describe()
            assert outcome.seconds < SLOWEST_ANSWER, outcome.describe()
        assert client.get("/readyz").status_code == 200


def test_a_full_disk_refuses_writes_clearly_keeps_reads_and_recovers_once_freed(
    small_disk: Path, nodes: Cluster
) -> None:
    database = small_disk / "node.db"
    node = nodes.add("full", database_url=f"sqlite:///{database}")
    node.publish()
    # A reader whose token records its first use only once the disk is full.
    late_reader = node.add_member(
        "late-reader@full.example",
        org_name="Late Readers University",
        kind="university",
        role="reader",
        vetted=True,
    )
    truncate_wal(database)
    filler = fill(small_disk)

    refused = write_until_refused(node, "full disk")
    last = refused[-1]
    assert_clean_refusal(last, 507, words=STORAGE_WORDS, retry_after=False)
    # Reading needs no space: members read and screen, a first use of a token included.
    assert_reads(node, bearer(node, READER))
    assert_reads(node, {"Authorization": f"Bearer {late_reader}"})
    assert_clean_refusal(
        write_until_refused(node, "still full")[-1], 507, words=STORAGE_WORDS, retry_after=False
    )
    # A page that writes (signing in is audited) says so in a page, not in JSON.
    with httpx.Client(base_url=node.url, timeout=10) as browser:
        form = browser.get("/sign-in")
        signing_in = browser.post(
            "/sign-in", data={"token": late_reader, "csrf_token": csrf_of(form.text)}
        )
    assert signing_in.status_code == 507
    assert signing_in.headers["content-type"].startswith("text/html")
    assert "Storage full" in signing_in.text
    assert integrity(database) == "ok"
    assert_audit_chain_verifies(node)

    filler.unlink()
    # The same process, never restarted, writes again.
    again = write_until_refused(node, "space back", limit=5)
    assert len(again) == 5
    assert all(o.status == 201 for o in again)
    written = refused + again
    landed = assert_writes_whole(node, written)
    assert landed == sum(o.status == 201 for o in written)
    assert {o.subject for o in again} <= {a["subject"]["name"] for a in node.advisories()}
    assert integrity(database) == "ok"
    assert_audit_chain_verifies(node)
