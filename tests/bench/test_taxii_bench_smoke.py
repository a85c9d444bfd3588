"""``python -m bench taxii`` runs end to end on a tiny count, medallion beside it when installed.

No timing is asserted: the figures depend on the machine. What is checked is that the pull
brought at least one object per advisory loaded (the part itself fails when two pulls disagree
or an object comes twice), that every pull (taxii2-client and httpx, both page sizes) ran with
figures in it, that single pages were timed, and that medallion was either pulled on the same
objects or reported as not installed.
"""

from __future__ import annotations

import re

import pytest

from bench.__main__ import main
from bench.taxii import medallion_installed

COUNT = 200


def test_the_taxii_part_pulls_every_advisory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["taxii", "--taxii-count", str(COUNT), "--runs", "20", "--budget", "0.5"]) == 0

    out = capsys.readouterr().out
    assert f"TAXII 2.1: a full pull of {COUNT} advisories" in out
    assert f"{COUNT} published clear/green advisories" in out
    collection = re.search(r"collection \S+: ([\d,]+) objects\n\((.*)\)", out)
    assert collection, out
    objects = int(collection.group(1).replace(",", ""))
    assert objects >= COUNT
    for client in ("taxii2-client", "httpx"):
        for per_request in ("100", "1,000"):
            row = rf"trex\s+{client}\s+{objects:,}\s+{per_request}\s+\d+\s+\d+\.\d\ds\s+[\d,]+\s"
            assert re.search(row, out), (client, per_request, out)
    for label in ("first page, limit=100", "(by its next), limit=100", "first page, limit=1000"):
        assert re.search(re.escape(label) + r"\s+\d+\.\d ms\s+\d+\.\d ms\s+\d+", out), label
    assert re.search(r"trex\s+[\d,]+ objects/s over all", out)
    if medallion_installed():
        assert re.search(r"medallion\s+taxii2-client\s+[\d,]+\s+1,000\s+\d+\s+\d+\.\d\ds", out)
        assert re.search(r"medallion\s+[\d,]+ objects/s over the first [\d,]+ of the same", out)
        assert re.search(r"trex / medallion: \d+\.\dx", out)
    else:
        assert "medallion: SKIPPED - medallion is not installed" in out
