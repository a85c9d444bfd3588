"""Screening benchmark: the index over ``count`` synthetic subjects plus the demo's, in-process.

1. Subjects: the 25 demo subjects and ``count`` synthetic organisations
   (``bench.synthetic_names``: many countries, half of them Chinese with official Chinese names,
   look-alikes of the listed institutions among them). None is named as a demo subject or an
   evaluation query is: that would be a right answer counted as a false one.
2. Index build: ``ScreeningIndex.load()`` over every subject (parsing each subject's JSON, as a
   node reads them from its database, included), the process's RSS growth, and tracemalloc's
   peak and retained size (on at most ``TRACE_SUBJECTS`` subjects: tracing makes the build
   several times slower; the per-subject figure is scaled to ``count``).
3. Single names, in-process: ``index.search()`` over a query mix (the evaluation set's queries,
   synthetic names and their variants, affiliation lines, Chinese names, pinyin, real ROR
   names), and the full domain call ``screen()`` against a SQLite
   database holding every subject's advisory (written through ``store_revisions``), for a
   vetted reader, one transaction per call as a request has.
4. A batch of ``BATCH_NAMES`` names through ``screen_rows()``, wall time.
5. Baseline in the same run: a brute-force ``rapidfuzz.process.extract`` scan over every indexed
   name string with ``WRatio`` and with ``token_sort_ratio``, interleaved with ``index.search``
   on the same queries (fewer of them: a scan takes a large fraction of a second).
   Also the index's first ``refresh()`` from that database (what a node's first screen after
   start-up does: the app starts with an empty index), and a ``refresh()`` after each of a few
   single-advisory writes (what every screen after a write does).
6. False alarms: the real ROR organisations (../shared/data/ror-subset.jsonl) screened against
   the demo subjects alone; every match that is not the same organisation (same ROR id, or the
   same name) is listed.
7. The evaluation report (``service.screening.evaluation``: precision, recall and F1 per
   category) over the demo subjects alone and over the demo plus the synthetic subjects, where
   a demo query matching a synthetic look-alike is a false positive.
"""

from __future__ import annotations

import gc
import itertools
import json
import random
import re
import statistics
import time
import tracemalloc
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pycountry
from pypinyin import lazy_pinyin
from rapidfuzz import fuzz, process, utils
from sqlalchemy.orm import Session, sessionmaker

from bench import synthetic_names
from bench.data import NODE_ID, READER_EMAIL, GeneratedAdvisory, generate
from bench.load import Members, make_members, new_revisions, write_batch
from bench.timing import Timing, time_interleaved
from service.access.principal import Principal, principal_for
from service.access.service import get_user_by_email
from service.advisories.schemas import AdvisoryCreate, Subject
from service.advisories.service import create_advisory
from service.db import make_engine, make_session_factory, read_only, transaction, utcnow
from service.demo import demo_advisories
from service.screening.evaluation import (
    EVAL_SET_PATH,
    HOLDOUT_SET_PATH,
    EvalCase,
    evaluate,
    format_report,
    load_cases,
)
from service.screening.index import ScreeningIndex
from service.screening.service import ScreenRow, screen, screen_rows

AIM_P99_MS = 10.0
AIM_BATCH_S = 2.0
AIM_MEMORY_MB = 500.0
AIM_COUNT = 100_000
BATCH_NAMES = 1_000
TRACE_SUBJECTS = 10_000
BASELINE_QUERIES = 60
SLOWEST_SHOWN = 8
MISSES_SHOWN = 20
SEED = 20261206
ROOT = Path(__file__).resolve().parent.parent
ROR_PATH = ROOT.parent / "shared" / "data" / "ror-subset.jsonl"
_TRAILING_PARENTHESIS = re.compile(r"\s*\([^()]*\)\s*$")
_PARTS = re.compile(r"[,;()]|\band\b")
# The demo's authors, as in ``service.demo``: bench.data's members include the demo orgs.
_DEMO_AUTHORS = {"academia": "analyst@example.edu", "government": "publisher@gov.example"}


@dataclass(frozen=True)
class Query:
    """One name to screen, what kind of query it is, and the subject it names when known."""

    text: str
    kind: str
    country: str | None = None
    expected: str | None = None  # the name of the subject it should find first


