"""``make loadtest`` works end to end (a few seconds at a low rate; its figures are not judged)."""

from __future__ import annotations

import pytest

from bench import loadtest
from tests.databases import PostgresDatabases


@pytest.mark.postgres
def test_the_load_test_runs_and_reports(
    postgres_databases: PostgresDatabases, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--seconds",
        "2",
        "--warmup",
        "1",
        "--rate",
        "15",
        "--advisories",
        "100",
        "--workers",
        "1",
    ]
    assert loadtest.main(argv) == 0
    out = capsys.readouterr().out
    for kind in ("list", "screen", "batch", "all"):
        assert any(line.startswith(kind) for line in out.splitlines()), out
    assert "completed 30 of 30" in out
    assert "aim, no errors and p99 under 100 ms at 15/s" in out
    [cpu] = [line for line in out.splitlines() if line.startswith("CPU per answered request")]
    figures = dict(
        (part.split()[0], float(part.split()[1]))
        for part in cpu.split(": ", 1)[1].split(";")[0].split(", ")
    )
    assert set(figures) == {"node", "postgres", "generator"}
    assert figures["node"] > 0, cpu
    assert "warm-up (not counted): 15 requests" in out
