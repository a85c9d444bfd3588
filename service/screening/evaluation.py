"""Score an organisation-name matcher against the labelled screening evaluation set.

The set (``tests/screening/data/screening-eval.jsonl``) holds what a research security officer
types or pastes: listed names and their variants, Web of Science abbreviations, Chinese, pinyin
and Cyrillic forms, acronyms, whole affiliation lines, and hard negatives (look-alike and
unrelated real institutions). Each case names the one subject it must find, or none.

Scoring, per case, over the subject names the matcher returns (duplicates counted once):

- true positive: the expected subject is among them;
- false positive: every other returned subject (so a negative case can only add false positives);
- false negative: a subject was expected and is not among them.

Precision, recall and F1 are then computed per category and overall from those counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CATEGORIES",
    "EVAL_SET_PATH",
    "HOLDOUT_SET_PATH",
    "EvalCase",
    "EvalReport",
    "EvalSetError",
    "Failure",
    "Score",
    "Search",
    "evaluate",
    "format_report",
    "load_cases",
]

EVAL_SET_PATH = Path(__file__).resolve().parents[2] / "tests/screening/data/screening-eval.jsonl"
HOLDOUT_SET_PATH = EVAL_SET_PATH.with_name("screening-holdout.jsonl")
"""Cases written blind, after the matcher was developed against ``EVAL_SET_PATH``: what the
matcher scores on them says how it does on names nobody tuned it for."""

# In report order: the easy forms first, then the scripts, then whole lines and the negatives.
CATEGORIES: tuple[str, ...] = (
    "exact",
    "wos_abbreviation",
    "company_suffix",
    "spelling",
    "chinese_simplified",
    "chinese_traditional",
    "chinese_short_form",
    "pinyin",
    "acronym_listed",
    "acronym_derived",
    "cyrillic",
    "affiliation",
    "lookalike",
    "unrelated",
)

_FIELDS = frozenset({"query", "country", "expect", "category", "note"})

Search = Callable[[str, str | None], Sequence[str]]
"""A matcher under test: (query, country) -> the matched subject names, best first."""


class EvalSetError(ValueError):
    """A line of the evaluation set is not a valid case."""


@dataclass(frozen=True)
class EvalCase:
    """One labelled query: ``expect`` is the subject name it must match, or None for no match."""

    query: str
    country: str | None
    expect: str | None
    category: str
    note: str | None = None


@dataclass(frozen=True)
class Score:
    """Counts for a group of cases, and the rates derived from them."""

    cases: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        """Share of returned subjects that were expected.

        Nothing returned counts as perfect precision only when nothing was expected either; a
        matcher that returns nothing at all for positive cases gets 0.0, not a free 1.0.
        """
        predicted = self.tp + self.fp
        if predicted == 0:
            return 1.0 if self.fn == 0 else 0.0
        return self.tp / predicted

    @property
    def recall(self) -> float:
        """Share of expected subjects that were returned (1.0 when none was expected)."""
        expected = self.tp + self.fn
        return 1.0 if expected == 0 else self.tp / expected

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)

    def __add__(self, other: Score) -> Score:
        return Score(
            cases=self.cases + other.cases,
            tp=self.tp + other.tp,
            fp=self.fp + other.fp,
            fn=self.fn + other.fn,
        )


@dataclass(frozen=True)
class Failure:
    """A case the matcher got wrong: it missed the expected subject or returned another one."""

    category: str
    query: str
    country: str | None
    expected: str | None
    got: tuple[str, ...]


@dataclass(frozen=True)
class EvalReport:
    """Scores per category (in ``CATEGORIES`` order, then any others) and overall."""

    categories: Mapping[str, Score]
    overall: Score
    failures: tuple[Failure, ...]

    def false_positives(self, category: str) -> int:
        """False matches in one category (0 for a category with no cases)."""
        return self.categories.get(category, Score()).fp


def load_cases(path: Path | str = EVAL_SET_PATH) -> list[EvalCase]:
    """Read the evaluation set: one JSON object per line, blank lines ignored.

    Raises ``EvalSetError`` naming the line for anything that is not a well-formed case, so a
    broken set fails loudly instead of silently scoring fewer cases.
    """
    cases: list[EvalCase] = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                raise EvalSetError(f"line {number}: not JSON ({error.msg})") from error
            cases.append(_parse_case(record, line=number))
    return cases


def _parse_case(record: object, *, line: int) -> EvalCase:
    if not isinstance(record, dict):
        raise EvalSetError(f"line {line}: expected a JSON object")
    unknown = set(record) - _FIELDS
    if unknown:
        raise EvalSetError(f"line {line}: unknown field(s) {sorted(unknown)}")
    query = record.get("query")
    if not isinstance(query, str) or not query.strip():
        raise EvalSetError(f"line {line}: 'query' must be a non-empty string")
    country = record.get("country")
    if country is not None and not (
        isinstance(country, str) and len(country) == 2 and country.isascii() and country.isupper()
    ):
        raise EvalSetError(f"line {line}: 'country' must be null or an ISO 3166-1 alpha-2 code")
    expect = record.get("expect")
    if expect is not None and (not isinstance(expect, str) or not expect):
        raise EvalSetError(f"line {line}: 'expect' must be null or a subject name")
    category = record.get("category")
    if category not in CATEGORIES:
        raise EvalSetError(f"line {line}: 'category' must be one of {', '.join(CATEGORIES)}")
    note = record.get("note")
    if note is not None and not isinstance(note, str):
        raise EvalSetError(f"line {line}: 'note' must be a string")
    return EvalCase(query=query, country=country, expect=expect, category=category, note=note)


def evaluate(search: Search, cases: Iterable[EvalCase]) -> EvalReport:
    """Run ``search`` on every case and score what it returns (see the module docstring)."""
    scores: dict[str, Score] = {}
    failures: list[Failure] = []
    for case in cases:
        # A subject returned twice (say, once per matching name) is still one prediction.
        got = tuple(dict.fromkeys(search(case.query, case.country)))
        hit = case.expect is not None and case.expect in got
        score = Score(
            cases=1,
            tp=int(hit),
            fp=sum(1 for name in got if name != case.expect),
            fn=int(case.expect is not None and not hit),
        )
        scores[case.category] = scores.get(case.category, Score()) + score
        if score.fp or score.fn:
            failures.append(Failure(case.category, case.query, case.country, case.expect, got))
    ordered = {name: scores[name] for name in CATEGORIES if name in scores}
    ordered.update({name: score for name, score in scores.items() if name not in ordered})
    return EvalReport(
        categories=ordered,
        overall=sum(ordered.values(), Score()),
        failures=tuple(failures),
    )


def format_report(report: EvalReport, *, max_failures: int = 50) -> str:
    """A plain-text table per category, the overall line, then up to ``max_failures`` failures."""
    width = max([len("overall"), *(len(name) for name in report.categories)])
    header = (
        f"{'category':<{width}}  {'cases':>5}  {'prec':>6}  {'recall':>6}  {'F1':>6}"
        f"  {'false':>5}  {'missed':>6}"
    )

    def row(name: str, score: Score) -> str:
        return (
            f"{name:<{width}}  {score.cases:>5}  {score.precision:>6.3f}  {score.recall:>6.3f}"
            f"  {score.f1:>6.3f}  {score.fp:>5}  {score.fn:>6}"
        )

    lines = [header, "-" * len(header)]
    lines += [row(name, score) for name, score in report.categories.items()]
    lines += ["-" * len(header), row("overall", report.overall)]
    if report.failures:
        shown = report.failures[:max_failures]
        lines += ["", f"failures ({len(shown)} of {len(report.failures)}):"]
        for failure in shown:
            where = f" [{failure.country}]" if failure.country else ""
            got = ", ".join(failure.got) if failure.got else "nothing"
            lines.append(
                f"  {failure.category}: {failure.query!r}{where}"
                f" expected {failure.expected or 'no match'}; got {got}"
            )
    return "\n".join(lines)