@dataclass
class Build:
    subjects: int = 0
    names: int = 0
    seconds: float = 0.0
    parse_seconds: float = 0.0
    rss_growth_mb: float = 0.0
    traced_subjects: int = 0
    traced_peak_mb: float = 0.0
    traced_retained_mb: float = 0.0


@dataclass
class FalseAlarm:
    ror_id: str
    ror_name: str
    query: str
    query_type: str
    country: str
    demo_name: str
    score: float
    matched_on: str
    survives_country: bool  # still matched when the ROR record's country is given


@dataclass
class RorResult:
    records: int = 0
    queries: int = 0
    seconds: float = 0.0
    same_org: list[FalseAlarm] = field(default_factory=list)  # the listed organisation itself
    alarms: list[FalseAlarm] = field(default_factory=list)  # names, aliases, labels
    acronym_alarms: list[FalseAlarm] = field(default_factory=list)


@dataclass
class Result:
    count: int
    build: Build = field(default_factory=Build)
    generate_seconds: float = 0.0
    queries: dict[str, int] = field(default_factory=dict)  # by kind
    query_source: str = ""
    search: dict[str, Timing] = field(default_factory=dict)  # by kind, and "all"
    found: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (found, known)
    misses: list[str] = field(default_factory=list)
    slowest_search: list[tuple[float, Query]] = field(default_factory=list)
    slowest_screen: list[tuple[float, Query]] = field(default_factory=list)
    screen: dict[str, Timing] = field(default_factory=dict)
    baseline: dict[str, Timing] = field(default_factory=dict)
    baseline_choices: int = 0
    batch_runs: list[float] = field(default_factory=list)
    batch_matched: int = 0
    load_seconds: float = 0.0
    refresh_seconds: float = 0.0
    incremental: Timing | None = None
    ror: RorResult | None = None
    evaluation: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- subjects -------------------------------------------------------------------------------


def demo_subjects() -> list[dict[str, Any]]:
    """The demo advisories' subjects, in the shape the node stores them."""
    return [
        Subject.model_validate(raw["subject"]).model_dump(mode="json") for raw in demo_advisories()
    ]


def reserved_keys(demo: Iterable[Mapping[str, Any]], extra: Iterable[str]) -> set[str]:
    """Comparison keys of every demo name and of ``extra`` (the evaluation queries).

    Each part of an affiliation line too: "Southeast University" in "School of Information
    Science and Engineering, Southeast University, Nanjing" is a real, unlisted university.
    """
    keys = set()
    for subject in demo:
        keys.update(synthetic_names.normal_key(name) for name in _all_names([subject]))
    for text in extra:
        keys.add(synthetic_names.normal_key(text))
        # NFKC first: Chinese lines separate their parts with full-width commas.
        parts = _PARTS.split(unicodedata.normalize("NFKC", text))
        keys.update(synthetic_names.normal_key(part) for part in parts)
    keys.discard("")
    return keys


def _all_names(subjects: Iterable[Mapping[str, Any]]) -> list[str]:
    return [n for s in subjects for n in (s["name"], *(x["value"] for x in s["names"]))]


# -- queries --------------------------------------------------------------------------------

_WOS = {
    "University": "Univ",
    "Institute": "Inst",
    "Technology": "Technol",
    "National": "Natl",
    "Science": "Sci",
    "Sciences": "Sci",
    "Engineering": "Engn",
    "Aeronautics": "Aeronaut",
    "Astronautics": "Astronaut",
    "Polytechnical": "Polytech",
    "Polytechnic": "Polytech",
    "Academy": "Acad",
    "Laboratory": "Lab",
    "Research": "Res",
    "Electronic": "Elect",
    "Company": "Co",
    "Limited": "Ltd",
    "Corporation": "Corp",
}
_DEPARTMENTS = (
    "School of Computer Science and Technology",
    "Department of Physics",
    "College of Materials Science and Engineering",
    "School of Electronic and Information Engineering",
    "Key Laboratory of Micro-Systems and Micro-Structures Manufacturing, Ministry of Education",
    "State Key Laboratory of Robotics and System",
    "School of Astronautics",
    "Department of Mechanical Engineering",
    "Center for Quantum Information",
    "Faculty of Chemistry",
)
_ZH_DEPARTMENTS = (
    "计算机科学与技术学院",
    "材料科学与工程学院",
    "物理学院",
    "航天学院",
    "电子信息工程学院",
)


