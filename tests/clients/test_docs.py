"""The examples of docs/sdk.md, run against the served node: the Python blocks as one program,
each ``$ trex …`` line of a ``console`` block as a command, and each ``text`` block that starts
with ``$ trex …`` as a command whose output must be exactly what the block shows.

Blocks tagged ``file=NAME`` (``names.csv``, ``advisory.json``) are written to the working
directory first, as a reader following the page would.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from trex_client import TrexClient

from tests.clients.conftest import ANALYST, TREX, Node

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
_BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Block:
    language: str
    info: str
    body: str


def blocks() -> list[Block]:
    return [
        Block(language, info.strip(), body)
        for language, info, body in _BLOCK.findall(DOC.read_text("utf-8"))
    ]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for block in blocks():
        if block.info.startswith("file="):
            (tmp_path / block.info.removeprefix("file=")).write_text(block.body, "utf-8")
    return tmp_path


def _environment(node: Node) -> dict[str, str]:
    # The analyst of the demo's vetted university: reads and screens as its reader does, and
    # may also publish (the writing examples).
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREX_")}
    return {**env, "TREX_URL": node.base_url, "TREX_TOKEN": node.token(ANALYST)}


def _advisory_id(node: Node) -> str:
    with TrexClient(node.base_url, node.token(ANALYST)) as trex:
        return next(trex.advisories(q="哈尔滨工业大学")).id


def _command(line: str, node: Node) -> list[str]:
    args = shlex.split(line.removeprefix("$ ").replace("$ADVISORY_ID", _advisory_id(node)))
    assert args[0] == "trex"
    return [str(TREX), *args[1:]]


def test_the_page_has_examples() -> None:
    languages = [block.language for block in blocks()]
    assert languages.count("python") >= 8
    assert languages.count("console") >= 3


def test_python_examples_run(node: Node, workdir: Path) -> None:
    program = "\n".join(block.body for block in blocks() if block.language == "python")
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=workdir,
        env=_environment(node),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # What the page says the screening example prints.
    assert (
        "Harbin Institute of Technology 0.92 chinese short form of: 哈尔滨工业大学" in result.stdout
    )
    assert "3/3 rows" in result.stdout
    with (workdir / "report.csv").open(encoding="utf-8-sig", newline="") as file:
        assert [row["row"] for row in csv.DictReader(file)] == ["1", "2", "3"]
    assert "404 " in result.stdout
    assert "subject.country " in result.stdout
    assert "['Beihang University', 'National University of Defense Technology', " in result.stdout


def test_console_examples_run(node: Node, workdir: Path) -> None:
    lines = [
        line
        for block in blocks()
        if block.language == "console"
        for line in block.body.splitlines()
        if line.startswith("$ trex ")
    ]
    assert len(lines) >= 6
    for line in lines:
        result = subprocess.run(
            _command(line, node),
            cwd=workdir,
            env=_environment(node),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
    assert (workdir / "report.json").read_text("utf-8").startswith('{"count":3,')


def test_shown_output_is_what_the_command_prints(node: Node, workdir: Path) -> None:
    shown = [b.body for b in blocks() if b.language == "text" and b.body.startswith("$ trex ")]
    assert len(shown) >= 2
    for body in shown:
        line, _, expected = body.partition("\n")
        result = subprocess.run(
            _command(line, node),
            cwd=workdir,
            env=_environment(node),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.stdout + result.stderr == expected, line
