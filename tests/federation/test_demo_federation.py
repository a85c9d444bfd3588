"""``make demo-federation``: four real nodes; after one sync each holds exactly what it may."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from federation.keys import b64url_decode, fingerprint

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "demo_federation.py"
_ROW = re.compile(
    r"^\s+(?P<node>us|uk|ca|xx)\s{2,}(?P<id>[0-9a-f]{8})\s{2,}(?P<origin>\S+)\s{2,}"
    r"(?P<rev>\d+)\s{2,}(?P<status>\S+)\s{2,}(?P<tlp>\S+)\s{2,}(?P<subject>.+?)\s*$"
)
_SERVED = re.compile(r"(SHA256:[0-9a-f]{64})\s+served on (http://127\.0\.0\.1:\d+)")

GREEN = "Harbin Institute of Technology"
AMBER = "Beihang University"
RED = "Northwestern Polytechnical University"
DRAFT = "Nanjing University of Science and Technology"


def run_demo(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--dir", str(directory)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def holdings(stdout: str) -> dict[str, dict[str, tuple[str, str, int, str, str]]]:
    """Per node, subject -> (id prefix, origin, revision, status, tlp), from the final table."""
    table = stdout.split("==> What each node holds", 1)[1]
    held: dict[str, dict[str, tuple[str, str, int, str, str]]] = {
        n: {} for n in ("us", "uk", "ca", "xx")
    }
    for line in table.splitlines():
        match = _ROW.match(line)
        if match:
            held[match["node"]][match["subject"]] = (
                match["id"],
                match["origin"],
                int(match["rev"]),
                match["status"],
                match["tlp"],
            )
    return held


def test_the_demo_shares_five_eyes_advisories_and_nothing_else(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo")

    assert result.returncode == 0, result.stdout + result.stderr
    held = holdings(result.stdout)
    shared = {GREEN, AMBER}
    assert set(held["us"]) == shared, result.stdout
    assert set(held["uk"]) == shared, result.stdout
    assert set(held["ca"]) == {*shared, RED, DRAFT}, result.stdout
    assert held["xx"] == {}, result.stdout
    assert re.search(r"^\s+xx\s+\(nothing\)$", result.stdout, re.MULTILINE)
    # The same advisories, at the same revision, with their origin and TLP kept.
    for node in ("us", "uk"):
        assert held[node][GREEN] == held["ca"][GREEN]
        assert held[node][AMBER] == held["ca"][AMBER]
    assert held["ca"][GREEN][1:] == ("ca", 1, "published", "green")
    assert held["ca"][AMBER][1:] == ("ca", 2, "published", "amber")
    assert held["ca"][RED][1:] == ("ca", 1, "published", "red")
    assert held["ca"][DRAFT][1:] == ("ca", 1, "draft", "green")
    assert result.stdout.rstrip().splitlines()[-1].startswith("Done in")
    # Every node it served is stopped again (another test may have taken a port since: only
    # a node with the key the demo printed counts).
    served = _SERVED.findall(result.stdout)
    assert len(served) == 4, result.stdout
    for printed, url in served:
        try:
            descriptor = httpx.get(url + "/.well-known/trex-node", timeout=2.0).json()
        except (httpx.TransportError, ValueError):
            continue
        keys = [k.get("public_key", "") for k in descriptor.get("keys", [])]
        assert printed not in {fingerprint(b64url_decode(k)) for k in keys}, url


def test_the_demo_never_wipes_a_directory_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me", encoding="utf-8")

    result = run_demo(tmp_path)

    assert result.returncode == 1
    assert "was not made by this demo" in result.stdout
    assert precious.read_text(encoding="utf-8") == "keep me"


def test_make_demo_federation_runs_the_script() -> None:
    result = subprocess.run(
        ["make", "-n", "demo-federation"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "scripts/demo_federation.py" in result.stdout