def wos_style(name: str) -> str:
    """A name as Web of Science abbreviates it: "Harbin Inst Technol"."""
    words = [_WOS.get(word, word) for word in name.replace(",", "").split()]
    return " ".join(word for word in words if word.casefold() not in ("of", "the", "and"))


def with_slip(rng: random.Random, name: str) -> str:
    """``name`` with two neighbouring letters of one long word swapped, as people type."""
    words = name.split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 8 and w.isalpha()]
    if not long_words:
        return name.lower()
    i = rng.choice(long_words)
    word = words[i]
    j = rng.randrange(1, len(word) - 2)
    words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    return " ".join(words)


def affiliation_line(rng: random.Random, name: str, country: str) -> str:
    """A co-author affiliation naming ``name``: department, institution, city, country."""
    found = pycountry.countries.get(alpha_2=country)
    country_name = "China" if country == "CN" else (found.name if found else country)
    known = synthetic_names.places(country)
    city = next((place for place in known if place in name), None)
    if city is None:
        city = rng.choice(known) if known else country_name
    postcode = f" {rng.randrange(100000, 999999)}" if country == "CN" else ""
    return f"{rng.choice(_DEPARTMENTS)}, {name}, {city}{postcode}, {country_name}"


def _pinyin(text: str, rng: random.Random) -> str:
    """Pinyin of a Chinese name, as people write it: syllables spaced, or run together."""
    syllables = lazy_pinyin(text)
    if rng.random() < 0.5:
        return " ".join(syllables)
    return "".join(syllables).capitalize()


