"""The installed ``trex`` command, run as a process against the served node, configured by
``TREX_URL`` and ``TREX_TOKEN`` as a user would."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import httpx
from trex_client import TrexClient

from tests.clients.conftest import ANALYST, READER, TREX, Node, new_advisory
from tests.node_process import free_port

HIT = "Harbin Institute of Technology"
NAMES_CSV = (
    "name,country,grant\n"
    '"School of Computer Science, Harbin Institute of Technology, Shenzhen 518055, China",CN,'
    "EP/1\n"
    "Tsinghua University,,EP/2\n"
    "北京航空航天大学,,EP/3\n"
)


def trex(
    node: Node, *args: str, email: str | None = READER, url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREX_")}
    env["TREX_URL"] = url or node.base_url
    if email is not None:
        env["TREX_TOKEN"] = node.token(email)
    return subprocess.run(
        [str(TREX), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_screen_names_prints_a_table(node: Node) -> None:
    out = ok(trex(node, "screen", "哈工大", "University of Oxford"))
    header, first, second = out.splitlines()
    assert header.split() == [
        "NAME", "MATCH", "COUNTRY", "SCORE", "RISK", "ADVISORIES", "MATCHED", "ON"
    ]  # fmt: skip
    assert first.startswith("哈工大")
    assert HIT in first
    assert "very high" in first
    assert second.startswith("University of Oxford")
    assert "(no match)" in second


def test_screen_names_as_json(node: Node) -> None:
    results = json.loads(ok(trex(node, "screen", "NUDT", "--json", "--country", "CN")))
    assert [r["query"] for r in results] == ["NUDT"]
    assert (
        results[0]["matches"][0]["subject"]["name"] == "National University of Defense Technology"
    )


def test_screen_a_csv_file_into_a_csv_report(node: Node, tmp_path: Path) -> None:
    names = tmp_path / "names.csv"
    names.write_text(NAMES_CSV, encoding="utf-8")
    report = tmp_path / "report.csv"
    result = trex(node, "screen", "--file", str(names), "--output", str(report))
    ok(result)
    with report.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["row"], r["grant"], r["matched_name"]) for r in rows] == [
        ("1", "EP/1", HIT),
        ("2", "EP/2", ""),
        ("3", "EP/3", "Beihang University"),
    ]
    assert rows[0]["highest_risk"] == "very_high"
    # Not a terminal: progress comes as lines, then where the report went.
    assert "screened 3/3 rows" in result.stderr
    assert str(report) in result.stderr


def test_screen_a_csv_file_into_a_json_report_on_stdout(node: Node, tmp_path: Path) -> None:
    names = tmp_path / "names.csv"
    names.write_text(NAMES_CSV, encoding="utf-8")
    report = json.loads(ok(trex(node, "screen", "--file", str(names), "--format", "json")))
    assert report["count"] == 3
    assert [r["fields"]["grant"] for r in report["results"]] == ["EP/1", "EP/2", "EP/3"]


def test_a_refused_file_leaves_no_report(node: Node, tmp_path: Path) -> None:
    names = tmp_path / "names.csv"
    names.write_text("organisation\nTsinghua University\n", encoding="utf-8")
    report = tmp_path / "report.csv"
    result = trex(node, "screen", "--file", str(names), "-o", str(report))
    assert result.returncode == 1
    assert "the CSV header has no 'name' column" in result.stderr
    assert not report.exists()


def test_advisories_list_and_show(node: Node) -> None:
    listed = ok(trex(node, "advisories", "list", "--country", "CN", "--risk", "very_high"))
    header, *lines = listed.splitlines()
    assert header.split() == ["ID", "RISK", "TIER", "TLP", "COUNTRY", "SUBJECT"]
    assert len(lines) > 5
    assert all("very high" in line and " CN " in line for line in lines)
    assert len(ok(trex(node, "advisories", "list", "--limit", "3")).splitlines()) == 4

    found = json.loads(ok(trex(node, "advisories", "list", "--q", "哈尔滨", "--json")))
    assert {a["subject"]["name"] for a in found} == {HIT, "Harbin Engineering University"}
    hit = next(a for a in found if a["subject"]["name"] == HIT)
    shown = ok(trex(node, "advisories", "show", hit["id"]))
    assert shown.startswith(f"{HIT} (CN, university)")
    assert "哈尔滨工业大学" in shown
    assert "TLP:CLEAR" in shown
    assert json.loads(ok(trex(node, "advisories", "show", hit["id"], "--json"))) == hit


def test_advisories_publish_from_a_file(node: Node, tmp_path: Path) -> None:
    document = tmp_path / "advisory.json"
    document.write_text(json.dumps(new_advisory("Example Torpedo Institute")), encoding="utf-8")
    out = ok(trex(node, "advisories", "publish", str(document), email=ANALYST))
    assert out.startswith("Published advisory ")
    advisory_id = out.split()[2]
    with TrexClient(node.base_url, node.token(READER)) as reader:
        assert reader.advisory(advisory_id).subject.name == "Example Torpedo Institute"


def test_a_reader_publishing_gets_the_detail_and_exit_1(node: Node, tmp_path: Path) -> None:
    document = tmp_path / "advisory.json"
    document.write_text(json.dumps(new_advisory("Example Refused Institute")), encoding="utf-8")
    result = trex(node, "advisories", "publish", str(document))
    assert result.returncode == 1
    assert result.stderr == "trex: The reader role cannot write advisories.\n"
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    refused = trex(node, "advisories", "publish", str(bad), email=ANALYST)
    assert refused.returncode == 1
    assert "must hold one advisory" in refused.stderr


def test_review_prints_answers_concern_and_guidance(node: Node) -> None:
    out = ok(
        trex(
            node,
            "review",
            "--partner",
            "School of Materials Science, Harbin Institute of Technology, Harbin, China",
            "--research-area",
            "Thermal barrier coatings for aircraft engines",
            "--applications",
            "Civil and military jet engines",
            "--technology",
            "aerospace",
            "--resource",
            "compute",
            "data",
        )
    )
    assert out.startswith("Concern level: SEVERE\n")
    for heading in ("1. Does the project", "2. Do you know who", "3. What are the likely"):
        assert heading in out
    assert "\nGuidance\n" in out
    # Lines are wrapped to the terminal: compare the words.
    assert f"→ {HIT} (very high risk)" in " ".join(out.split())


def test_a_bad_token_exits_1_with_the_detail(node: Node) -> None:
    forged = node.token(READER)[:-4] + "AAAA"
    detail = httpx.get(
        f"{node.base_url}/v1/me", headers={"Authorization": f"Bearer {forged}"}
    ).json()["detail"]
    result = trex(node, "--token", forged, "screen", "哈工大")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"trex: {detail}")


def test_url_and_usage(node: Node) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    assert HIT in ok(trex(node, "screen", "HIT", "--url", node.base_url, url=dead))
    # A write is not retried on a network failure: it fails at once.
    review = ("review", "--partner", "x", "--research-area", "y", "--applications", "z")
    down = trex(node, *review, url=dead)
    assert down.returncode == 1
    assert down.stderr.startswith("trex: POST ")
    assert trex(node, "screen").returncode == 2
    assert trex(node, "screen", "x", "--file", "names.csv").returncode == 2
    assert trex(node, "advisories", "show").returncode == 2
