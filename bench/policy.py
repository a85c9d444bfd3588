"""What the access policy costs: lists and searches with and without ``visible_clause``.

The Access issue's aim: at 100,000 advisories, list and search latency with the policy filter no
more than 20% above the unfiltered figure. Measured at the domain/SQL level, a session per call
and no HTTP, on the database the rest of the benchmark loaded:

- with the filter: ``list_advisories`` as the node runs it (first page of 100), for a vetted
  reader, an unvetted reader and an anonymous caller, whose filters differ;
- without it: the select ``list_query`` builds (position and document, joined on the current
  revision, the same filter clauses, newest first, one row more than a page) built here with no
  ``visible_clause``; ``service`` has no unfiltered list, and must not have one;
- to split the difference: ``list_query`` with the filter run alone, as the unfiltered select
  is, without what ``list_advisories`` adds (three columns, the audit record of the page).

One list (country and risk) and one search (``q=``, a word in about 4% of subject names). The
cases of each are timed interleaved, so load from elsewhere on the shared machine falls on all of
them alike. Before timing, each filtered result is checked against the unfiltered one: exactly
the unfiltered rows that ``can_read`` allows, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.data import READER_EMAIL, UNVETTED_READER_EMAIL
from bench.timing import Timing, time_interleaved
from service.access.policy import AdvisoryFacts, can_read
from service.access.principal import ANONYMOUS, Principal, principal_for
from service.access.service import get_user_by_email
from service.advisories.models import Advisory, AdvisoryAudience, AdvisoryRevision
from service.advisories.schemas import ListFilters
from service.advisories.service import list_advisories, list_query
from service.db import read_only, utcnow

AIM_PERCENT = 20.0
PAGE = 100
# A place name in about 4% of the generated subject names (bench/data.py PLACES), so a first
# page of a search has to pass over a few thousand advisories that do not match.
SEARCH_WORD = "harbin"
PRINCIPALS = ("vetted reader", "unvetted reader", "anonymous")


@dataclass(frozen=True)
class Workload:
    """One list or search: its filters for ``list_query`` and the same filters as clauses."""

    name: str
    label: str
    filters: ListFilters
    clauses: Callable[[], list[ColumnElement[bool]]]


def _list_clauses() -> list[ColumnElement[bool]]:
    return [Advisory.status == "published", Advisory.country == "CN", Advisory.risk == "high"]


def _search_clauses() -> list[ColumnElement[bool]]:
    # What list_query does with q: casefolded, LIKE-escaped (the word needs no escaping).
    return [
        Advisory.status == "published",
        Advisory.search_text.like(f"%{SEARCH_WORD.casefold()}%", escape="\\"),
    ]


WORKLOADS = (
    Workload(
        "list",
        "list country=CN&risk=high",
        ListFilters(country="CN", risk="high"),
        _list_clauses,
    ),
    Workload("search", f"search q={SEARCH_WORD}", ListFilters(q=SEARCH_WORD), _search_clauses),
)


def unfiltered_query(clauses: Sequence[ColumnElement[bool]]) -> Select[tuple[int, str]]:
    """``list_query``'s select with ``clauses`` and no ``visible_clause``, one page and one row."""
    return (
        select(Advisory.pk, AdvisoryRevision.document)
        .join(AdvisoryRevision, AdvisoryRevision.seq == Advisory.current_seq)
        .where(*clauses)
        .order_by(Advisory.pk.desc())
        .limit(PAGE + 1)
    )


def filtered_query(
    principal: Principal, workload: Workload, today: date
) -> Select[tuple[int, str]]:
    return list_query(principal=principal, filters=workload.filters, today=today).limit(PAGE + 1)


@dataclass
class Group:
    """One workload's numbers on one backend."""

    workload: Workload
    matching: int = 0  # advisories the filters match, visible or not
    visible: dict[str, int] = field(default_factory=dict)  # by principal
    # How far down the unfiltered rows the filtered first page (and its one extra row) ends:
    # the rows the query passes over to fill it, against PAGE + 1 without the filter.
    reach: dict[str, int] = field(default_factory=dict)
    timings: dict[str, Timing] = field(default_factory=dict)


@dataclass
class PolicyResult:
    groups: list[Group] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)