def query_mix(
    synthetic: Sequence[Mapping[str, Any]],
    ror: Sequence[Mapping[str, Any]],
    cases: Sequence[EvalCase],
    *,
    per_kind: int,
    seed: int = SEED,
) -> list[Query]:
    """A shuffled mix of the kinds of names people screen.

    The evaluation set's queries (the demo names in every form, and hard negatives), and about
    ``per_kind`` each of: synthetic names, their variants (Web of Science style, a slip),
    affiliation lines, Chinese names (some with a department), pinyin, and real ROR names.
    """
    rng = random.Random(seed)
    queries = [Query(case.query, "evaluation set", case.country) for case in cases]
    picks = rng.sample(list(synthetic), min(len(synthetic), per_kind * 3))
    third = max(1, len(picks) // 3)
    for subject in picks[:third]:
        queries.append(Query(subject["name"], "synthetic name", expected=subject["name"]))
    for subject in picks[third : 2 * third]:
        name = subject["name"]
        variant = wos_style(name) if rng.random() < 0.5 else with_slip(rng, name)
        queries.append(Query(variant, "synthetic variant", expected=name))
    for subject in picks[2 * third :]:
        line = affiliation_line(rng, subject["name"], subject["country"])
        queries.append(Query(line, "affiliation line", expected=subject["name"]))
    chinese = [
        (subject, item["value"])
        for subject in synthetic
        for item in subject["names"]
        if item.get("lang") == "zh"
    ]
    for subject, value in rng.sample(chinese, min(len(chinese), per_kind)):
        if rng.random() < 0.2:  # a department of it, written as one Chinese line
            value += rng.choice(_ZH_DEPARTMENTS)
        queries.append(Query(value, "Chinese name", expected=subject["name"]))
    for subject, value in rng.sample(chinese, min(len(chinese), per_kind // 2)):
        queries.append(Query(_pinyin(value, rng), "pinyin", expected=subject["name"]))
    for record in rng.sample(list(ror), min(len(ror), per_kind)):
        queries.append(Query(record["name"], "ROR name (real)"))
    rng.shuffle(queries)
    return queries


# -- timing ---------------------------------------------------------------------------------


def time_queries(
    call: Callable[[Query], object],
    queries: Sequence[Query],
    *,
    passes: int,
    budget_s: float,
    slowest: list[tuple[float, Query]] | None = None,
) -> dict[str, Timing]:
    """Latency of ``call`` per query kind and over all, each query ``passes`` times at most.

    One untimed pass over the first queries warms caches; then whole passes, stopping after
    ``budget_s`` seconds. ``slowest`` receives the slowest queries (each one's best time, so a
    query is slow in itself rather than unlucky once), slowest first.
    """
    for query in queries[:50]:
        call(query)
    gc.collect()
    samples: dict[str, list[float]] = defaultdict(list)
    best: dict[int, float] = {}
    deadline = time.perf_counter() + budget_s
    for _ in range(passes):
        for number, query in enumerate(queries):
            start = time.perf_counter_ns()
            call(query)
            elapsed = (time.perf_counter_ns() - start) / 1e6
            samples[query.kind].append(elapsed)
            samples["all"].append(elapsed)
            best[number] = min(elapsed, best.get(number, elapsed))
            if time.perf_counter() > deadline:
                break
        if time.perf_counter() > deadline:
            break
    if slowest is not None:
        ranked = sorted(best.items(), key=lambda item: -item[1])[:SLOWEST_SHOWN]
        slowest[:] = [(ms, queries[number]) for number, ms in ranked]
    return {kind: Timing(tuple(sorted(values))) for kind, values in samples.items()}


def found_rates(
    index: ScreeningIndex, queries: Sequence[Query], misses: list[str]
) -> dict[str, tuple[int, int]]:
    """Per kind: of the queries whose subject is known, how many have it as the first hit.

    ``misses`` receives a line for each query that did not.
    """
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for query in queries:
        if query.expected is None:
            continue
        hits = index.search(query.text, country=query.country, limit=5)
        counts[query.kind][1] += 1
        if hits and hits[0].subject.get("name") == query.expected:
            counts[query.kind][0] += 1
        else:
            got = f"{hits[0].subject.get('name')} via {hits[0].matched_on}" if hits else "nothing"
            misses.append(f"{query.kind}: {query.text!r} -> {got}; made from {query.expected!r}")
    return {kind: (found, known) for kind, (found, known) in counts.items()}


def baseline(
    index: ScreeningIndex,
    names: list[str],
    queries: Sequence[Query],
    *,
    budget_s: float,
) -> dict[str, Timing]:
    """``index.search`` against brute-force scans of every name, interleaved on the same queries.

    The choices are processed (``utils.default_process``: lower case, no punctuation) once,
    outside the timing, and each query as it is scanned: ``process.extract``'s default is no
    processing at all, which would make the scan cheaper and its answers worse.
    """
    choices = [utils.default_process(name) for name in names]

    def cycling(call: Callable[[str], object]) -> Callable[[], object]:
        texts = itertools.cycle([q.text for q in queries])
        return lambda: call(next(texts))

    def scan(scorer: Any) -> Callable[[str], object]:
        def call(text: str) -> object:
            return process.extract(utils.default_process(text), choices, scorer=scorer, limit=5)

        return call

    cases = {
        "index.search()": cycling(lambda text: index.search(text)),
        "rapidfuzz WRatio scan": cycling(scan(fuzz.WRatio)),
        "rapidfuzz token_sort_ratio scan": cycling(scan(fuzz.token_sort_ratio)),
    }
    return time_interleaved(cases, warmup=1, runs=len(queries) - 1, budget_s=budget_s)


# -- index builds ---------------------------------------------------------------------------


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def build_index(texts: Sequence[str], build: Build) -> ScreeningIndex:
    """``load()`` every subject (JSON texts, parsed as the index reads them), timed, with RSS."""
    started = time.perf_counter()
    for text in texts[: min(len(texts), 20_000)]:
        json.loads(text)
    build.parse_seconds = (time.perf_counter() - started) * len(texts) / min(len(texts), 20_000)
    before = _rss()
    started = time.perf_counter()
    index = ScreeningIndex()
    index.load((pk, json.loads(text)) for pk, text in enumerate(texts, start=1))
    build.seconds = time.perf_counter() - started
    build.rss_growth_mb = (_rss() - before) / 1e6
    build.subjects = index.size
    return index


def trace_build(texts: Sequence[str], build: Build) -> None:
    """tracemalloc's peak and retained size for building an index of (some of) ``texts``."""
    sample = texts[:TRACE_SUBJECTS]
    gc.collect()
    tracemalloc.start()
    try:
        index = ScreeningIndex()
        index.load((pk, json.loads(text)) for pk, text in enumerate(sample, start=1))
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del index
    build.traced_subjects = len(sample)
    build.traced_peak_mb = peak / 1e6
    build.traced_retained_mb = current / 1e6


# -- the database ---------------------------------------------------------------------------


def _advisories(
    subjects: Sequence[dict[str, Any]], org_ids: dict[str, str], *, seed: int
) -> Iterator[GeneratedAdvisory]:
    """bench.data's advisories (every tier, TLP and status), about ``subjects``."""
    advisories = generate(len(subjects), org_ids, seed=seed)
    for subject, advisory in zip(subjects, advisories, strict=True):
        for document in advisory.revisions:
            document["subject"] = subject
            document["summary"] = f"{subject['name']}: {document['risk'].replace('_', ' ')} risk."
        yield advisory


def load_database(
    factory: sessionmaker[Session],
    members: Members,
    subjects: Sequence[dict[str, Any]],
    *,
    batch: int,
    now: datetime,
) -> None:
    """An advisory per synthetic subject (``store_revisions``), then the demo's (as the demo)."""
    advisories = _advisories(subjects, members.org_ids, seed=SEED)
    while chunk := list(itertools.islice(advisories, batch)):
        with transaction(factory) as session:
            write_batch(session, new_revisions(chunk, members), now=now)
    with transaction(factory) as session:
        for raw in demo_advisories():
            entry = dict(raw)
            contributor = entry.pop("contributor_org")
            entry["audience"] = [members.org_ids[name] for name in entry.get("audience", [])]
            author = principal_for(get_user_by_email(session, _DEMO_AUTHORS[entry["tier"]]))
            if author.org_name != contributor:
                raise RuntimeError(f"demo advisory by {contributor!r} has no bench author")
            create_advisory(
                session,
                principal=author,
                node_id=NODE_ID,
                advisory_in=AdvisoryCreate.model_validate(entry),
                now=now,
            )


def incremental_refresh(
    factory: sessionmaker[Session],
    members: Members,
    index: ScreeningIndex,
    subjects: Sequence[dict[str, Any]],
    *,
    now: datetime,
) -> Timing:
    """``index.refresh`` after each of ``len(subjects)`` single-advisory writes."""
    samples = []
    # Another seed: bench.data's advisory ids come from it, and these are new advisories.
    for advisory in _advisories(subjects, members.org_ids, seed=SEED + 1):
        with transaction(factory) as session:
            write_batch(session, new_revisions([advisory], members), now=now)
        with read_only(factory) as session:
            start = time.perf_counter_ns()
            index.refresh(session)
            samples.append((time.perf_counter_ns() - start) / 1e6)
    return Timing(tuple(sorted(samples)))


# -- false alarms on real names -------------------------------------------------------------


def ror_records() -> list[dict[str, Any]]:
    if not ROR_PATH.exists():
        return []
    return [json.loads(line) for line in ROR_PATH.read_text("utf-8").splitlines() if line.strip()]


def ror_alarms(
    demo: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]]
) -> RorResult:
    """Every ROR name, alias, label and acronym screened against the demo subjects alone."""
    index = ScreeningIndex()
    index.load(enumerate(demo, start=1))
    demo_keys = {
        subject["name"]: {synthetic_names.normal_key(name) for name in _all_names([subject])}
        for subject in demo
    }
    result = RorResult(records=len(records))
    started = time.perf_counter()
    for record in records:
        ror_id = str(record["id"])
        # ROR keeps some organisations twice ("Huawei Technologies (China)" beside the group):
        # a record whose name is a demo subject's, its country aside, is that organisation.
        own_key = synthetic_names.normal_key(_TRAILING_PARENTHESIS.sub("", record["name"]))
        names = [(record["name"], "name")]
        names += [(alias, "alias") for alias in record.get("aliases", [])]
        names += [(label["value"], f"label ({label.get('lang')})") for label in record["labels"]]
        names += [(acronym, "acronym") for acronym in record.get("acronyms", [])]
        for text, kind in names:
            result.queries += 1
            for hit in index.search(text):
                alarm = FalseAlarm(
                    ror_id=ror_id,
                    ror_name=record["name"],
                    query=text,
                    query_type=kind,
                    country=str(record.get("country", "")),
                    demo_name=str(hit.subject["name"]),
                    score=hit.score,
                    matched_on=hit.matched_on,
                    survives_country=any(
                        other.subject["name"] == hit.subject["name"]
                        for other in index.search(text, country=record.get("country"))
                    ),
                )
                identifiers = hit.subject.get("identifiers") or {}
                if identifiers.get("ror") == ror_id or own_key in demo_keys[alarm.demo_name]:
                    result.same_org.append(alarm)
                elif kind == "acronym":
                    result.acronym_alarms.append(alarm)
                else:
                    result.alarms.append(alarm)
    result.seconds = time.perf_counter() - started
    return result


# -- evaluation -----------------------------------------------------------------------------


def evaluation_report(
    runs: Sequence[tuple[str, Sequence[EvalCase], ScreeningIndex]],
) -> list[str]:
    """Each set's report (precision, recall, F1 per category) on each index."""
    lines = []
    for title, cases, index in runs:

        def search(query: str, country: str | None, index: ScreeningIndex = index) -> list[str]:
            # As the evaluation tests do: every subject returned counts, right or wrong.
            return [str(hit.subject["name"]) for hit in index.search(query, country=country)]

        lines += ["", title, "-" * len(title)]
        lines += format_report(evaluate(search, cases)).splitlines()
    return lines


# -- the run --------------------------------------------------------------------------------


def run(
    url: str,
    *,
    count: int,
    batch: int,
    budget_s: float,
    per_kind: int = 200,
    log: Callable[[str], None],
) -> Result:
    """Everything the module docstring lists, against the migrated, empty database at ``url``."""
    result = Result(count)
    begun = time.perf_counter()

    def step(message: str) -> None:
        log(f"screening, {time.perf_counter() - begun:.0f} s: {message}")

    demo = demo_subjects()
    cases = load_cases()
    holdout = load_cases(HOLDOUT_SET_PATH)
    avoid = reserved_keys(demo, [case.query for case in (*cases, *holdout)])
    step(f"generating {count:,} synthetic subjects ...")
    started = time.perf_counter()
    synthetic = list(synthetic_names.subjects(count, avoid=avoid.__contains__))
    result.generate_seconds = time.perf_counter() - started
    everything = demo + synthetic
    texts = [json.dumps(subject, ensure_ascii=False) for subject in everything]
    names = _all_names(everything)
    result.build.names = len(names)
    ror = ror_records()
    if not ror:
        result.notes.append(f"{ROR_PATH} not found: no ROR queries, no false-alarm scan")
    queries = query_mix(synthetic, ror, cases, per_kind=per_kind)
    result.query_source = f"{len(cases)} from {EVAL_SET_PATH.relative_to(ROOT)}"
    for query in queries:
        result.queries[query.kind] = result.queries.get(query.kind, 0) + 1

    step("building the index (load) ...")
    index = build_index(texts, result.build)
    step(f"timing index.search() over {len(queries):,} queries ...")
    result.search = time_queries(
        lambda q: index.search(q.text, country=q.country),
        queries,
        passes=2,
        budget_s=budget_s,
        slowest=result.slowest_search,
    )
    result.found = found_rates(index, queries, result.misses)
    subset = queries[:: max(1, len(queries) // BASELINE_QUERIES)][:BASELINE_QUERIES]
    step(f"brute-force baselines over {len(names):,} names ...")
    result.baseline = baseline(index, names, subset, budget_s=budget_s)
    result.baseline_choices = len(names)
    demo_index = ScreeningIndex()
    demo_index.load(enumerate(demo, start=1))
    result.evaluation = evaluation_report(
        [
            ("Evaluation set, index over the 25 demo subjects", cases, demo_index),
            (
                f"Evaluation set, index over the demo + {count:,} synthetic subjects",
                cases,
                index,
            ),
            ("Held-out set (written blind), the 25 demo subjects", holdout, demo_index),
            (f"Held-out set, the demo + {count:,} synthetic subjects", holdout, index),
        ]
    )
    del index
    step("tracing the memory of a build ...")
    trace_build(texts, result.build)
    if ror:
        step(f"screening {len(ror):,} ROR organisations against the demo ...")
        result.ror = ror_alarms(demo, ror)

    engine = make_engine(url)
    factory = make_session_factory(engine)
    now = utcnow()
    try:
        members = make_members(factory, now)
        step(f"writing {count:,} advisories (store_revisions) and the demo's ...")
        started = time.perf_counter()
        load_database(factory, members, synthetic, batch=batch, now=now)
        result.load_seconds = time.perf_counter() - started
        index = ScreeningIndex()
        step("first refresh of an empty index (what a node's first screen does) ...")
        with read_only(factory) as session:
            started = time.perf_counter()
            index.refresh(session)
            result.refresh_seconds = time.perf_counter() - started
            principal: Principal = principal_for(get_user_by_email(session, READER_EMAIL))

        def domain(query: Query) -> object:
            with transaction(factory) as session:
                return screen(
                    session,
                    principal=principal,
                    index=index,
                    query=query.text,
                    country=query.country,
                    now=now,
                )

        step("timing screen() ...")
        result.screen = time_queries(
            domain, queries, passes=1, budget_s=budget_s, slowest=result.slowest_screen
        )
        rows = [
            ScreenRow(q.text, q.country)
            for q in itertools.islice(itertools.cycle(queries), BATCH_NAMES)
        ]
        step(f"timing screen_rows() with {len(rows):,} names ...")
        for _ in range(3):
            with transaction(factory) as session:
                started = time.perf_counter()
                results = screen_rows(session, principal=principal, index=index, rows=rows, now=now)
                result.batch_runs.append(time.perf_counter() - started)
        result.batch_matched = sum(1 for r in results if r.matches)
        extra = list(synthetic_names.subjects(30, avoid=avoid.__contains__, seed=SEED + 1))
        result.incremental = incremental_refresh(factory, members, index, extra, now=now)
    finally:
        engine.dispose()
    return result


# -- the report -----------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.2f} ms"


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(result: Result) -> list[str]:
    """The result as plain-text tables."""
    b = result.build
    width = 58
    rule = "-" * (width + 34)
    title = f"Screening: demo + {result.count:,} synthetic subjects"
    lines = [
        title,
        "=" * len(title),
        f"{b.subjects:,} subjects indexed ({b.names:,} name strings); synthetic subjects "
        f"generated in {result.generate_seconds:.1f} s (not counted)",
        "",
        f"{'index build':<{width}}{'value':>16}",
        rule,
        f"{'ScreeningIndex.load(), JSON parse included':<{width}}{b.seconds:>14.1f} s",
        f"{'  of which parsing the subjects JSON (estimated)':<{width}}{b.parse_seconds:>14.1f} s",
        f"{'RSS growth of the process':<{width}}{b.rss_growth_mb:>13.0f} MB",
        f"{f'tracemalloc peak, {b.traced_subjects:,} subjects':<{width}}"
        f"{b.traced_peak_mb:>13.0f} MB",
        f"{f'tracemalloc retained, {b.traced_subjects:,} subjects':<{width}}"
        f"{b.traced_retained_mb:>13.0f} MB",
    ]
    scaled = b.traced_peak_mb * b.subjects / b.traced_subjects if b.traced_subjects else 0.0
    if b.traced_subjects and b.traced_subjects < b.subjects:
        lines.append(f"{'tracemalloc peak scaled to every subject':<{width}}{scaled:>13.0f} MB")
    lines += [
        f"{'first refresh of an empty index from the database':<{width}}"
        f"{result.refresh_seconds:>14.1f} s",
        f"{'(writing the advisories, not counted)':<{width}}{result.load_seconds:>14.1f} s",
        "",
        f"queries: {sum(result.queries.values()):,} ("
        + ", ".join(f"{kind} {n}" for kind, n in sorted(result.queries.items()))
        + f"); demo queries: {result.query_source}",
        "",
        f"{'single name, in-process':<{width}}{'p50':>12}{'p99':>12}{'n':>7}{'found':>10}",
        rule,
    ]

    def row(label: str, timing: Timing | None, found: tuple[int, int] | None = None) -> str:
        if timing is None or not timing.samples:
            return f"{label:<{width}}{'-':>12}{'-':>12}{0:>7}"
        shown = f"{found[0]}/{found[1]}" if found else ""
        return (
            f"{label:<{width}}{_ms(timing.p50):>12}{_ms(timing.p99):>12}"
            f"{len(timing.samples):>7}{shown:>10}"
        )

    kinds = sorted(kind for kind in result.search if kind != "all")
    lines.append(row("index.search(), all queries", result.search.get("all")))
    lines += [row(f"  {kind}", result.search[kind], result.found.get(kind)) for kind in kinds]
    lines.append(
        row("screen() + transaction, vetted reader, all queries", result.screen.get("all"))
    )
    lines += [row(f"  {kind}", result.screen.get(kind)) for kind in kinds]
    lines.append(row("index.refresh() after one more advisory is written", result.incremental))
    lines += [
        rule,
        "found: the subject the query was made from is the first hit (where that is known)",
        "",
        f"baseline: brute force over all {result.baseline_choices:,} name strings, interleaved "
        "with index.search() on the same queries",
        rule,
    ]
    lines += [row(label, timing) for label, timing in result.baseline.items()]
    search_p50 = result.baseline.get("index.search()")
    for label, timing in result.baseline.items():
        if search_p50 is not None and label != "index.search()" and search_p50.p50 > 0:
            lines.append(f"{label} / index.search(): {timing.p50 / search_p50.p50:,.0f}x at p50")
    runs = result.batch_runs
    lines += [
        "",
        f"batch: screen_rows() with {BATCH_NAMES:,} names, one transaction: "
        + ", ".join(f"{s:.2f} s" for s in runs)
        + f" ({result.batch_matched} of them matched something visible)",
        rule,
    ]
    worst_p99 = max(
        (t.p99 for t in (result.search.get("all"), result.screen.get("all")) if t), default=0.0
    )
    batch_s = statistics.median(runs) if runs else 0.0
    memory = max(b.rss_growth_mb, scaled or b.traced_peak_mb)
    at = "" if result.count == AIM_COUNT else f" - but measured at {result.count:,}"
    lines += [
        f"aim, single-name p99 under {AIM_P99_MS:.0f} ms: {_verdict(worst_p99 < AIM_P99_MS)} "
        f"(search and screen(), worst {_ms(worst_p99)}){at}",
        f"aim, {BATCH_NAMES:,} names under {AIM_BATCH_S:.0f} s: "
        f"{_verdict(batch_s < AIM_BATCH_S)} (median {batch_s:.2f} s){at}",
        f"aim, index memory under {AIM_MEMORY_MB:.0f} MB: {_verdict(memory < AIM_MEMORY_MB)} "
        f"({memory:.0f} MB){at}",
    ]
    for title, slowest in (
        ("slowest queries, index.search() (best of its runs)", result.slowest_search),
        ("slowest queries, screen() (one run)", result.slowest_screen),
    ):
        lines += ["", f"{title}:"]
        lines += [f"  {_ms(ms):>10}  {q.kind}: {q.text[:100]!r}" for ms, q in slowest]
    if result.misses:
        lines += [
            "",
            f"queries made from a subject that did not find it first "
            f"({min(len(result.misses), MISSES_SHOWN)} of {len(result.misses)}):",
        ]
        lines += [f"  {miss}" for miss in result.misses[:MISSES_SHOWN]]
    lines += _ror_report(result.ror)
    lines += result.evaluation
    lines += [f"note: {note}" for note in result.notes]
    return lines


def _ror_report(ror: RorResult | None) -> list[str]:
    if ror is None:
        return []
    alarmed = {a.ror_id for a in ror.alarms}
    acronyms = {a.ror_id for a in ror.acronym_alarms}
    survive = {a.ror_id for a in ror.alarms if a.survives_country}
    lines = [
        "",
        f"False alarms: {ror.records:,} real ROR organisations ({ror.queries:,} names, aliases, "
        f"labels and acronyms) screened against the 25 demo subjects in {ror.seconds:.1f} s",
        "-" * 92,
        f"the listed organisation itself (same ROR id or name), matched: "
        f"{len({a.ror_id for a in ror.same_org})} organisations",
        f"other organisations matching a demo subject by name, alias or label: {len(alarmed)} "
        f"({len(survive)} still when the ROR country is given)",
        f"other organisations matching by one of their acronyms: {len(acronyms)}",
    ]
    if ror.alarms:
        lines += ["", "false-alarm candidates (name, alias or label):"]
        for a in sorted(ror.alarms, key=lambda a: (a.demo_name, a.ror_name, a.query)):
            lines.append(
                f"  {a.query!r} [{a.query_type}, {a.country}, {a.ror_id.rsplit('/', 1)[-1]}"
                + ("" if a.query == a.ror_name else f", of {a.ror_name!r}")
                + f"] -> {a.demo_name} {a.score:.2f} via {a.matched_on}"
            )
    if ror.acronym_alarms:
        lines += ["", "acronym matches (another organisation's acronym):"]
        by_acronym: dict[tuple[str, str], list[str]] = defaultdict(list)
        for a in ror.acronym_alarms:
            by_acronym[(a.query, a.demo_name)].append(a.ror_name)
        for (acronym, demo_name), owners in sorted(by_acronym.items()):
            shown = "; ".join(owners[:3]) + (
                f" and {len(owners) - 3} more" if len(owners) > 3 else ""
            )
            lines.append(f"  {acronym} -> {demo_name}: {shown}")
    return lines
