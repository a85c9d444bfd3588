"""``python -m bench screening`` runs end to end on a tiny count; its synthetic names are sound.

No timing is asserted: the figures depend on the machine. What is checked is that every section
of the report is there with figures in it, and that the synthetic subjects are valid subjects,
the same on every run, distinct, and never named as a demo subject.
"""

from __future__ import annotations

import re

import pytest

from bench.__main__ import main
from bench.screening import demo_subjects, reserved_keys
from bench.synthetic_names import normal_key, subjects
from service.advisories.schemas import Subject


def test_the_screening_part_prints_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screening", "--count", "300", "--budget", "0.5"]) == 0

    out = capsys.readouterr().out
    assert "Screening: demo + 300 synthetic subjects" in out
    assert re.search(r"ScreeningIndex\.load\(\), JSON parse included\s+\d+\.\d s", out)
    assert re.search(r"RSS growth of the process\s+-?\d+ MB", out)
    assert re.search(r"tracemalloc peak, 325 subjects\s+\d+ MB", out)
    for label in (
        "index.search(), all queries",
        "screen() + transaction, vetted reader, all queries",
        "rapidfuzz WRatio scan",
        "rapidfuzz token_sort_ratio scan",
    ):
        assert re.search(re.escape(label) + r"\s+\d+\.\d\d ms\s+\d+\.\d\d ms\s+\d+", out), label
    assert re.search(r"batch: screen_rows\(\) with 1,000 names, one transaction: \d+\.\d\d s", out)
    assert "aim, single-name p99 under 10 ms" in out
    assert "- but measured at 300" in out
    assert "Evaluation set, index over the demo + 300 synthetic subjects" in out
    assert "Held-out set, the demo + 300 synthetic subjects" in out
    assert re.search(r"overall\s+\d+\s+\d\.\d{3}\s+\d\.\d{3}\s+\d\.\d{3}", out)


def test_synthetic_subjects_are_valid_repeatable_and_distinct() -> None:
    first = list(subjects(2_000))

    assert first == list(subjects(2_000))
    assert len({normal_key(s["name"]) for s in first}) == 2_000
    assert sum(s["country"] == "CN" for s in first) > 600
    assert any(n.get("lang") == "zh" for s in first for n in s["names"])
    for subject in first:
        assert Subject.model_validate(subject).model_dump(mode="json") == subject


def test_synthetic_subjects_never_take_a_demo_name() -> None:
    reserved = reserved_keys(demo_subjects(), ["Beijing University of Technology"])

    for subject in subjects(20_000, avoid=reserved.__contains__):
        names = [subject["name"], *(n["value"] for n in subject["names"])]
        assert not any(normal_key(name) in reserved for name in names), names