def principals(factory: sessionmaker[Session]) -> dict[str, Principal]:
    with read_only(factory) as session:
        vetted = principal_for(get_user_by_email(session, READER_EMAIL))
        unvetted = principal_for(get_user_by_email(session, UNVETTED_READER_EMAIL))
    today = utcnow().date()
    if not vetted.is_vetted(today) or unvetted.is_vetted(today):
        raise RuntimeError(f"{READER_EMAIL} must be vetted and {UNVETTED_READER_EMAIL} not")
    return dict(zip(PRINCIPALS, (vetted, unvetted, ANONYMOUS), strict=True))


def check(
    factory: sessionmaker[Session], group: Group, readers: dict[str, Principal], today: date
) -> None:
    """Count what each principal sees, and raise unless it is what ``can_read`` allows."""
    clauses = group.workload.clauses()
    with read_only(factory) as session:
        rows = session.execute(
            select(
                Advisory.pk,
                Advisory.status,
                Advisory.tier,
                Advisory.tlp,
                Advisory.contributor_org_id,
            )
            .where(*clauses)
            .order_by(Advisory.pk.desc())
        ).all()
        audience: dict[int, set[str]] = {}
        for pk, org_id in session.execute(
            select(AdvisoryAudience.advisory_pk, AdvisoryAudience.org_id).where(
                AdvisoryAudience.advisory_pk.in_(select(Advisory.pk).where(*clauses))
            )
        ):
            audience.setdefault(pk, set()).add(org_id)
        group.matching = len(rows)
        for name, principal in readers.items():
            shown = session.scalars(
                list_query(
                    principal=principal, filters=group.workload.filters, today=today
                ).with_only_columns(Advisory.pk)
            ).all()
            allowed = [
                pk
                for pk, status, tier, tlp, org_id in rows
                if can_read(
                    principal,
                    AdvisoryFacts(status, tier, tlp, org_id, frozenset(audience.get(pk, ()))),
                    today=today,
                )
            ]
            if list(shown) != allowed:
                raise RuntimeError(
                    f"{group.workload.label}, {name}: list_query gives {len(shown)} advisories, "
                    f"the unfiltered select and can_read {len(allowed)}"
                )
            group.visible[name] = len(shown)
            if shown:
                last = shown[min(PAGE, len(shown) - 1)]
                group.reach[name] = next(i for i, row in enumerate(rows) if row.pk == last) + 1


def cases(
    factory: sessionmaker[Session], group: Group, readers: dict[str, Principal]
) -> dict[str, Callable[[], object]]:
    """The calls to time: ``unfiltered``, then ``api <principal>`` and ``sql <principal>``."""
    workload = group.workload
    page = min(PAGE, group.matching)

    def unfiltered() -> None:
        with read_only(factory) as session:
            rows = session.execute(unfiltered_query(workload.clauses())).all()
        if len(rows) != min(PAGE + 1, group.matching):
            raise RuntimeError(f"{workload.label}, unfiltered: {len(rows)} rows")

    def listed(name: str) -> Callable[[], object]:
        principal = readers[name]
        expected = min(PAGE, group.visible[name])

        def call() -> None:
            with read_only(factory) as session:
                documents, _ = list_advisories(
                    session,
                    principal=principal,
                    filters=workload.filters,
                    limit=PAGE,
                    cursor=None,
                    now=utcnow(),
                )
            if len(documents) != expected:
                raise RuntimeError(f"{workload.label}, {name}: {len(documents)} documents")

        return call

    def selected(name: str) -> Callable[[], object]:
        principal = readers[name]
        expected = min(PAGE + 1, group.visible[name])

        def call() -> None:
            with read_only(factory) as session:
                query = filtered_query(principal, workload, utcnow().date())
                rows = session.execute(query).all()
            if len(rows) != expected:
                raise RuntimeError(f"{workload.label}, {name}: list_query gave {len(rows)} rows")

        return call

    if page == 0:
        raise RuntimeError(f"{workload.label} matches no advisory")
    calls: dict[str, Callable[[], object]] = {"unfiltered": unfiltered}
    calls.update({f"api {name}": listed(name) for name in readers})
    calls.update({f"sql {name}": selected(name) for name in readers})
    return calls


def explain(engine: Engine, query: Select[Any]) -> list[str]:
    """The plan of ``query``; on PostgreSQL as run (EXPLAIN ANALYZE), with the rows it read."""
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, COSTS OFF, BUFFERS) "
    with engine.connect() as connection:
        rows = connection.execute(text(prefix + str(compiled))).all()
    return [str(row[-1] if sqlite else row[0]) for row in rows]


def measure(
    engine: Engine,
    factory: sessionmaker[Session],
    *,
    warmup: int,
    runs: int,
    budget_s: float,
    show_plans: bool,
    log: Callable[[str], None],
) -> PolicyResult:
    result = PolicyResult()
    readers = principals(factory)
    today = utcnow().date()
    for workload in WORKLOADS:
        group = Group(workload)
        check(factory, group, readers, today)
        log(f"timing {workload.label} with and without the policy filter ...")
        group.timings = time_interleaved(
            cases(factory, group, readers), warmup=warmup, runs=runs, budget_s=budget_s
        )
        result.groups.append(group)
        if show_plans:
            result.plans.append(f"plan of {workload.label}, no policy filter:")
            result.plans.extend(
                "    " + line for line in explain(engine, unfiltered_query(workload.clauses()))
            )
            for name, principal in readers.items():
                result.plans.append(f"plan of {workload.label}, {name}:")
                query = filtered_query(principal, workload, today)
                result.plans.extend("    " + line for line in explain(engine, query))
    return result


def _percent(value: float, base: float) -> str:
    return f"{(value / base - 1) * 100:+.0f}%"


def report(result: PolicyResult) -> list[str]:
    """The policy cases as a table: latency, and the filtered cases' overhead over unfiltered."""
    width = 58
    lines = [
        "",
        f"access policy filter, first page of {PAGE} at the domain/SQL level (a session per "
        "call, no HTTP; the cases of each group interleaved)",
        f"aim: no more than {AIM_PERCENT:.0f}% above the unfiltered figure",
        f"{'case':<{width}}{'p50':>10}{'p99':>10}{'n':>6}{'+p50':>8}{'+p99':>8}{'reach':>7}",
    ]
    rule = "-" * (width + 49)
    for group in result.groups:
        t = group.timings
        base = t["unfiltered"]
        visible = ", ".join(f"{name} {group.visible[name]:,}" for name in PRINCIPALS)
        lines += [
            rule,
            f"{group.workload.label} (published): {group.matching:,} advisories; visible to "
            f"{visible}",
        ]

        def row(label: str, timing: Timing, reach: int | None, base: Timing = base) -> str:
            over = (
                f"{_percent(timing.p50, base.p50):>8}{_percent(timing.p99, base.p99):>8}"
                if timing is not base
                else f"{'':>16}"
            )
            return (
                f"{label:<{width}}{timing.p50:>7.2f} ms{timing.p99:>7.2f} ms"
                f"{len(timing.samples):>6}{over}{'' if reach is None else f'{reach:>7,}'}"
            )

        lines.append(
            row(
                "  no policy filter (list_query's select, no visible_clause)",
                base,
                min(PAGE + 1, group.matching),
            )
        )
        for name in PRINCIPALS:
            lines.append(row(f"  {name}: list_advisories()", t[f"api {name}"], group.reach[name]))
        for name in PRINCIPALS:
            lines.append(row(f"  {name}: list_query() alone (no audit)", t[f"sql {name}"], None))
    lines.append(rule)
    for group in result.groups:
        t = group.timings
        base = t["unfiltered"]
        missed = [
            f"{name} {_percent(t[f'api {name}'].p50, base.p50)} at p50, "
            f"{_percent(t[f'api {name}'].p99, base.p99)} at p99"
            for name in PRINCIPALS
            if max(t[f"api {name}"].p50 / base.p50, t[f"api {name}"].p99 / base.p99)
            > 1 + AIM_PERCENT / 100
        ]
        verdict = "met" if not missed else "NOT met: " + "; ".join(missed)
        lines.append(
            f"aim, {group.workload.name} with the policy filter at most {AIM_PERCENT:.0f}% above "
            f"unfiltered (list_advisories, p50 and p99, every principal): {verdict}"
        )
    lines.append(
        f"(+p50, +p99: above the unfiltered figure; reach: unfiltered matching rows, newest "
        f"first, down to the filtered page's last row, the {PAGE + 1}st the query fetches)"
    )
    lines.extend(result.plans)
    return lines
